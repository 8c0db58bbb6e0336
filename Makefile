# pktsh - one flat Makefile. `make V=1` shows the commands.
.DELETE_ON_ERROR:
.SUFFIXES:

V ?= 0
Q := $(if $(filter 1,$(V)),,@)
msg = $(if $(filter 1,$(V)),,@printf '  %-7s %s\n' $(1) $(2);)

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
LUAJIT ?= luajit
B := build
G := $(B)/gen

# Debian packages: building, running, and the tools the tests and
# benchmarks compare against.
DEB_BUILD := build-essential pkg-config clang llvm luajit libluajit-5.1-dev \
	libpcap-dev libbpf-dev libxdp-dev libreadline-dev bpftool \
	libmicrohttpd-dev libfstrm-dev libprotobuf-c-dev protobuf-c-compiler
DEB_TEST := tcpdump tshark netsniff-ng tcpreplay xdp-tools iproute2 python3 valgrind lua-check time libcap2-bin \
	libclang-rt-14-dev prometheus dnstap-ldns fstrm-bin curl systemd util-linux
DEB_PKGS := $(DEB_BUILD) $(DEB_TEST)

PKGS := luajit libpcap libbpf libxdp libfstrm libprotobuf-c
# libmicrohttpd: its header at build time; the library is loaded when a
# metrics server starts (src/report/metrics.c), by its soname.
MHD_SONAME := $(shell objdump -p $$(pkg-config --variable=libdir libmicrohttpd 2>/dev/null)/libmicrohttpd.so \
	2>/dev/null | awk '/SONAME/ { print $$2 }')
# -O3 and, with gcc, link-time optimisation: the hot loops cross files
# (the DNS scan calls the walker, the pending and top-k tables, the
# hashes), and LTO inlines across them: 10% fewer instructions and 4-5%
# less CPU per packet on the dnsstats shapes bench than -O2. (clang's LTO
# needs its own linker plugin: CC=clang builds without it.)
LTO := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null)),,-flto=auto)
CFLAGS ?= -O3 -g $(LTO)
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fno-strict-aliasing \
	$(shell pkg-config --cflags $(PKGS) libmicrohttpd 2>/dev/null) -Isrc -I$(G) \
	$(if $(MHD_SONAME),-DPKTSH_MHD_SONAME='"$(MHD_SONAME)"')
LDFLAGS := -Wl,--dynamic-list=$(G)/exports.list
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lreadline -lm -ldl -lpthread

# src/ is the FFI contract (pktsh.h) and the error helper every layer
# uses; the folders are the layers: host (the binary, REPL, signals,
# privileges, workers), source (receivers, sender, pcap writer), xdp (the
# rule set host), proto (protocol readers), accel (C tables and scans the
# Lua library drives a batch at a time).
SRCS := $(wildcard src/*.c src/*/*.c)
HDRS := $(wildcard src/*.h src/*/*.h)
OBJS := $(SRCS:src/%.c=$(B)/obj/%.o) $(B)/obj/luamods.o $(B)/obj/dnstap.pb-c.o
# lua/pktsh/a/b.lua is module pktsh.a.b, lua/pktsh/a/init.lua is pktsh.a
# (lua/pktsh/init.lua is pktsh); the FFI declarations are generated from
# src/pktsh.h as pktsh.cdef.
LUA_SRCS := $(sort $(shell find lua/pktsh -name '*.lua'))
luamod = $(patsubst %.init,%,$(subst /,.,$(patsubst lua/%.lua,%,$(1))))
# pktsh.docs, the help texts of the library's functions, is generated
# from its sources' comments by lua/gendocs.lua.
LUA_HDRS := $(foreach f,$(LUA_SRCS),$(G)/lua/$(call luamod,$(f)).h) $(G)/lua/pktsh.cdef.h \
	$(G)/lua/pktsh.docs.h

.PHONY: all deps demo test selftest bench fuzz install uninstall clean check-deps check-threads
all: $(B)/pktsh

$(B)/pktsh: $(OBJS) $(G)/exports.list
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

# $(call objset,DIR,CCVAR,CFLAGSVAR,LABEL): the object rules of one build
# of src/ into build/DIR (the program, the fuzzer, the TSan binary).
define objset
$(B)/$(1)/%.o: src/%.c $$(HDRS)
	$$(call msg,$(4),$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$($(2)) $$($(3)) -c -o $$@ $$<
$$(patsubst src/%.c,$(B)/$(1)/%.o,$$(wildcard src/xdp/*.c)): $(G)/xdp_rules.skel.h bpf/xdp_rules.h
$(B)/$(1)/source/xdpcopy.o: bpf/xdp_rules.h
$(B)/$(1)/contract.o: bpf/xdp_rules.h
$(B)/$(1)/luamods.o: $(G)/luamods.c $$(LUA_HDRS)
	$$(call msg,$(4),$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$($(2)) $$($(3)) -c -o $$@ $$<
$(B)/$(1)/report/dnstap.o: $(G)/dnstap.pb-c.h
$(B)/$(1)/dnstap.pb-c.o: $(G)/dnstap.pb-c.c $(G)/dnstap.pb-c.h
	$$(call msg,$(4),$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$($(2)) $$($(3)) -c -o $$@ $$<
endef
$(eval $(call objset,obj,CC,CFLAGS,CC))

# --- XDP rules: the BPF program, built as a libbpf skeleton -----------------
# bpf/xdp_rules.bpf.c is compiled for the BPF target (-g: BTF, which the
# skeleton and the verifier's messages need) and turned by bpftool into
# build/gen/xdp_rules.skel.h, a C header that embeds the object's bytes.
# src/xdp/xdp.c includes it, so the program lives inside the pktsh binary
# (src/xdp/xdpclass.c and xdpowner.c include it for the skeleton's struct
# only); the header bpf/xdp_rules.h is shared by both sides.
BPF_CLANG ?= clang
BPFTOOL ?= bpftool
# the multiarch directory (asm/types.h): -print-multiarch names it for gcc
# and clang alike, -dumpmachine does not (clang: x86_64-pc-linux-gnu)
BPF_ARCH_INC := /usr/include/$(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS := -target bpf -O2 -g -Wall -I$(BPF_ARCH_INC) -Ibpf

$(B)/obj/xdp_rules.bpf.o: bpf/xdp_rules.bpf.c bpf/xdp_rules.h | $(B)/obj
	$(call msg,BPF,$@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(G)/xdp_rules.skel.h: $(B)/obj/xdp_rules.bpf.o | $(G)
	$(call msg,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name xdp_rules_bpf > $@


# --- dnstap: the public schema (src/report/dnstap.proto), compiled by
# protoc-c into build/gen/dnstap.pb-c.[ch] for src/report/dnstap.c.
PROTOC_C ?= protoc-c
$(G)/dnstap.pb-c.c $(G)/dnstap.pb-c.h &: src/report/dnstap.proto | $(G)
	$(call msg,PROTOC,$@)
	$(Q)$(PROTOC_C) --c_out=$(G) --proto_path=src/report $<

# Only pktsh_* is exported, so ffi.C finds the host's entry points.
$(G)/exports.list: src/pktsh.h | $(G)
	$(call msg,GEN,$@)
	$(Q){ echo '{'; grep -o 'pktsh_[a-z0-9_]*(' $< | tr -d '(' | sort -u | sed 's/$$/;/'; echo '};'; } > $@

# pktsh.cdef declares the contract and returns {functions = {names}}
# (what pktsh.metrics resolves ahead of loading libmicrohttpd).
$(G)/pktsh_cdef.lua: src/pktsh.h | $(G)
	$(call msg,GEN,$@)
	$(Q){ echo '-- generated from src/pktsh.h: do not edit'; \
	  echo 'require("ffi").cdef[=['; grep -v '^#' $<; echo ']=]'; \
	  echo 'return {functions = {'; grep -o 'pktsh_[a-z0-9_]*(' $< | tr -d '(' | sort -u | \
	  sed 's/.*/  "&",/'; echo '}}'; } > $@

$(G)/lua/pktsh.cdef.h: $(G)/pktsh_cdef.lua | $(G)/lua
	$(call msg,LUAJIT,$@)
	$(Q)$(LUAJIT) -b -g -n pktsh.cdef -t h $< $@

$(G)/pktsh_docs.lua: lua/gendocs.lua $(LUA_SRCS) | $(G)
	$(call msg,GEN,$@)
	$(Q)$(LUAJIT) lua/gendocs.lua $(LUA_SRCS) > $@

$(G)/lua/pktsh.docs.h: $(G)/pktsh_docs.lua | $(G)/lua
	$(call msg,LUAJIT,$@)
	$(Q)$(LUAJIT) -b -g -n pktsh.docs -t h $< $@

# One rule per module: build/gen/lua/MODULE.h holds the bytecode of
# MODULE as the C array luaJIT_BC_MODULE (dots as underscores).
define luamod_rule
$(G)/lua/$(call luamod,$(1)).h: $(1) | $(G)/lua
	$$(call msg,LUAJIT,$$@)
	$$(Q)$$(LUAJIT) -b -g -n $(call luamod,$(1)) -t h $$< $$@
endef
$(foreach f,$(LUA_SRCS),$(eval $(call luamod_rule,$(f))))
$(G)/luamods.c: $(LUA_HDRS) Makefile | $(G)
	$(call msg,GEN,$@)
	$(Q){ echo '/* generated: the compiled-in Lua library */'; \
	  echo '#include <lauxlib.h>'; echo '#include "host/host.h"'; \
	  for h in $(LUA_HDRS); do echo "#include \"$${h#$(G)/}\""; done; \
	  echo 'static const struct { const char *name; const unsigned char *bc; size_t len; } mods[] = {'; \
	  for m in $(foreach h,$(LUA_HDRS),$(basename $(notdir $(h)))); do \
	    sym=luaJIT_BC_$$(echo $$m | tr . _); \
	    echo "  { \"$$m\", $$sym, $${sym}_SIZE },"; done; \
	  echo '};'; \
	  echo '/* A module'"'"'s loader: its bytecode is loaded when it is required, not'; \
	  echo ' * at start (loading every module cost each run a millisecond). */'; \
	  echo 'static int load_mod(lua_State *L)'; echo '{'; \
	  echo '  size_t i = (size_t)lua_tointeger(L, lua_upvalueindex(1));'; \
	  echo '  int n = lua_gettop(L);'; \
	  echo '  if (luaL_loadbuffer(L, (const char *)mods[i].bc, mods[i].len, mods[i].name)) lua_error(L);'; \
	  echo '  lua_insert(L, 1);'; \
	  echo '  lua_call(L, n, 1);'; \
	  echo '  return 1;'; echo '}'; \
	  echo 'void pktsh_luamods_preload(lua_State *L)'; echo '{'; \
	  echo '  size_t i;'; \
	  echo '  lua_getglobal(L, "package"); lua_getfield(L, -1, "preload");'; \
	  echo '  for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {'; \
	  echo '    lua_pushinteger(L, (lua_Integer)i);'; \
	  echo '    lua_pushcclosure(L, load_mod, 1);'; \
	  echo '    lua_setfield(L, -2, mods[i].name);'; \
	  echo '  }'; \
	  echo '  lua_pop(L, 2);'; echo '}'; } > $@

$(B)/obj $(G) $(G)/lua:
	$(Q)mkdir -p $@

# --- set-up ---------------------------------------------------------------
deps:
	$(Q)missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done | tr '\n' ' '); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "missing Debian packages; run as root:"; \
	  echo "  apt-get update && apt-get install -y $$missing"; exit 1; \
	fi

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(B)/pktsh scripts/dnsstats.lua tests/pcaps/dnscap__dns.pcap

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run

# Every module's selftest(), or the test named after it, and every C
# file's test (make test runs this too: tests/unit/test_selftests.lua).
selftest: all
	$(Q)tests/run test_selftests

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/bench/run

# The service (dist/systemd): pktsh-dnsstats@IFACE serves dnsstats'
# metrics; the user it drops to comes from sysusers.d (systemd-sysusers
# creates it).
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR ?= $(PREFIX)/share/doc/pktsh
install: $(B)/pktsh
	install -D -m 0755 $(B)/pktsh $(DESTDIR)$(PREFIX)/bin/pktsh
	install -d $(DESTDIR)$(PREFIX)/share/pktsh/scripts
	install -m 0644 scripts/*.lua $(DESTDIR)$(PREFIX)/share/pktsh/scripts/
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR)
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SCRIPTDIR@|$(PREFIX)/share/pktsh/scripts|g' \
	    -e 's|@DOCDIR@|$(DOCDIR)|g' dist/systemd/pktsh-dnsstats@.service.in \
	    > $(DESTDIR)$(SYSTEMD_UNITDIR)/pktsh-dnsstats@.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/pktsh-dnsstats@.service
	install -D -m 0644 dist/systemd/pktsh.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/pktsh.conf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pktsh
	rm -rf $(DESTDIR)$(PREFIX)/share/pktsh $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(SYSTEMD_UNITDIR)/pktsh-dnsstats@.service $(DESTDIR)$(SYSUSERSDIR)/pktsh.conf

clean:
	rm -rf $(B)

# --- fuzzing (tests/fuzz) ---------------------------------------------------
# `make fuzz`: a libFuzzer target over the pcap reader, the decoders, the DNS
# parser and dnsflow, built with clang and ASan/UBSan from the project's own
# sources (main.c excluded), seeded with tests/pcaps, run FUZZ_SECONDS. The
# target sets PKTSH_GUARD=1: every packet ends right before a PROT_NONE page,
# so the Lua decoders' over-reads (which ASan cannot see) crash too.
# Crashes land in tests/fuzz/regress/ (replayed by tests/sh/test_fuzz_regress.sh).
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	-std=gnu11 $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Isrc -I$(G)
FUZZ_OBJS := $(patsubst src/%.c,$(B)/fuzzobj/%.o,$(filter-out src/host/main.c,$(SRCS))) \
	$(B)/fuzzobj/luamods.o $(B)/fuzzobj/dnstap.pb-c.o

$(eval $(call objset,fuzzobj,FUZZ_CC,FUZZ_CFLAGS,FUZZCC))

$(B)/fuzz_pcap: tests/fuzz/fuzz_pcap.c $(FUZZ_OBJS) $(G)/exports.list
	$(call msg,LINK,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Wl,--dynamic-list=$(G)/exports.list \
	  -o $@ tests/fuzz/fuzz_pcap.c $(FUZZ_OBJS) $(LDLIBS)

fuzz: $(B)/fuzz_pcap
	$(Q)mkdir -p $(B)/fuzz-corpus tests/fuzz/regress
	$(Q)cp -n tests/pcaps/*.pcap tests/pcaps/*.pcapng $(B)/fuzz-corpus/ 2>/dev/null || true
	$(Q)cp -n tests/fuzz/regress/* $(B)/fuzz-corpus/ 2>/dev/null || true
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=tests/fuzz/ubsan.supp \
	$(B)/fuzz_pcap -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
	  -artifact_prefix=tests/fuzz/regress/ -print_final_stats=1 $(B)/fuzz-corpus

# --- thread checks (tests/sh/test_threads.sh) --------------------------------
# `make check-threads`: the fanout/worker tests and a writer-per-worker
# stress under ThreadSanitizer, with build/pktsh-tsan: the project's own C
# built with clang -fsanitize=thread (LuaJIT and the libraries are not
# instrumented; every pktsh_* entry point the workers reach is). `make
# test` runs the same file, building pktsh-tsan when it can.
TSAN_CC ?= clang
TSAN_CFLAGS := -g -O1 -fsanitize=thread -fno-omit-frame-pointer \
	-std=gnu11 $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Isrc -I$(G)
TSAN_OBJS := $(SRCS:src/%.c=$(B)/tsanobj/%.o) $(B)/tsanobj/luamods.o $(B)/tsanobj/dnstap.pb-c.o

$(eval $(call objset,tsanobj,TSAN_CC,TSAN_CFLAGS,TSANCC))

$(B)/pktsh-tsan: $(TSAN_OBJS) $(G)/exports.list
	$(call msg,LINK,$@)
	$(Q)$(TSAN_CC) $(TSAN_CFLAGS) -Wl,--dynamic-list=$(G)/exports.list -o $@ $(TSAN_OBJS) $(LDLIBS)

check-threads: deps
	$(Q)$(MAKE) --no-print-directory all $(B)/pktsh-tsan
	$(Q)tests/run test_threads
