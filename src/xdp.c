/*
 * xdp.c - the XDP rules program: loading it (the libbpf skeleton built
 * from bpf/xdp_rules.bpf.c is embedded in the binary), attaching it,
 * installing rule sets atomically, and reading its counters.
 *
 * Rule sets are double-buffered (bpf/xdp_rules.h): a commit writes the
 * slot no packet reads - the rule array, and for the classifier its
 * class bitmaps, per-value class tables and prefix tries - then flips
 * cfg.active. Before the next commit may write the old slot, packets
 * still reading it must be gone: an update of an array-of-maps makes the
 * kernel wait for an RCU grace period (every XDP run is inside one), so
 * that is what sync_rcu() does. The mmappable tables are written in
 * place; only the tries take a system call per prefix.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "host.h"
#include "xdp_int.h"
#include "../bpf/xdp_rules.h"
#include "xdp_rules.skel.h"

#define DEFAULT_RING (8u << 20)
#define DEFAULT_CLASS_WORDS (8u << 20)     /* 64 MB of bitmaps */
#define DEFAULT_WAKEUP 4096   /* records per CPU; see bpf/xdp_rules.bpf.c */
#define COPY_BATCH 1024
#define XDP_PASS_V 2
#define XDP_DROP_V 1

_Static_assert(sizeof(struct xr_rule) % 8 == 0, "array elements are 8-byte strided");

/* The keys one slot holds in one prefix trie, to delete them later. */
struct keylist {
	void *keys;
	uint32_t n;
	uint32_t cap;
};

struct slot_state {
	uint32_t base;            /* classifier region in the pool */
	uint32_t used;
	struct keylist tries[4];  /* src4, dst4, src6, dst6 */
};

struct pktsh_xdp {
	struct xdp_rules_bpf *skel;
	struct xdp_program *xprog;   /* with the dispatcher */
	struct bpf_object *xobj;     /* xprog's object (libxdp does not own it) */
	int link_fd;
	int sync_outer;
	int sync_inner;
	int need_sync;
	int ncpu;
	struct xr_rule *rules;       /* mmapped tables */
	size_t rules_len;
	uint64_t *words;
	size_t words_len;
	uint64_t *vtab[4];           /* sport, dport, proto, vlan */
	size_t vtab_len[4];
	struct slot_state slot[2];
	uint8_t live[XR_MAX_RULES / 8];  /* ids in the active set */
	struct pktsh_xdp_info info;
	struct xdp_copies copies;
	int copies_open;
	void *pcpu;                  /* ncpu values, for the per-CPU maps */
	char owner_pin[PATH_MAX];    /* our owner record, if we made one */
};

static int bpf_fail(struct pktsh_err *err, int e, const char *what)
{
	if (e < 0)
		e = -e;
	if (e == EPERM || e == EACCES)
		pktsh_err_set(err, e, "%s: permission denied (XDP needs root, "
			      "or CAP_BPF and CAP_NET_ADMIN)", what);
	else
		pktsh_err_set(err, e, "%s: %s", what, strerror(e));
	return -1;
}

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

/* Waits until no XDP run can still see the slot that was active before
 * the last flip (see the comment at the top). */
static int sync_rcu(struct pktsh_xdp *x, struct pktsh_err *err)
{
	uint32_t zero = 0;

	if (!x->need_sync)
		return 0;
	if (bpf_map_update_elem(x->sync_outer, &zero, &x->sync_inner, BPF_ANY))
		return bpf_fail(err, errno, "waiting for packets on the old rule set");
	x->need_sync = 0;
	return 0;
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
			bpf_fail(err, e, "attaching XDP (bpf_link)");
		return -1;
	}
	x->link_fd = fd;
	x->info.attach = PKTSH_XDP_LINK;
	return 0;
}

/* --- libxdp's dispatcher ------------------------------------------------ */

/* While the dispatcher is tried, libxdp's and libbpf's messages are kept
 * here instead of printed, so that the one line pktsh prints can say why
 * it was not used. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_libxdp[160];  /* libxdp's first word on the dispatcher */
static char log_libbpf[160];  /* libbpf's first failed load */

/* Keeps the first message that wanted() accepts in dst. */
static void log_keep(char *dst, size_t sz, int (*wanted)(const char *),
		     const char *fmt, va_list ap)
{
	char line[256];
	size_t l;

	if (dst[0])
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!wanted(line))
		return;
	l = strlen(line);
	while (l && (line[l - 1] == '\n' || line[l - 1] == ' '))
		line[--l] = 0;
	snprintf(dst, sz, "%s", line);
}

static int about_dispatcher(const char *line)
{
	return (strstr(line, "dispatcher") || strstr(line, "bpffs")) &&
	       !strstr(line, "Falling back");
}

static int load_failure(const char *line)
{
	return strstr(line, "load failed") != NULL;
}

static int log_from_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBXDP_DEBUG)
		log_keep(log_libxdp, sizeof(log_libxdp), about_dispatcher, fmt, ap);
	return 0;
}

static int log_from_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_DEBUG)
		log_keep(log_libbpf, sizeof(log_libbpf), load_failure, fmt, ap);
	return 0;
}

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
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS_V },
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

static int owner_record(struct pktsh_xdp *x, int prog_fd, uint32_t ifindex,
			struct pktsh_err *err);
static uint32_t owners_clean_quietly(void);

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
	libxdp_print_fn_t old_xdp;
	libbpf_print_fn_t old_bpf;
	struct pktsh_err rec;
	size_t sz;
	int rc, legacy;

	/* Programs of ours whose owner died go first (see the owner records). */
	owners_clean_quietly();
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
	pthread_mutex_lock(&log_lock);
	log_libxdp[0] = log_libbpf[0] = 0;
	old_xdp = libxdp_set_print(log_from_libxdp);
	old_bpf = libbpf_set_print(log_from_libbpf);
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
	libxdp_set_print(old_xdp);
	libbpf_set_print(old_bpf);
	if (rc || legacy) {
		char buf[128] = "";

		if (rc)
			libxdp_strerror(rc, buf, sizeof(buf));
		snprintf(x->info.note, sizeof(x->info.note),
			 "libxdp could not load its dispatcher%s%.50s%s: %.120s; attached "
			 "through a bpf_link instead",
			 buf[0] ? " (" : "", buf, buf[0] ? ")" : "",
			 log_libxdp[0] ? log_libxdp : log_libbpf[0] ? log_libbpf :
			 "it attached the program alone");
		pthread_mutex_unlock(&log_lock);
		xprog_close(x);
		return -1;
	}
	pthread_mutex_unlock(&log_lock);
	x->info.attach = PKTSH_XDP_DISPATCHER;
	/* The program now outlives a killed pktsh: say whose it is. */
	if (owner_record(x, xdp_program__fd(x->xprog), x->info.ifindex, &rec)) {
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
		bpf_fail(err, errno, "opening the XDP program");
		goto fail;
	}
	x->skel->rodata->wakeup_every = o->wakeup_every ? o->wakeup_every : DEFAULT_WAKEUP;
	x->skel->rodata->wakeup_fill = ring / 4;
	bpf_map__set_max_entries(x->skel->maps.copies, ring);
	bpf_map__set_max_entries(x->skel->maps.cls_words, words);
	rc = xdp_rules_bpf__load(x->skel);
	if (rc) {
		bpf_fail(err, rc ? rc : errno, "loading the XDP program");
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
		bpf_fail(err, errno, "creating the rule-set switch");
		goto fail;
	}
	if (xdp_copies_open(&x->copies, bpf_map__fd(x->skel->maps.copies), ring,
			    COPY_BATCH, err))
		goto fail;
	x->copies_open = 1;
	x->copies.ifindex = x->info.ifindex;
	x->skel->bss->cfg.slot[0].verdict = XDP_PASS_V;
	x->skel->bss->cfg.slot[1].verdict = XDP_PASS_V;
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
		    owners_clean_quietly())
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

/* --- rule sets ---------------------------------------------------------- */

static void mask_of(uint32_t *m, int len, int bits)
{
	int i;

	memset(m, 0, 16);
	for (i = 0; i < bits / 32; i++) {
		int l = len - i * 32;

		if (l >= 32)
			m[i] = 0xffffffffu;
		else if (l > 0)
			m[i] = htonl(~0u << (32 - l));
	}
}

static int convert(const struct pktsh_xdp_rule *in, struct xr_rule *r,
		   struct pktsh_err *err)
{
	int bits = in->family == 6 ? 128 : 32, i;

	memset(r, 0, sizeof(*r));
	if (in->id >= XR_MAX_RULES) {
		pktsh_err_set(err, EINVAL, "rule id %u out of range", in->id);
		return -1;
	}
	r->flags = in->flags & 0x3f;
	r->family = (uint8_t)((r->flags & (XR_F_SRC | XR_F_DST)) ? in->family : 0);
	if (r->family && r->family != 4 && r->family != 6) {
		pktsh_err_set(err, EINVAL, "rule %u: family %d", in->id, in->family);
		return -1;
	}
	if (r->flags & XR_F_SRC) {
		if (in->src_len < 0 || in->src_len > bits)
			goto badlen;
		mask_of(r->smask, in->src_len, bits);
		memcpy(r->src, in->src, 16);
		for (i = 0; i < 4; i++)
			r->src[i] &= r->smask[i];
	}
	if (r->flags & XR_F_DST) {
		if (in->dst_len < 0 || in->dst_len > bits)
			goto badlen;
		mask_of(r->dmask, in->dst_len, bits);
		memcpy(r->dst, in->dst, 16);
		for (i = 0; i < 4; i++)
			r->dst[i] &= r->dmask[i];
	}
	r->sport_lo = (uint16_t)in->sport_lo;
	r->sport_hi = (uint16_t)in->sport_hi;
	r->dport_lo = (uint16_t)in->dport_lo;
	r->dport_hi = (uint16_t)in->dport_hi;
	r->proto = (uint8_t)in->proto;
	r->vlan = (uint16_t)(in->vlan & 0xfff);
	r->id = in->id;
	r->verdict = in->drop ? XDP_DROP_V : XDP_PASS_V;
	r->copy = in->copy;
	return 0;
badlen:
	pktsh_err_set(err, EINVAL, "rule %u: bad prefix length", in->id);
	return -1;
}

/* The classifier's builder: classes are emitted into the pool window. */
struct builder {
	struct pktsh_xdp *x;
	const struct xr_rule *r;
	uint32_t n;
	uint32_t w;               /* bitmap words */
	uint32_t sw;              /* summary words */
	uint32_t start;           /* window in the pool */
	uint32_t limit;
	uint32_t next;            /* classes emitted */
	uint64_t *cur;            /* the bitmap being built */
	struct pktsh_err *err;
};

static void bset(uint64_t *b, uint32_t i) { b[i / 64] |= 1ull << (i % 64); }
static void bclr(uint64_t *b, uint32_t i) { b[i / 64] &= ~(1ull << (i % 64)); }

/* Writes b->cur as a new class; its index, or -1 when the pool is full. */
static int64_t emit(struct builder *b)
{
	uint32_t stride = b->sw + b->w, i;
	uint64_t at = (uint64_t)b->start + (uint64_t)b->next * stride;
	uint64_t *dst;

	if (at + stride > b->limit) {
		pktsh_err_set(b->err, ENOSPC, "the classifier needs more bitmap "
			      "memory than class_words = %u allows for %u rules "
			      "(raise class_words, or use engine = \"linear\")",
			      b->x->info.class_words, b->n);
		return -1;
	}
	dst = b->x->words + at;
	memset(dst, 0, b->sw * 8);
	for (i = 0; i < b->w; i++) {
		dst[b->sw + i] = b->cur[i];
		if (b->cur[i])
			dst[i / 64] |= 1ull << (i % 64);
	}
	return b->next++;
}

/* The wildcard rules of one dimension (rules without its flag). */
static void wild(struct builder *b, uint32_t flag)
{
	uint32_t i;

	memset(b->cur, 0, b->w * 8);
	for (i = 0; i < b->n; i++)
		if (!(b->r[i].flags & flag))
			bset(b->cur, i);
}

struct event {
	uint32_t at;
	uint32_t pos;
	int add;
};

static int event_cmp(const void *pa, const void *pb)
{
	const struct event *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return b->add - a->add;
}

/* A dimension over values 0..nvals-1 (plus "absent" at nvals): sweeps the
 * rules' ranges, emitting a class per elementary interval. */
static int value_dim(struct builder *b, uint32_t flag, uint32_t nvals,
		     uint64_t *tab, int which)
{
	struct event *ev = malloc(sizeof(*ev) * 2 * (b->n + 1));
	int64_t wc, c;
	uint32_t i, ne = 0, v, e = 0, active = 0;

	if (!ev) {
		pktsh_err_set(b->err, ENOMEM, "out of memory");
		return -1;
	}
	wild(b, flag);
	wc = emit(b);
	if (wc < 0)
		goto fail;
	for (i = 0; i < b->n; i++) {
		const struct xr_rule *r = &b->r[i];
		uint32_t lo, hi;

		if (!(r->flags & flag))
			continue;
		switch (which) {
		case XR_DIM_SPORT: lo = r->sport_lo; hi = r->sport_hi; break;
		case XR_DIM_DPORT: lo = r->dport_lo; hi = r->dport_hi; break;
		case XR_DIM_PROTO: lo = hi = r->proto; break;
		default: lo = hi = r->vlan; break;
		}
		ev[ne++] = (struct event){ lo, i, 1 };
		ev[ne++] = (struct event){ hi + 1, i, 0 };
	}
	qsort(ev, ne, sizeof(*ev), event_cmp);
	c = wc;
	for (v = 0; v < nvals; ) {
		uint32_t until = nvals;

		if (e < ne && ev[e].at == v) {
			while (e < ne && ev[e].at == v) {
				if (ev[e].add) {
					bset(b->cur, ev[e].pos);
					active++;
				} else {
					bclr(b->cur, ev[e].pos);
					active--;
				}
				e++;
			}
			c = active ? emit(b) : wc;
			if (c < 0)
				goto fail;
		}
		if (e < ne && ev[e].at < until)
			until = ev[e].at;
		for (; v < until; v++)
			tab[v] = (uint32_t)c;
	}
	tab[nvals] = (uint32_t)wc;
	free(ev);
	return 0;
fail:
	free(ev);
	return -1;
}

static int keylist_add(struct keylist *l, const void *key, size_t ksz,
		       struct pktsh_err *err)
{
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? 2 * l->cap : 64;
		void *k = realloc(l->keys, cap * ksz);

		if (!k) {
			pktsh_err_set(err, ENOMEM, "out of memory");
			return -1;
		}
		l->keys = k;
		l->cap = cap;
	}
	memcpy((uint8_t *)l->keys + (size_t)l->n++ * ksz, key, ksz);
	return 0;
}

static int prefix_len(const uint32_t *mask)
{
	int i, n = 0;

	for (i = 0; i < 4; i++)
		n += __builtin_popcount(mask[i]);
	return n;
}

/* Whether prefix (a, alen) lies inside rule prefix (ra, rmask). */
static int inside(const uint32_t *a, const uint32_t *ra, const uint32_t *rmask)
{
	int i;

	for (i = 0; i < 4; i++)
		if ((a[i] & rmask[i]) != ra[i])
			return 0;
	return 1;
}

/* A prefix dimension (src or dst) for one family: a class per distinct
 * prefix holding the rules whose prefix contains it (and the wildcards);
 * the trie's longest match picks it. */
static int prefix_dim(struct builder *b, int dst, int family, uint32_t spare,
		      int trie_fd, struct keylist *keys)
{
	uint32_t flag = dst ? XR_F_DST : XR_F_SRC, i, j;
	uint8_t *done = calloc(b->n ? b->n : 1, 1);

	if (!done) {
		pktsh_err_set(b->err, ENOMEM, "out of memory");
		return -1;
	}
	for (i = 0; i < b->n; i++) {
		const struct xr_rule *r = &b->r[i];
		const uint32_t *a = dst ? r->dst : r->src;
		const uint32_t *m = dst ? r->dmask : r->smask;
		int len = prefix_len(m);
		int64_t c;

		if (!(r->flags & flag) || r->family != family || done[i])
			continue;
		wild(b, flag);
		for (j = 0; j < b->n; j++) {
			const struct xr_rule *q = &b->r[j];
			const uint32_t *qa = dst ? q->dst : q->src;
			const uint32_t *qm = dst ? q->dmask : q->smask;

			if (!(q->flags & flag) || q->family != family)
				continue;
			if (prefix_len(qm) == len && !memcmp(qa, a, 16))
				done[j] = 1;     /* the same prefix: one class */
			if (prefix_len(qm) <= len && inside(a, qa, qm))
				bset(b->cur, j);
		}
		c = emit(b);
		if (c < 0)
			goto fail;
		if (family == 4) {
			struct xr_lpm4 k = { .prefixlen = 32 + (uint32_t)len, .slot = spare };

			memcpy(k.addr, a, 4);
			if (bpf_map_update_elem(trie_fd, &k, &(uint32_t){ (uint32_t)c }, BPF_ANY) ||
			    keylist_add(keys, &k, sizeof(k), b->err))
				goto trie_fail;
		} else {
			struct xr_lpm6 k = { .prefixlen = 32 + (uint32_t)len, .slot = spare };

			memcpy(k.addr, a, 16);
			if (bpf_map_update_elem(trie_fd, &k, &(uint32_t){ (uint32_t)c }, BPF_ANY) ||
			    keylist_add(keys, &k, sizeof(k), b->err))
				goto trie_fail;
		}
	}
	free(done);
	return 0;
trie_fail:
	if (!b->err->msg[0])
		bpf_fail(b->err, errno, "updating a prefix trie");
fail:
	free(done);
	return -1;
}

static void clear_tries(struct pktsh_xdp *x, uint32_t s)
{
	int fds[4] = { bpf_map__fd(x->skel->maps.src4), bpf_map__fd(x->skel->maps.dst4),
		       bpf_map__fd(x->skel->maps.src6), bpf_map__fd(x->skel->maps.dst6) };
	size_t ksz[4] = { sizeof(struct xr_lpm4), sizeof(struct xr_lpm4),
			  sizeof(struct xr_lpm6), sizeof(struct xr_lpm6) };
	int t;
	uint32_t i;

	for (t = 0; t < 4; t++) {
		struct keylist *l = &x->slot[s].tries[t];

		for (i = 0; i < l->n; i++)
			bpf_map_delete_elem(fds[t], (uint8_t *)l->keys + i * ksz[t]);
		l->n = 0;
	}
}

static int build_classifier(struct pktsh_xdp *x, uint32_t spare,
			    const struct xr_rule *r, uint32_t n,
			    struct xr_slot *s, struct pktsh_err *err)
{
	struct slot_state *act = &x->slot[spare ^ 1];
	uint32_t pool = x->info.class_words;
	uint32_t lo_room = act->base, hi_room = pool - (act->base + act->used);
	struct builder b = { .x = x, .r = r, .n = n, .err = err };
	uint32_t flags = 0, i;
	int64_t all;
	int rc = -1;

	b.w = n ? (n + 63) / 64 : 1;
	b.sw = (b.w + 63) / 64;
	if (act->used == 0) {
		b.start = 0;
		b.limit = pool;
	} else if (hi_room >= lo_room) {
		b.start = act->base + act->used;
		b.limit = pool;
	} else {
		b.start = 0;
		b.limit = act->base;
	}
	b.cur = calloc(b.w, 8);
	if (!b.cur) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		flags |= r[i].flags;
	wild(&b, 0);                 /* every rule */
	all = emit(&b);
	if (all < 0)
		goto out;
	s->all_class = (uint32_t)all;
	s->dims = 0;
	clear_tries(x, spare);
	for (i = 0; i < 2; i++) {
		uint32_t flag = i ? XR_F_DST : XR_F_SRC;
		int64_t dc;

		if (!(flags & flag))
			continue;
		s->dims |= 1u << (i ? XR_DIM_DST : XR_DIM_SRC);
		wild(&b, flag);
		dc = emit(&b);
		if (dc < 0)
			goto out;
		s->def_class[i] = (uint32_t)dc;
		if (prefix_dim(&b, (int)i, 4, spare,
			       bpf_map__fd(i ? x->skel->maps.dst4 : x->skel->maps.src4),
			       &x->slot[spare].tries[i]) ||
		    prefix_dim(&b, (int)i, 6, spare,
			       bpf_map__fd(i ? x->skel->maps.dst6 : x->skel->maps.src6),
			       &x->slot[spare].tries[2 + i]))
			goto out;
	}
	{
		static const struct { uint32_t flag, nvals, values; int dim; } vd[4] = {
			{ XR_F_SPORT, 65536, XR_PORT_VALUES, XR_DIM_SPORT },
			{ XR_F_DPORT, 65536, XR_PORT_VALUES, XR_DIM_DPORT },
			{ XR_F_PROTO, 256, XR_PROTO_VALUES, XR_DIM_PROTO },
			{ XR_F_VLAN, 4096, XR_VLAN_VALUES, XR_DIM_VLAN },
		};
		int d;

		for (d = 0; d < 4; d++) {
			if (!(flags & vd[d].flag))
				continue;
			s->dims |= 1u << vd[d].dim;
			if (value_dim(&b, vd[d].flag, vd[d].nvals,
				      x->vtab[d] + (size_t)spare * vd[d].values, vd[d].dim))
				goto out;
		}
	}
	s->words = b.w;
	s->swords = b.sw;
	s->cls_base = b.start;
	x->slot[spare].base = b.start;
	x->slot[spare].used = b.next * (b.sw + b.w);
	rc = 0;
out:
	free(b.cur);
	return rc;
}

static void reset_counters(struct pktsh_xdp *x, uint32_t id)
{
	memset(x->pcpu, 0, (size_t)x->ncpu * sizeof(struct xr_rule_stats));
	bpf_map_update_elem(bpf_map__fd(x->skel->maps.rule_stats), &id, x->pcpu, BPF_ANY);
}

int pktsh_xdp_commit(struct pktsh_xdp *x, const struct pktsh_xdp_rule *in,
		     uint32_t n, int32_t engine, int32_t default_drop,
		     struct pktsh_err *err)
{
	struct xr_cfg *cfg = &x->skel->bss->cfg;
	uint32_t spare, i;
	struct xr_slot s;
	struct xr_rule *r;
	uint8_t live[XR_MAX_RULES / 8];

	if (n > XR_MAX_RULES) {
		pktsh_err_set(err, ENOSPC, "%u rules: at most %u", n, XR_MAX_RULES);
		return -1;
	}
	if (sync_rcu(x, err))
		return -1;
	spare = (__atomic_load_n(&cfg->active, __ATOMIC_ACQUIRE) & 1) ^ 1;
	r = x->rules + (size_t)spare * XR_MAX_RULES;
	memset(live, 0, sizeof(live));
	for (i = 0; i < n; i++) {
		if (convert(&in[i], &r[i], err))
			return -1;
		if (live[r[i].id / 8] & (1 << (r[i].id % 8))) {
			pktsh_err_set(err, EINVAL, "rule id %u used twice", r[i].id);
			return -1;
		}
		live[r[i].id / 8] |= (uint8_t)(1 << (r[i].id % 8));
	}
	memset(&s, 0, sizeof(s));
	s.nrules = n;
	s.verdict = default_drop ? XDP_DROP_V : XDP_PASS_V;
	s.engine = engine == PKTSH_XDP_CLASSIFIER ? XR_ENGINE_CLASSIFIER : XR_ENGINE_LINEAR;
	if (s.engine == XR_ENGINE_CLASSIFIER) {
		if (build_classifier(x, spare, r, n, &s, err))
			return -1;
	} else {
		clear_tries(x, spare);
		x->slot[spare].used = 0;
		x->slot[spare].base = 0;
	}
	/* New ids start from zero (no packet can still count on an old
	 * holder of the id: the grace period above is over). */
	for (i = 0; i < n; i++)
		if (!(x->live[r[i].id / 8] & (1 << (r[i].id % 8))))
			reset_counters(x, r[i].id);
	memcpy(x->live, live, sizeof(live));
	cfg->slot[spare] = s;
	__atomic_store_n(&cfg->active, spare, __ATOMIC_SEQ_CST);
	x->need_sync = 1;
	x->info.engine = (int32_t)s.engine;
	x->info.nrules = n;
	x->info.class_words_used = x->slot[spare].used;
	return 0;
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
		return bpf_fail(err, errno, "reading rule counters");
	for (i = 0; i < x->ncpu; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
		out->copied += v[i].copied;
		out->copy_lost += v[i].copy_lost;
	}
	return 0;
}

int pktsh_xdp_stats(struct pktsh_xdp *x, struct pktsh_xdp_stats *out,
		    struct pktsh_err *err)
{
	const struct xr_stats *v = x->pcpu;
	uint32_t zero = 0;
	int i;

	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.stats), &zero, x->pcpu))
		return bpf_fail(err, errno, "reading XDP counters");
	for (i = 0; i < x->ncpu; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
		out->parse_errors += v[i].parse_errors;
		out->matched += v[i].matched;
		out->unmatched += v[i].unmatched;
		out->passed += v[i].passed;
		out->dropped += v[i].dropped;
		out->copied += v[i].copied;
		out->copy_lost += v[i].copy_lost;
		out->wakeups += v[i].wakeups;
	}
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
		return bpf_fail(err, errno, "BPF_PROG_TEST_RUN");
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

/* --- owner records ---------------------------------------------------------
 *
 * A program attached through libxdp's dispatcher is held by libxdp's pins
 * in bpffs, not by pktsh: it stays when pktsh is killed. So each one gets
 * a record, a pin of the program itself at
 *
 *     <bpffs>/pktsh/<pid>-<start>-<netns>-<ifindex>-<prog id>
 *
 * <bpffs> is $LIBXDP_BPFFS or /sys/fs/bpf, where libxdp keeps its own pins;
 * <start> is the owner's start time (clock ticks after boot), so that a
 * reused pid is not taken for the owner; <netns> is the inode of its
 * network namespace, the only place where <ifindex> names the interface.
 * Closing the rule set removes the record; pktsh_xdp_owners(clean)
 * detaches the programs of owners that died and removes their records.
 * The record is made just after the attach: a kill -9 between the two
 * leaves a program without one. */

static const char *bpffs_root(void)
{
	const char *e = getenv("LIBXDP_BPFFS");

	return e && *e ? e : "/sys/fs/bpf";
}

static int owners_dir(char *out, size_t sz, int create, struct pktsh_err *err)
{
	const char *root = bpffs_root();
	struct statfs st;

	if (statfs(root, &st) || st.f_type != BPF_FS_MAGIC) {
		pktsh_err_set(err, ENOENT, "no bpffs at %s (mount -t bpf bpf %s, or "
			      "set LIBXDP_BPFFS)", root, root);
		return -1;
	}
	snprintf(out, sz, "%s/pktsh", root);
	if (create && mkdir(out, 0700) && errno != EEXIST) {
		int e = errno;

		pktsh_err_set(err, e, "creating %s: %s", out, strerror(e));
		return -1;
	}
	return 0;
}

/* The start time of pid (field 22 of /proc/PID/stat), or 0 when it does
 * not run (a zombie has stopped running). */
static uint64_t proc_start(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');       /* the name may hold spaces and ')' */
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	for (i = 0; i < 20 && p; i++)   /* ") S" is field 3: on to field 22 */
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

static uint64_t netns_id(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (uint64_t)st.st_ino;
}

static int owner_record(struct pktsh_xdp *x, int prog_fd, uint32_t ifindex,
			struct pktsh_err *err)
{
	char dir[PATH_MAX / 2];
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);
	int pid = (int)getpid();

	if (x->owner_pin[0]) {
		pktsh_err_set(err, EBUSY, "this rule set already has an owner record");
		return -1;
	}
	if (owners_dir(dir, sizeof(dir), 1, err))
		return -1;
	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(prog_fd, &pi, &len))
		return bpf_fail(err, errno, "reading the program's id");
	snprintf(x->owner_pin, sizeof(x->owner_pin), "%s/%d-%llu-%llu-%u-%u", dir, pid,
		 (unsigned long long)proc_start(pid), (unsigned long long)netns_id(),
		 ifindex, pi.id);
	if (bpf_obj_pin(prog_fd, x->owner_pin)) {
		int e = errno;

		pktsh_err_set(err, e, "recording the owner at %s: %s", x->owner_pin,
			      strerror(e));
		x->owner_pin[0] = 0;
		return -1;
	}
	return 0;
}

static void owner_forget(struct pktsh_xdp *x)
{
	if (x->owner_pin[0])
		unlink(x->owner_pin);
	x->owner_pin[0] = 0;
}

int pktsh_xdp_own(struct pktsh_xdp *x, const char *ifname, struct pktsh_err *err)
{
	unsigned ifindex = ifname ? if_nametoindex(ifname) : 0;

	if (!ifindex) {
		pktsh_err_set(err, ENODEV, "no such interface '%s'", ifname ? ifname : "(none)");
		return -1;
	}
	return owner_record(x, x->xprog ? xdp_program__fd(x->xprog)
					: bpf_program__fd(x->skel->progs.xdp_rules),
			    ifindex, err);
}

static int quiet_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* Detaches program id from ifindex wherever it runs there: in libxdp's
 * dispatcher, or alone (then only if it is still that program: fd).
 * 1 detached, 0 not attached there, -1 failed (note says why). */
static int detach_prog(uint32_t ifindex, uint32_t id, int fd, char *note, size_t nsz)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct xdp_multiprog *mp;
	libxdp_print_fn_t old;
	__u32 flags;
	int rc = 0, found = 0;

	pthread_mutex_lock(&log_lock);
	old = libxdp_set_print(quiet_libxdp);
	mp = xdp_multiprog__get_from_ifindex((int)ifindex);
	if (mp && !libxdp_get_error(mp)) {
		struct xdp_program *p = NULL;

		while (!xdp_multiprog__is_legacy(mp) && (p = xdp_multiprog__next_prog(p, mp)))
			if (xdp_program__id(p) == id) {
				found = 1;
				rc = xdp_program__detach(p, (int)ifindex,
							 xdp_multiprog__attach_mode(mp), 0);
				break;
			}
		xdp_multiprog__close(mp);
	}
	libxdp_set_print(old);
	pthread_mutex_unlock(&log_lock);
	if (found) {
		char buf[128];

		if (!rc)
			return 1;
		libxdp_strerror(rc, buf, sizeof(buf));
		snprintf(note, nsz, "detaching from libxdp's dispatcher: %.100s", buf);
		return -1;
	}
	if (bpf_xdp_query((int)ifindex, 0, &q)) {
		if (errno == ENODEV)
			return 0;          /* the interface is gone, and the program with it */
		snprintf(note, nsz, "querying XDP on ifindex %u: %s", ifindex, strerror(errno));
		return -1;
	}
	if (q.drv_prog_id == id)
		flags = XDP_FLAGS_DRV_MODE;
	else if (q.skb_prog_id == id)
		flags = XDP_FLAGS_SKB_MODE;
	else if (q.hw_prog_id == id)
		flags = XDP_FLAGS_HW_MODE;
	else
		return 0;
	{
		LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = fd);

		if (bpf_xdp_detach((int)ifindex, flags | XDP_FLAGS_REPLACE, &ao)) {
			snprintf(note, nsz, "detaching from ifindex %u: %s", ifindex,
				 strerror(errno));
			return -1;
		}
	}
	return 1;
}

int pktsh_xdp_owners(struct pktsh_xdp_owner *out, uint32_t cap, uint32_t *n,
		     int32_t clean, struct pktsh_err *err)
{
	char dir[PATH_MAX / 2], path[PATH_MAX];
	uint64_t ns = netns_id();
	struct dirent *de;
	uint32_t k = 0;
	DIR *d;

	*n = 0;
	if (owners_dir(dir, sizeof(dir), 0, err))
		return -1;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		pktsh_err_set(err, errno, "reading %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		struct pktsh_xdp_owner o;
		unsigned long long start, nsid;
		unsigned ifi, id;
		int pid, rc, fd;
		char tail;

		if (sscanf(de->d_name, "%d-%llu-%llu-%u-%u%c", &pid, &start, &nsid,
			   &ifi, &id, &tail) != 5)
			continue;          /* not a record */
		memset(&o, 0, sizeof(o));
		o.pid = pid;
		o.start = start;
		o.netns = nsid;
		o.ifindex = ifi;
		o.prog_id = id;
		o.here = nsid == ns;
		o.alive = start ? proc_start(pid) == start : kill(pid, 0) == 0;
		o.action = PKTSH_OWNER_KEPT;
		snprintf(o.name, sizeof(o.name), "%.95s", de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (clean && o.alive)
			snprintf(o.note, sizeof(o.note), "its owner runs");
		else if (clean && !o.here)
			snprintf(o.note, sizeof(o.note), "recorded in another network "
				 "namespace: clean up there");
		if (!clean || o.alive || !o.here)
			goto keep;
		fd = bpf_obj_get(path);
		if (fd < 0)
			fd = bpf_prog_get_fd_by_id(id);
		rc = detach_prog(ifi, id, fd, o.note, sizeof(o.note));
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			o.action = PKTSH_OWNER_FAILED;
		} else if (unlink(path)) {
			o.action = PKTSH_OWNER_FAILED;
			snprintf(o.note, sizeof(o.note), "removing the record: %s",
				 strerror(errno));
		} else {
			o.action = rc ? PKTSH_OWNER_DETACHED : PKTSH_OWNER_GONE;
		}
keep:
		if (k < cap)
			out[k] = o;
		k++;
	}
	closedir(d);
	*n = k;
	return 0;
}

/* Cleans up after dead owners; how many programs it detached. */
static uint32_t owners_clean_quietly(void)
{
	struct pktsh_xdp_owner o[64];
	struct pktsh_err e;
	uint32_t n, i, k = 0;

	if (pktsh_xdp_owners(o, 64, &n, 1, &e))
		return 0;
	for (i = 0; i < n && i < 64; i++)
		k += o[i].action == PKTSH_OWNER_DETACHED;
	return k;
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
	owner_forget(x);
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
