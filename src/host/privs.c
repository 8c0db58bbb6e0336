/*
 * privs.c - privileges.
 *
 * `-Z USER` gives root up as tcpdump does, and more thoroughly: once the
 * first source of any kind is open (a file, a live ring or fanout group,
 * an XDP rule set, a sender; lua/pktsh/privs.lua) or before fanout
 * workers start, the process empties its capability bounding set, ambient
 * and inheritable sets, takes USER's groups, gid and uid (real, effective
 * and saved), and sets no_new_privs, so no later execve() (os.execute, a
 * setuid helper, a binary with file capabilities) can gain anything back.
 * The bounding set, the ambient set, capset() and no_new_privs belong to
 * the calling thread, so the drop runs while the process has one thread
 * (workers are started after it; it refuses otherwise).
 *
 * Secure-execution mode: when the kernel ran us with AT_SECURE (the
 * binary is setuid or has file capabilities), whoever runs pktsh is not
 * whoever gave it those privileges, so nothing the caller chooses may
 * become Lua code: main.c refuses -e, the REPL, scripts on standard input,
 * and the environment variables that choose code; a script must be a
 * root-owned file that only root can change (pktsh_secure_script).
 */
#define _GNU_SOURCE             /* setresuid, setresgid */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "err.h"
#include "host.h"

static struct {
	char name[64];
	uid_t uid;
	gid_t gid;
	int pending;              /* -Z given and not done yet */
	int failed;               /* a drop went wrong: every later call fails */
	struct pktsh_err fault;
} z;

int pktsh_privs_request(const char *user)
{
	struct passwd *pw;

	if (strlen(user) >= sizeof(z.name) || !(pw = getpwnam(user)))
		return -1;
	strcpy(z.name, user);
	z.uid = pw->pw_uid;
	z.gid = pw->pw_gid;
	z.pending = 1;
	return 0;
}

int pktsh_privs_pending(void)
{
	return z.pending;
}

static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Empties the inheritable set; the change of uid empties the others. */
static int clear_inheritable(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int i;

	if (syscall(SYS_capget, &h, d))
		return -1;
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		d[i].inheritable = 0;
	return (int)syscall(SYS_capset, &h, d);
}

/* Whether any capability is left in the effective, permitted or
 * inheritable sets, or in the bounding set. */
static int caps_left(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int i, c;

	if (syscall(SYS_capget, &h, d))
		return 1;
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return 1;
	for (c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

		if (r < 0)
			break;             /* past the kernel's last capability */
		if (r > 0)
			return 1;
	}
	return 0;
}

/* Everything but the ids first: emptying the bounding set needs
 * CAP_SETPCAP, which the change of uid takes away, and whoever sees the
 * new uid (in /proc) then sees the rest done too. */
static int drop(struct pktsh_err *err)
{
	int c;

	if (geteuid() != 0) {
		pktsh_err_set(err, EPERM, "-Z %s: only root can become another user "
			      "(pktsh runs as uid %u)", z.name, (unsigned)geteuid());
		return -1;
	}
	if (threads() > 1) {            /* -1: no /proc to ask; workers start later */
		pktsh_err_set(err, EDEADLK, "-Z %s: privileges can only be dropped "
			      "while pktsh runs one thread", z.name);
		return -1;
	}
	for (c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0)) {
			pktsh_err_set(err, errno, "-Z %s: emptying the capability bounding "
				      "set: %s", z.name, strerror(errno));
			return -1;
		}
	if ((prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) ||
	    clear_inheritable() || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    initgroups(z.name, z.gid) || setresgid(z.gid, z.gid, z.gid) ||
	    setresuid(z.uid, z.uid, z.uid)) {
		pktsh_err_set(err, errno, "-Z: cannot become '%s': %s", z.name,
			      strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || caps_left() || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		pktsh_err_set(err, EPERM, "-Z %s: privileges are still there after "
			      "the drop", z.name);
		return -1;
	}
	return 0;
}

/* The first call with -Z pending drops; later calls and runs without -Z
 * do nothing, and after a failed drop every call fails with its reason,
 * so no source is ever used with privileges -Z was meant to remove. */
int pktsh_privdrop(struct pktsh_err *err)
{
	if (z.failed) {
		if (err)
			*err = z.fault;
		return -1;
	}
	if (!z.pending)
		return 0;
	z.pending = 0;
	if (drop(&z.fault)) {
		z.failed = 1;
		if (err)
			*err = z.fault;
		return -1;
	}
	return 0;
}

/* --- secure-execution mode --------------------------------------------- */

int pktsh_secure_mode(void)
{
	return getauxval(AT_SECURE) != 0;
}

/* Root owns it and no one else may change it (a sticky directory lets
 * others add names but not replace root's). */
static int root_only(const struct stat *st, int dir)
{
	if (st->st_uid != 0)
		return 0;
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 1;
	return dir && (st->st_mode & S_ISVTX);
}

/* In secure-execution mode a script runs only if it is a regular file
 * that only root can change, in directories only root can change. Its
 * resolved path goes to *real (malloc'd): load that, not the name given,
 * so no link can be swapped in between. */
int pktsh_secure_script(const char *path, char **real, struct pktsh_err *err)
{
	struct stat st;
	char *p, *slash;

	*real = realpath(path, NULL);
	if (!*real) {
		pktsh_err_set(err, errno, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(*real, &st) || !S_ISREG(st.st_mode) || !root_only(&st, 0)) {
		pktsh_err_set(err, EPERM, "refusing to run '%s': in secure-execution "
			      "mode a script must be a regular file owned by root and "
			      "writable only by root", *real);
		goto fail;
	}
	p = strdup(*real);
	if (!p) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	while ((slash = strrchr(p, '/'))) {
		slash[slash == p] = '\0';    /* "/a/b" -> "/a" -> "/" */
		if (stat(p, &st) || !root_only(&st, 1)) {
			pktsh_err_set(err, EPERM, "refusing to run '%s': in secure-execution "
				      "mode every directory above a script must be owned by "
				      "root and writable only by root (%s is not)", *real, p);
			free(p);
			goto fail;
		}
		if (slash == p)
			break;
	}
	free(p);
	return 0;
fail:
	free(*real);
	*real = NULL;
	return -1;
}
