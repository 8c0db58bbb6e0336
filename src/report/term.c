/*
 * term.c - the terminal under reports redrawn in place (the C side of
 * lua/pktsh/report/term.lua): whether a descriptor is a terminal and its
 * size, which changes under a running report (SIGWINCH, signals.c).
 */
#include <sys/ioctl.h>
#include <unistd.h>
#include "pktsh.h"

int pktsh_term_size(int32_t fd, int32_t *rows, int32_t *cols)
{
	struct winsize ws;

	if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) || !ws.ws_col || !ws.ws_row)
		return -1;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}
