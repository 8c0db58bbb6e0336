/*
 * xdpowner.c - owner records of the programs pktsh attached through
 * libxdp's dispatcher, and the clean-up of those whose owner died.
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
 * leaves a program without one.
 *
 * This is bookkeeping about processes and bpffs, not about rules: it is
 * used by the attach in src/xdp.c (a record after the dispatcher took the
 * program, a clean-up before it and when a dead owner's program blocks a
 * bpf_link), and on its own by pktsh.xdp.cleanup().
 */
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
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "err.h"
#include "xdp/xdp_int.h"
#include "xdp_rules.skel.h"

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

int xdp_owner_record(struct pktsh_xdp *x, int prog_fd, uint32_t ifindex,
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
		return xdp_bpf_fail(err, errno, "reading the program's id");
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

void xdp_owner_forget(struct pktsh_xdp *x)
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
	return xdp_owner_record(x, x->xprog ? xdp_program__fd(x->xprog)
					    : bpf_program__fd(x->skel->progs.xdp_rules),
				ifindex, err);
}

/* Detaches program id from ifindex wherever it runs there: in libxdp's
 * dispatcher, or alone (then only if it is still that program: fd).
 * 1 detached, 0 not attached there, -1 failed (note says why). */
static int detach_prog(uint32_t ifindex, uint32_t id, int fd, char *note, size_t nsz)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct xdp_multiprog *mp;
	__u32 flags;
	int rc = 0, found = 0;

	xdp_log_begin(0);
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
	xdp_log_end(NULL, 0);
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
uint32_t xdp_owners_clean_quietly(void)
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
