/* privs.c - `-Z USER`: give up root once the capture sockets are open. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include "host.h"

static char drop_user[64];

int pktsh_privs_request(const char *user)
{
	if (strlen(user) >= sizeof(drop_user) || !getpwnam(user))
		return -1;
	strcpy(drop_user, user);
	return 0;
}

/* Called after a live source opened all its sockets: the first call drops
 * to the -Z user (supplementary groups, group, then user), later calls
 * and runs without -Z do nothing. */
int pktsh_privdrop(struct pktsh_err *err)
{
	struct passwd *pw;

	if (!drop_user[0])
		return 0;
	pw = getpwnam(drop_user);
	if (!pw) {
		pktsh_err_set(err, ENOENT, "-Z: no user '%s'", drop_user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) || setgid(pw->pw_gid) ||
	    setuid(pw->pw_uid)) {
		pktsh_err_set(err, errno, "-Z: cannot become '%s': %s", drop_user,
			      strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {   /* must be impossible now */
		pktsh_err_set(err, EPERM, "-Z: still able to regain root");
		return -1;
	}
	drop_user[0] = '\0';
	return 0;
}
