/*
 * xdp.c - the XDP rules program: loading it (the libbpf skeleton built
 * from bpf/xdp_rules.bpf.c is embedded in the binary), attaching it
 * through a bpf_link or libxdp's dispatcher, reading its counters, and
 * detaching and closing it.
 *
 * The rest of the XDP host is kept apart, each piece with one job:
 * src/xdp/xdpclass.c turns rule sets into the maps the program matches with
 * and installs them; src/xdp/xdpowner.c keeps the owner records of programs
 * attached through the dispatcher (which outlive pktsh) and cleans up
 * after owners that died; src/xdp/bpflog.c keeps what libbpf and libxdp
 * say; src/source/xdpcopy.c reads the copy ring. What they
 * share, struct pktsh_xdp first, is in src/xdp/xdp_int.h.
 */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "err.h"
#include "xdp/xdp_int.h"
#include "../../bpf/xdp_rules.h"
#include "xdp_rules.skel.h"

/* 32 MiB: at ~3.3 Mpps of 128-byte copies an 8 MiB ring (43k records)
 * overflowed in 3 of 20 bench runs when the reader paused; 32 MiB never did. */
#define DEFAULT_RING (32u << 20)
#define DEFAULT_CLASS_WORDS (8u << 20)     /* 64 MB of bitmaps */
#define COPY_BATCH 1024

static void *map_mmap(struct bpf_map *m, size_t *len, struct pktsh_err *err)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t sz = (size_t)bpf_map__value_size(m) * bpf_map__max_entries(m);
	void *p;

	sz = (sz + page - 1) & ~(page - 1);
	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	if (p == MAP_FAILED) {
		pktsh_err_set(err, errno, "mapping BPF map %s: %s",
			      bpf_map__name(m), strerror(errno));
		return NULL;
	}
	*len = sz;
	return p;
}

static int is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int attach_link(struct pktsh_xdp *x, int mode, struct pktsh_err *err)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	int fd;

	lo.flags = mode == PKTSH_XDP_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(bpf_program__fd(x->skel->progs.xdp_rules),
			     (int)x->info.ifindex, BPF_XDP, &lo);
	if (fd < 0) {
		int e = errno;
		char name[IF_NAMESIZE] = "?";

		if_indextoname(x->info.ifindex, name);
		if (e == EBUSY || e == EEXIST)
			pktsh_err_set(err, e, "attaching XDP to '%s': the interface "
				      "already has an XDP program (see `ip link show "
				      "%s`); attach = \"dispatcher\" shares it through "
				      "libxdp", name, name);
		else if (e == EOPNOTSUPP && mode == PKTSH_XDP_NATIVE)
			pktsh_err_set(err, e, "attaching XDP to '%s': the driver has "
				      "no native XDP; use mode = \"skb\"", name);
		else
			xdp_bpf_fail(err, e, "attaching XDP (bpf_link)");
		return -1;
	}
	x->link_fd = fd;
	x->info.attach = PKTSH_XDP_LINK;
	return 0;
}

/* --- libxdp's dispatcher ------------------------------------------------ */

/* Whether the effective capability set holds cap (from /proc/self/status). */
static int have_cap(int cap)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> cap) & 1;
}

/* libxdp's dispatcher runs every program as an freplace extension
 * (BPF_PROG_TYPE_EXT) of one of its slots, and its compatibility check
 * loads such an extension first. This asks the same question directly:
 * a two-instruction extension of our own program's entry function.
 * 0 if the kernel loads it, else -errno. */
static int probe_freplace(int target_fd)
{
	const struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = PKTSH_XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);
	struct btf *target = NULL, *b = NULL;
	struct bpf_func_info fi = { 0 };
	int rc, id, fd, s, ptr, i, fp;

	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(target_fd, &pi, &len))
		return -errno;
	target = btf__load_from_kernel_by_id(pi.btf_id);
	if (!target)
		return -errno;
	id = btf__find_by_name_kind(target, "xdp_rules", BTF_KIND_FUNC);
	btf__free(target);
	if (id <= 0)
		return -ENOENT;
	/* int pktsh_probe(struct xdp_md *ctx): the entry's prototype. */
	b = btf__new_empty();
	rc = libbpf_get_error(b);
	if (rc) {
		b = NULL;
		goto out;
	}
	s = btf__add_struct(b, "xdp_md", 24);
	ptr = s > 0 ? btf__add_ptr(b, s) : s;
	i = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
	/* the parameters follow their prototype directly */
	fp = ptr > 0 && i > 0 ? btf__add_func_proto(b, i) : -EINVAL;
	rc = fp > 0 ? btf__add_func_param(b, "ctx", ptr) : fp;
	if (!rc)
		rc = btf__add_func(b, "pktsh_probe", BTF_FUNC_GLOBAL, fp);
	if (rc < 0)
		goto out;
	fi.type_id = (__u32)rc;
	rc = btf__load_into_kernel(b);
	if (rc)
		goto out;
	{
		LIBBPF_OPTS(bpf_prog_load_opts, o,
			    .attach_prog_fd = (__u32)target_fd,
			    .attach_btf_id = (__u32)id,
			    .prog_btf_fd = (__u32)btf__fd(b),
			    .func_info = &fi, .func_info_cnt = 1,
			    .func_info_rec_size = sizeof(fi));

		fd = bpf_prog_load(BPF_PROG_TYPE_EXT, "pktsh_probe", "GPL", insns, 2, &o);
	}
	if (fd < 0) {
		rc = -errno;
	} else {
		close(fd);
		rc = 0;
	}
out:
	btf__free(b);
	return rc < 0 ? rc : 0;
}

/* Fills x->info.note with why the dispatcher cannot be used here, from
 * the probe above; returns -1 when it cannot, 0 when libxdp may try. */
static int dispatcher_possible(struct pktsh_xdp *x)
{
	int rc = probe_freplace(bpf_program__fd(x->skel->progs.xdp_rules));

	if (rc != -EPERM && rc != -EACCES && rc != -EOPNOTSUPP && rc != -524 /* ENOTSUPP */)
		return 0;   /* loaded, or a doubt about the probe: libxdp decides */
	if ((rc == -EPERM || rc == -EACCES) && !have_cap(38 /* CAP_PERFMON */) &&
	    !have_cap(21 /* CAP_SYS_ADMIN */))
		snprintf(x->info.note, sizeof(x->info.note),
			 "libxdp's dispatcher needs CAP_PERFMON (or CAP_SYS_ADMIN): it "
			 "runs each program as an freplace (BPF_PROG_TYPE_EXT) program; "
			 "attached through a bpf_link instead");
	else
		snprintf(x->info.note, sizeof(x->info.note),
			 "libxdp's dispatcher cannot run on this kernel: it is built on "
			 "freplace (BPF_PROG_TYPE_EXT) programs, which the kernel refuses "
			 "to load (%.40s, with CAP_BPF and CAP_PERFMON); attached "
			 "through a bpf_link instead",
			 rc == -524 ? "not supported" : strerror(-rc));
	return -1;
}

static void xprog_close(struct pktsh_xdp *x)
{
	xdp_program__close(x->xprog);
	bpf_object__close(x->xobj);
	x->xprog = NULL;
	x->xobj = NULL;
}

/* libxdp loads programs itself (as extensions of its dispatcher), so it
 * needs an object of its own that reuses our maps. */
static int attach_dispatcher(struct pktsh_xdp *x, int mode,
			     struct pktsh_err *err)
{
	enum xdp_attach_mode am = mode == PKTSH_XDP_SKB ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	struct bpf_object *obj;
	struct bpf_map *m;
	const void *elf;
	char reason[160];
	struct pktsh_err rec;
	size_t sz;
	int rc, legacy;

	/* Programs of ours whose owner died go first (see the owner records). */
	xdp_owners_clean_quietly();
	if (dispatcher_possible(x))
		return -1;
	elf = xdp_rules_bpf__elf_bytes(&sz);
	obj = bpf_object__open_mem(elf, sz, NULL);
	if (!obj) {
		snprintf(x->info.note, sizeof(x->info.note),
			 "libxdp dispatcher: cannot open the object");
		return -1;
	}
	bpf_object__for_each_map(m, obj) {
		struct bpf_map *mine = bpf_object__find_map_by_name(x->skel->obj,
								    bpf_map__name(m));

		if (mine && bpf_map__reuse_fd(m, bpf_map__fd(mine))) {
			snprintf(x->info.note, sizeof(x->info.note),
				 "libxdp dispatcher: cannot share map %s",
				 bpf_map__name(m));
			bpf_object__close(obj);
			return -1;
		}
	}
	x->xprog = xdp_program__from_bpf_obj(obj, "xdp");
	rc = libxdp_get_error(x->xprog);
	if (rc) {
		x->xprog = NULL;
		snprintf(x->info.note, sizeof(x->info.note),
			 "libxdp dispatcher: %s", strerror(-rc));
		bpf_object__close(obj);
		return -1;
	}
	x->xobj = obj;
	/* libxdp's and libbpf's messages are kept, not printed, so that the
	 * one line pktsh prints can say why the dispatcher was not used. */
	xdp_log_begin(1);
	rc = xdp_program__attach(x->xprog, (int)x->info.ifindex, am, 0);
	/* libxdp falls back to attaching the program alone (through netlink,
	 * which would outlive a killed pktsh) when its dispatcher cannot
	 * load: take it back and use a bpf_link instead. */
	legacy = 0;
	if (!rc) {
		struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex((int)x->info.ifindex);

		legacy = libxdp_get_error(mp) || !mp || xdp_multiprog__is_legacy(mp);
		if (!libxdp_get_error(mp) && mp)
			xdp_multiprog__close(mp);
		if (legacy)
			xdp_program__detach(x->xprog, (int)x->info.ifindex, am, 0);
	}
	xdp_log_end(reason, sizeof(reason));
	if (rc || legacy) {
		char buf[128] = "";

		if (rc)
			libxdp_strerror(rc, buf, sizeof(buf));
		snprintf(x->info.note, sizeof(x->info.note),
			 "libxdp could not load its dispatcher%s%.50s%s: %.120s; attached "
			 "through a bpf_link instead",
			 buf[0] ? " (" : "", buf, buf[0] ? ")" : "",
			 reason[0] ? reason : "it attached the program alone");
		xprog_close(x);
		return -1;
	}
	x->info.attach = PKTSH_XDP_DISPATCHER;
	/* The program now outlives a killed pktsh: say whose it is. */
	if (xdp_owner_record(x, xdp_program__fd(x->xprog), x->info.ifindex, &rec)) {
		xdp_program__detach(x->xprog, (int)x->info.ifindex, am, 0);
		xprog_close(x);
		x->info.attach = -1;
		snprintf(x->info.note, sizeof(x->info.note),
			 "libxdp dispatcher: %.180s; attached through a bpf_link instead",
			 rec.msg);
		return -1;
	}
	return 0;
	(void)err;
}

int pktsh_xdp_open(struct pktsh_xdp **out, const char *ifname,
		   const struct pktsh_xdp_opts *o, struct pktsh_err *err)
{
	uint32_t ring = o->ring_size ? o->ring_size : DEFAULT_RING;
	uint32_t words = o->class_words ? o->class_words : DEFAULT_CLASS_WORDS;
	struct pktsh_xdp *x;
	struct bpf_map *vmaps[4];
	int i, rc;

	*out = NULL;
	if (!is_pow2(ring) || ring < (uint32_t)sysconf(_SC_PAGESIZE)) {
		pktsh_err_set(err, EINVAL, "ring_size %u must be a power of two "
			      "and at least a page", ring);
		return -1;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	x->link_fd = x->sync_outer = x->sync_inner = -1;
	x->info.mode = o->mode;
	x->info.attach = -1;
	x->info.max_rules = XR_MAX_RULES;
	x->info.ring_size = ring;
	x->info.class_words = words;
	x->info.copy_max = XR_COPY_MAX;
	if (o->mode != PKTSH_XDP_UNATTACHED) {
		x->info.ifindex = ifname ? if_nametoindex(ifname) : 0;
		if (!x->info.ifindex) {
			pktsh_err_set(err, ENODEV, "no such interface '%s'",
				      ifname ? ifname : "(none)");
			goto fail;
		}
	}
	x->ncpu = libbpf_num_possible_cpus();
	x->pcpu = calloc((size_t)x->ncpu, sizeof(struct xr_stats));
	if (x->ncpu <= 0 || !x->pcpu) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	x->skel = xdp_rules_bpf__open();
	if (!x->skel) {
		xdp_bpf_fail(err, errno, "opening the XDP program");
		goto fail;
	}
	x->skel->rodata->wakeup_every = o->wakeup_every ? o->wakeup_every : XR_WAKEUP_DEFAULT;
	x->skel->rodata->wakeup_fill = ring / 4;
	bpf_map__set_max_entries(x->skel->maps.copies, ring);
	bpf_map__set_max_entries(x->skel->maps.cls_words, words);
	rc = xdp_rules_bpf__load(x->skel);
	if (rc) {
		xdp_bpf_fail(err, rc ? rc : errno, "loading the XDP program");
		goto fail;
	}
	x->info.prog_id = 0;
	{
		struct bpf_prog_info pi;
		__u32 len = sizeof(pi);

		memset(&pi, 0, sizeof(pi));
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(x->skel->progs.xdp_rules),
					     &pi, &len))
			x->info.prog_id = pi.id;
	}
	x->rules = map_mmap(x->skel->maps.rules, &x->rules_len, err);
	x->words = x->rules ? map_mmap(x->skel->maps.cls_words, &x->words_len, err) : NULL;
	if (!x->words)
		goto fail;
	vmaps[0] = x->skel->maps.sport_cls;
	vmaps[1] = x->skel->maps.dport_cls;
	vmaps[2] = x->skel->maps.proto_cls;
	vmaps[3] = x->skel->maps.vlan_cls;
	for (i = 0; i < 4; i++) {
		x->vtab[i] = map_mmap(vmaps[i], &x->vtab_len[i], err);
		if (!x->vtab[i])
			goto fail;
	}
	/* The grace-period trick needs a map of maps with a map in it. */
	x->sync_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "pktsh_sync_in", 4, 4, 1, NULL);
	if (x->sync_inner >= 0) {
		LIBBPF_OPTS(bpf_map_create_opts, mo, .inner_map_fd = x->sync_inner);

		x->sync_outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "pktsh_sync",
					       4, 4, 1, &mo);
	}
	if (x->sync_outer < 0) {
		xdp_bpf_fail(err, errno, "creating the rule-set switch");
		goto fail;
	}
	if (xdp_copies_open(&x->copies, bpf_map__fd(x->skel->maps.copies), ring,
			    COPY_BATCH, err))
		goto fail;
	x->copies_open = 1;
	x->copies.ifindex = x->info.ifindex;
	x->skel->bss->cfg.slot[0].verdict = PKTSH_XDP_PASS;
	x->skel->bss->cfg.slot[1].verdict = PKTSH_XDP_PASS;
	if (o->mode != PKTSH_XDP_UNATTACHED) {
		if (o->attach == PKTSH_XDP_DISPATCHER &&
		    attach_dispatcher(x, o->mode, err) == 0) {
			*out = x;
			return 0;
		}
		rc = attach_link(x, o->mode, err);
		/* A program a dead pktsh left on the interface blocks the
		 * link: clean up after dead owners, then try once more. */
		if (rc && (err->errnum == EBUSY || err->errnum == EEXIST) &&
		    xdp_owners_clean_quietly())
			rc = attach_link(x, o->mode, err);
		if (rc) {
			if (x->info.note[0]) {
				size_t l = strlen(err->msg);

				snprintf(err->msg + l, sizeof(err->msg) - l,
					 " (and the dispatcher: %s)", x->info.note);
			}
			goto fail;
		}
	}
	*out = x;
	return 0;
fail:
	pktsh_xdp_close(x);
	return -1;
}

/* --- counters ----------------------------------------------------------- */

int pktsh_xdp_rule_counters(struct pktsh_xdp *x, uint32_t id,
			    struct pktsh_xdp_counters *out, struct pktsh_err *err)
{
	const struct xr_rule_stats *v = x->pcpu;
	int i;

	memset(out, 0, sizeof(*out));
	if (id >= XR_MAX_RULES) {
		pktsh_err_set(err, EINVAL, "rule id %u out of range", id);
		return -1;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.rule_stats), &id, x->pcpu))
		return xdp_bpf_fail(err, errno, "reading rule counters");
	for (i = 0; i < x->ncpu; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
		out->copied += v[i].copied;
		out->copy_lost += v[i].copy_lost;
	}
	return 0;
}

_Static_assert(XR_NCAUSES == XR_FRAGMENT_OVERLAP + 1,
	       "struct pktsh_xdp_stats has a field per cause");

int pktsh_xdp_stats(struct pktsh_xdp *x, struct pktsh_xdp_stats *out,
		    struct pktsh_err *err)
{
	const struct xr_stats *v = x->pcpu;
	uint32_t zero = 0;
	int i;

	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.stats), &zero, x->pcpu))
		return xdp_bpf_fail(err, errno, "reading XDP counters");
	for (i = 0; i < x->ncpu; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
		out->matched += v[i].matched;
		out->unmatched += v[i].unmatched;
		out->passed += v[i].passed;
		out->dropped += v[i].dropped;
		out->copied += v[i].copied;
		out->copy_lost += v[i].copy_lost;
		out->wakeups += v[i].wakeups;
		out->truncated_l2 += v[i].cause[XR_TRUNCATED_L2];
		out->truncated_l3 += v[i].cause[XR_TRUNCATED_L3];
		out->malformed_l3 += v[i].cause[XR_MALFORMED_L3];
		out->truncated_l4 += v[i].cause[XR_TRUNCATED_L4];
		out->ext_headers_limit += v[i].cause[XR_EXT_HEADERS_LIMIT];
		out->tiny_fragment += v[i].cause[XR_TINY_FRAGMENT];
		out->fragment_overlap += v[i].cause[XR_FRAGMENT_OVERLAP];
	}
	out->parse_errors = out->truncated_l2 + out->truncated_l3 + out->malformed_l3 +
			    out->truncated_l4 + out->ext_headers_limit +
			    out->tiny_fragment + out->fragment_overlap;
	return 0;
}

int pktsh_xdp_info(const struct pktsh_xdp *x, struct pktsh_xdp_info *out)
{
	*out = x->info;
	return 0;
}

int pktsh_xdp_test_run(struct pktsh_xdp *x, const uint8_t *frame, uint32_t len,
		       uint32_t repeat, struct pktsh_xdp_test *out,
		       struct pktsh_err *err)
{
	LIBBPF_OPTS(bpf_test_run_opts, t);
	struct xr_cfg *cfg = &x->skel->bss->cfg;
	int rc;

	memset(out, 0, sizeof(*out));
	t.data_in = frame;
	t.data_size_in = len;
	t.repeat = repeat ? repeat : 1;
	__atomic_store_n(&cfg->trace, 1, __ATOMIC_SEQ_CST);
	cfg->last_rule = XR_NO_RULE;
	cfg->last_pos = XR_NO_RULE;
	rc = bpf_prog_test_run_opts(bpf_program__fd(x->skel->progs.xdp_rules), &t);
	__atomic_store_n(&cfg->trace, 0, __ATOMIC_SEQ_CST);
	if (rc)
		return xdp_bpf_fail(err, errno, "BPF_PROG_TEST_RUN");
	out->action = t.retval;
	out->rule_id = cfg->last_rule;
	out->position = cfg->last_pos;
	out->repeat = t.repeat;
	out->ns_per_run = t.duration;
	return 0;
}

/* --- copies -------------------------------------------------------------- */

int pktsh_xdp_copies_next(struct pktsh_xdp *x, struct pktsh_batch **out,
			  int32_t timeout_ms, struct pktsh_err *err)
{
	return xdp_copies_next(&x->copies, out, timeout_ms, err);
}

void pktsh_xdp_copies_release(struct pktsh_xdp *x)
{
	xdp_copies_release(&x->copies);
}

int pktsh_xdp_copies_stats(struct pktsh_xdp *x, struct pktsh_src_stats *out)
{
	struct pktsh_xdp_stats st;
	struct pktsh_err e;

	*out = x->copies.stats;
	if (pktsh_xdp_stats(x, &st, &e) == 0) {
		out->drops = st.copy_lost;
		out->received = out->packets + st.copy_lost;
	}
	return 0;
}

/* --- lifetime ----------------------------------------------------------- */

int pktsh_xdp_detach(struct pktsh_xdp *x, struct pktsh_err *err)
{
	if (x->xprog) {
		xdp_program__detach(x->xprog, (int)x->info.ifindex,
				    x->info.mode == PKTSH_XDP_SKB ? XDP_MODE_SKB
								  : XDP_MODE_NATIVE, 0);
		xprog_close(x);
	}
	xdp_owner_forget(x);
	if (x->link_fd >= 0) {
		close(x->link_fd);        /* the link's last reference: detached */
		x->link_fd = -1;
	}
	x->info.attach = -1;
	return 0;
}

void pktsh_xdp_close(struct pktsh_xdp *x)
{
	int i, t;

	if (!x)
		return;
	pktsh_xdp_detach(x, NULL);
	if (x->copies_open)
		xdp_copies_close(&x->copies);
	if (x->rules)
		munmap(x->rules, x->rules_len);
	if (x->words)
		munmap(x->words, x->words_len);
	for (i = 0; i < 4; i++)
		if (x->vtab[i])
			munmap(x->vtab[i], x->vtab_len[i]);
	for (i = 0; i < 2; i++)
		for (t = 0; t < 4; t++)
			free(x->slot[i].tries[t].keys);
	if (x->sync_outer >= 0)
		close(x->sync_outer);
	if (x->sync_inner >= 0)
		close(x->sync_inner);
	xdp_rules_bpf__destroy(x->skel);
	free(x->pcpu);
	free(x);
}
