/*
 * scriptpath.c - where `pktsh NAME.lua` finds a script that is not in the
 * current directory: the directories of $PKTSH_SCRIPTS (colon-separated),
 * then the scripts `make install` put beside the binary
 * (BIN/../share/pktsh/scripts, found from /proc/self/exe, so any PREFIX or
 * staging DESTDIR works). Only a bare name is searched: a path with a '/'
 * means that file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "host.h"

/* dir/name if that file exists: malloc'd, else NULL. */
static char *try_dir(const char *dir, size_t dlen, const char *name)
{
	char *p;

	if (!dlen)
		return NULL;
	p = malloc(dlen + strlen(name) + 2);
	if (!p)
		return NULL;
	sprintf(p, "%.*s/%s", (int)dlen, dir, name);
	if (access(p, R_OK) == 0)
		return p;
	free(p);
	return NULL;
}

/* The installed scripts' directory, from the binary's own path. */
static int share_dir(char *out, size_t sz)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;                       /* BIN */
	return snprintf(out, sz, "%s/../share/pktsh/scripts", exe) < (int)sz ? 0 : -1;
}

char *pktsh_script_find(const char *name, int secure)
{
	const char *env = secure ? NULL : getenv("PKTSH_SCRIPTS");
	char dir[PATH_MAX + 32];
	char *found;

	if (!name[0] || strchr(name, '/') || access(name, F_OK) == 0)
		return NULL;
	while (env && *env) {
		size_t len = strcspn(env, ":");

		found = try_dir(env, len, name);
		if (found)
			return found;
		env += len + (env[len] == ':');
	}
	if (share_dir(dir, sizeof(dir)) == 0)
		return try_dir(dir, strlen(dir), name);
	return NULL;
}
