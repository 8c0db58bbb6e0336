/*
 * memory.c - where the process's memory comes from: the C heap on
 * transparent huge pages, and the Lua states' memory from that heap.
 *
 * Why: making a fresh 4 KiB page present costs a page fault, and on a
 * virtual machine that keeps shadow page tables (as the bench machine
 * does) about 30 us: a dnsstats run touched about 1,000 pages before its
 * first packet (50 ms of CPU, the C loop's 160 pages 11 ms) and another
 * 3,000 on a million packets (the top-k labels, the Lua heap, the batch
 * ring, the latency tables). A 2 MiB huge page costs one fault. So the
 * main heap is grown in one step, asked for huge pages (a hint: with THP
 * off it is 4 KiB pages as before), and large blocks come from it rather
 * than from a mapping each (which would fault again page by page at each
 * allocation); Lua's memory comes from the same heap instead of
 * LuaJIT's own mappings.
 *
 * Memory still follows use: untouched pages of the heap are not
 * resident, a huge page is made present only where something is written.
 */
#include <lauxlib.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "host.h"

#define HUGE_PAGE ((uintptr_t)2 << 20)
/* The heap is reserved this much ahead at once (virtual memory only),
 * and blocks up to glibc's largest mmap threshold come from it. */
#define HEAP_AHEAD ((size_t)64 << 20)
#define MMAP_FROM ((size_t)32 << 20)

/* the heap below the first huge page boundary (see pktsh_memory_init) */
static void *volatile filler;   /* volatile: kept, though never read */

void pktsh_memory_init(void)
{
	void *p;
	uintptr_t at, lo, hi;

	if (!mallopt(M_MMAP_THRESHOLD, (int)MMAP_FROM) ||
	    !mallopt(M_TRIM_THRESHOLD, (int)(2 * HEAP_AHEAD)) ||
	    !mallopt(M_TOP_PAD, (int)HEAP_AHEAD))
		return;
	/* one block that grows the heap by HEAP_AHEAD, handed back at once:
	 * its pages stay untouched (glibc writes chunk headers only) */
	p = malloc(HEAP_AHEAD / 4);
	if (!p)
		return;
	at = (uintptr_t)p;
	lo = (at + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	free(p);
	/* the heap up to the first huge page boundary is taken and kept
	 * (address space only: never written), so what is allocated next
	 * starts on huge pages rather than on the 4 KiB pages below it */
	if (lo - at > 64)
		filler = malloc(lo - at - 64);
	hi = (uintptr_t)sbrk(0) & ~(HUGE_PAGE - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	(void)osize;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	return realloc(ptr, nsize);
}

static int panic(lua_State *L)
{
	const char *s = lua_tostring(L, -1);

	fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n",
		s ? s : "?");
	fflush(stderr);
	return 0;
}

lua_State *pktsh_newstate(void)
{
	lua_State *L = lua_newstate(lua_alloc, NULL);

	if (L)
		lua_atpanic(L, panic);
	return L;
}
