/*
 * outfile.c - output files that never follow a planted link.
 *
 * pktsh runs as root and is told to write into directories others can
 * write to (/tmp, a shared capture directory). Opening the path given
 * would follow a symbolic link (or truncate a hard link) a local user put
 * there, onto any file on the system. So an output path gets a new file:
 * created under a fresh name in the same directory (O_CREAT | O_EXCL,
 * which follows no link) and renamed over the path. rename() replaces
 * the directory entry itself, never what a link points to, and a regular
 * file already there is replaced, not truncated: another name linked to
 * it keeps its contents.
 *
 * A symbolic link found at the path is an error rather than replaced:
 * /dev/stdout and /dev/stderr are links too, and a link the user made on
 * purpose should not silently turn into a file. FIFOs and character
 * devices (a pipe to Wireshark, /dev/null) are opened as they are, with
 * O_NOFOLLOW, and "-" and "/dev/stdout" are standard output.
 *
 * The caller's first bytes (a pcap file header, or a chart's whole text)
 * are written before the rename: the path never shows an empty or half
 * file, even when the process ends right after the open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "err.h"

#define TEMP_TRIES 64

/* write(2) until done: 0, or -1 with errno. Async-signal-safe. */
int pktsh_write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p = (const char *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

/* A fresh file beside path holding head, renamed over it: fd, or -1. */
static int create_replacing(const char *path, const void *head, size_t len,
			    struct pktsh_err *err)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t n = strlen(path) + 32;
	char *tmp = malloc(n);
	int fd = -1, i;

	if (!tmp) {
		pktsh_err_set(err, ENOMEM, "out of memory");
		return -1;
	}
	for (i = 0; i < TEMP_TRIES && fd < 0; i++) {
		uint64_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint64_t)getpid() * 2654435761u + (uint64_t)i;
		snprintf(tmp, n, "%.*s.%s.%016llx", (int)dirlen, path, path + dirlen,
			 (unsigned long long)r);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		pktsh_err_set(err, errno, "cannot create '%s': %s", path, strerror(errno));
	} else if (pktsh_write_all(fd, head, len)) {
		pktsh_err_set(err, errno, "writing '%s': %s", path, strerror(errno));
		unlink(tmp);
		close(fd);
		fd = -1;
	} else if (rename(tmp, path)) {
		pktsh_err_set(err, errno, "cannot create '%s' (replacing what is there): %s",
			      path, strerror(errno));
		unlink(tmp);
		close(fd);
		fd = -1;
	}
	free(tmp);
	return fd;
}

/* fd with head written, or -1 (fd closed). */
static int started(int fd, const char *path, const void *head, size_t len,
		   struct pktsh_err *err)
{
	if (fd >= 0 && pktsh_write_all(fd, head, len)) {
		pktsh_err_set(err, errno, "writing '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* A FIFO or character device at path, opened as it is. */
static int open_special(const char *path, struct pktsh_err *err)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		pktsh_err_set(err, errno, "cannot write to '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
		pktsh_err_set(err, EAGAIN, "'%s' changed while it was being opened", path);
		close(fd);
		return -1;
	}
	return fd;
}

int pktsh_outfile_open(const char *path, const void *head, size_t len,
		       struct pktsh_err *err)
{
	struct stat st;
	int fd;

	if (!strcmp(path, "-") || !strcmp(path, "/dev/stdout")) {
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			pktsh_err_set(err, errno, "standard output: %s", strerror(errno));
		return started(fd, path, head, len, err);
	}
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			pktsh_err_set(err, ELOOP, "'%s' is a symbolic link: pktsh does not "
				      "write through a link at an output path (one planted "
				      "in a shared directory could point at any file); remove "
				      "it or give the path of the file itself", path);
			return -1;
		}
		if (S_ISDIR(st.st_mode)) {
			pktsh_err_set(err, EISDIR, "'%s' is a directory", path);
			return -1;
		}
		if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))
			return started(open_special(path, err), path, head, len, err);
		if (!S_ISREG(st.st_mode)) {
			pktsh_err_set(err, EINVAL, "'%s' is not a regular file, a FIFO or "
				      "a device", path);
			return -1;
		}
	} else if (errno != ENOENT) {
		pktsh_err_set(err, errno, "cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	return create_replacing(path, head, len, err);
}

int pktsh_output_write(const char *path, const char *data, size_t len,
		       struct pktsh_err *err)
{
	int fd = pktsh_outfile_open(path, data, len, err);

	if (fd < 0)
		return -1;
	if (close(fd)) {
		pktsh_err_set(err, errno, "closing '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
