/*
 * fuzz_pcap.c - libFuzzer target over the whole read path: the pcap /
 * pcapng reader (src/source/file.c), every packet decoder (lua/pktsh/proto/packet.lua),
 * the DNS decoder (pktsh.dns: header, question, parse, pkt:dns) and the
 * DNS transport (pktsh.dnsflow: UDP, TCP reassembly, IP fragments).
 *
 * It embeds one pktsh Lua state, as the binary does, and for each input
 * writes the bytes to a memfd and opens /proc/self/fd/N with pktsh.open.
 * A Lua error is a bug (data never raises, only API misuse does), so it
 * aborts and libFuzzer keeps the input; so does any sanitizer report.
 *
 * ASan sees the C side only: LuaJIT's FFI loads (every decoder) are not
 * instrumented. So every source runs in the guard-page mode
 * (PKTSH_GUARD=1, src/batch.c): each packet is copied to end right before
 * a PROT_NONE page, and a Lua read one byte past caplen is a SIGSEGV that
 * libFuzzer keeps like any crash.
 *
 *   make fuzz [FUZZ_SECONDS=60]        builds build/fuzz_pcap and runs it
 *   build/fuzz_pcap FILE...             replays inputs
 * Seeds: every capture in tests/pcaps; crashing inputs go to tests/fuzz/regress/ and
 * tests/sh/test_fuzz_regress.sh replays them through build/pktsh.
 */
#define _GNU_SOURCE
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/host.h"

static const char driver[] =
	"local pktsh = require 'pktsh'\n"
	"local dns = require 'pktsh.proto.dns'\n"
	"local dnsflow = require 'pktsh.proto.dnsflow'\n"
	"local decoders = {'eth', 'vlan', 'vlan_id', 'ip4', 'ip6', 'ip', 'proto',\n"
	"  'tcp', 'udp', 'icmp', 'icmp6', 'payload', 'ports'}\n"
	"local function all(p)\n"
	"  for _, d in ipairs(decoders) do p[d](p) end\n"
	"  p:u8(0); p:u16(p.caplen - 1); p:u32(3); p:bytes(0, p.caplen)\n"
	"  local m = p:dns(true)\n"
	"  if m then dns.summary(m); dns.show(m) end\n"
	"end\n"
	"local function msg(ptr, len)\n"
	"  dns.header(ptr, len)\n"
	"  dns.question(ptr, len)\n"
	"  dns.name_text(ptr, len)\n"
	"  local m = dns.parse(ptr, len)\n"
	"  if m then dns.summary(m); dns.show(m) end\n"
	"end\n"
	"local function emit(ptr, len, meta)\n"
	"  msg(ptr, len)\n"
	"  local _ = meta.src, meta.dst, meta.srcraw, meta.dstraw, meta.sport\n"
	"end\n"
	"-- dnsstats' engine (the C scan, TCP in C, the general path) over small batches\n"
	"local dnsstats = require 'pktsh.app.dnsstats'\n"
	"local function scan_all(path)\n"
	"  local src = pktsh.open(path, {batch = 17})\n"
	"  if not src then return end\n"
	"  local st = dnsstats.work(src, {ports = {53, 5353}, capacity = 8, max_flows = 8,\n"
	"                                 max_pending = 16})\n"
	"  dnsstats.top(st, 'qnames', 4); dnsstats.top(st, 'clients', 4); dnsstats.counters(st)\n"
	"  src:close()\n"
	"end\n"
	"return function(path)\n"
	"  local src = pktsh.open(path)\n"
	"  if not src then return end\n"
	"  local fe = dnsflow.new{ports = {53, 5353}, max_flows = 8, max_frags = 8}\n"
	"  local n = 0\n"
	"  src:each(function(p)\n"
	"    n = n + 1\n"
	"    all(p)\n"
	"    local q = p:inner()\n"
	"    if q then all(q) end\n"
	"    local off, len = p:payload()\n"
	"    if off then msg(p.data + off, len) end\n"
	"    fe:feed(p, emit)\n"
	"    if n % 64 == 0 then fe:flush(p.ts) end\n"
	"    p:summary(); p:show(); p:hex()\n"
	"  end)\n"
	"  fe:flush()\n"
	"  fe:stats()\n"
	"  src:close()\n"
	"  scan_all(path)\n"
	"end\n";

static lua_State *L;
static int fuzz_ref = LUA_NOREF;

static int traceback(lua_State *S)
{
	luaL_traceback(S, S, lua_tostring(S, 1), 1);
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("PKTSH_GUARD", "1", 1);
	L = luaL_newstate();
	if (!L) {
		fprintf(stderr, "fuzz_pcap: cannot create a Lua state\n");
		abort();
	}
	luaL_openlibs(L);
	pktsh_setup_package(L);
	lua_pushcfunction(L, traceback);
	if (luaL_loadbuffer(L, driver, sizeof(driver) - 1, "=fuzz_driver") ||
	    lua_pcall(L, 0, 1, -2)) {
		fprintf(stderr, "fuzz_pcap: driver: %s\n", lua_tostring(L, -1));
		abort();
	}
	fuzz_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = memfd_create("fuzz_pcap", 0);

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	if (size && write(fd, data, size) != (ssize_t)size) {
		perror("write");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	lua_pushcfunction(L, traceback);
	lua_rawgeti(L, LUA_REGISTRYINDEX, fuzz_ref);
	lua_pushstring(L, path);
	if (lua_pcall(L, 1, 0, -3)) {
		fprintf(stderr, "fuzz_pcap: Lua error: %s\n", lua_tostring(L, -1));
		abort();
	}
	lua_pop(L, 1);
	close(fd);
	/* Engines and reassemblers hold C memory behind cdata finalizers, and
	 * LeakSanitizer does not scan LuaJIT's heap: collect after every input
	 * so what an input allocated is freed before libFuzzer's leak check. */
	lua_gc(L, LUA_GCCOLLECT, 0);
	return 0;
}
