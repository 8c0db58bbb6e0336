/* host.h - internal interfaces of the pktsh binary (not part of the FFI). */
#ifndef PKTSH_HOST_H
#define PKTSH_HOST_H
#include <lua.h>
#include <signal.h>
#include "pktsh.h"

#define PKTSH_VERSION "0.1.0"

/* luamods.c (generated): put the compiled-in Lua library into package.preload. */
void pktsh_luamods_preload(lua_State *L);

/* main.c: package.preload and PKTSH_PATH for a new state (workers too). */
void pktsh_setup_package(lua_State *L);

/* workers.c: the default worker count, from -j N. */
void pktsh_jobs_set(int n);

/* signals.c */
enum pktsh_sigmode { PKTSH_SIG_SCRIPT, PKTSH_SIG_REPL };
void pktsh_signals_install(lua_State *L, enum pktsh_sigmode mode);
void pktsh_signals_host_set(sigset_t *set); /* what worker threads block */
void pktsh_signals_mode(enum pktsh_sigmode mode);
void pktsh_signals_reset(lua_State *L);   /* clear the stop flag and the hook */
int pktsh_signals_caught(void);           /* signal number that stopped us, or 0 */
void pktsh_signals_prompt(int on);        /* REPL: reading a line, not running */
int pktsh_signals_prompt_take(void);      /* signal seen at the prompt, or 0; clears it */

/* outfile.c: an output file opened without following a planted link,
 * holding head already; the descriptor, or -1. */
int pktsh_outfile_open(const char *path, const void *head, size_t len,
		       struct pktsh_err *err);
int pktsh_write_all(int fd, const void *p, size_t n);  /* 0, or -1 and errno */

/* writer.c */
void pktsh_writers_close_all(void);
void pktsh_writers_emergency_flush(void); /* async-signal-safe; then _exit */

/* run.c: load and run chunks with a traceback handler */
int pktsh_run_chunk(lua_State *L, int status, int nargs, int nres);
int pktsh_report(lua_State *L, int status);

/* privs.c: -Z USER (0, or -1 when there is no such user); whether the
 * kernel ran us in secure-execution mode (AT_SECURE: setuid or file
 * capabilities); whether a script may run in that mode (its resolved
 * path in *real, malloc'd). */
int pktsh_privs_request(const char *user);
int pktsh_secure_mode(void);
int pktsh_secure_script(const char *path, char **real, struct pktsh_err *err);

/* repl.c */
int pktsh_repl(lua_State *L);

/* hash.c: SipHash-1-3 under a key of one's own. pktsh_hash_key gives
 * the process key (drawn once, shared by every thread); pktsh_hash_rekey
 * draws fresh random bits (0, or -1 when the kernel gave none and the
 * key is only hard to guess). */
struct pktsh_hkey {
	uint64_t k0, k1;
};
void pktsh_hash_key(struct pktsh_hkey *out);
int pktsh_hash_rekey(struct pktsh_hkey *k);

/* hash.c: the tables' slot hash, NH then simple tabulation, under random
 * tables: the process's (pktsh_tabhash_process, drawn once), or a
 * table's own after pktsh_tabhash_fill (0, or -1 as for rekey). Keys of
 * bytes are at most PKTSH_TABHASH_MAX bytes long. */
enum { PKTSH_TABHASH_MAX = 256 };
struct pktsh_tabhash {
	uint32_t tab[8][256];
	uint32_t nh[PKTSH_TABHASH_MAX / 4];
};
const struct pktsh_tabhash *pktsh_tabhash_process(void);
int pktsh_tabhash_fill(struct pktsh_tabhash *h);
uint32_t pktsh_tabhash_bytes(const struct pktsh_tabhash *h, const void *p, uint32_t len);

/* What the tables' lookups cost (pending.c, topk.c), as struct
 * pktsh_table_stats reports it; an insert PKTSH_PROBE_LIMIT or more
 * slots from home makes a table draw tables of its own. */
enum { PKTSH_PROBE_LIMIT = 128 };
struct pktsh_probes {
	uint64_t lookups, probes, rekeys;
	uint32_t max_probe;
};

static inline void pktsh_probes_count(struct pktsh_probes *p, uint32_t n)
{
	p->lookups++;
	p->probes += n;
	if (n > p->max_probe)
		p->max_probe = n;
}

int pktsh_probes_stats(const struct pktsh_probes *p, struct pktsh_table_stats *out);

static inline uint32_t pktsh_tabhash_u64(const struct pktsh_tabhash *h, uint64_t x)
{
	return h->tab[0][x & 255] ^ h->tab[1][x >> 8 & 255] ^ h->tab[2][x >> 16 & 255] ^
	       h->tab[3][x >> 24 & 255] ^ h->tab[4][x >> 32 & 255] ^ h->tab[5][x >> 40 & 255] ^
	       h->tab[6][x >> 48 & 255] ^ h->tab[7][x >> 56];
}

void pktsh_err_set(struct pktsh_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#endif
