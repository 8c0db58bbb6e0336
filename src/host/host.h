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

/* scriptpath.c: the file a bare script name stands for when it is not in
 * the current directory ($PKTSH_SCRIPTS, unless secure, then the
 * installed scripts), malloc'd; NULL to use the name as given. */
char *pktsh_script_find(const char *name, int secure);

/* run.c: load and run chunks with a traceback handler */
int pktsh_run_chunk(lua_State *L, int status, int nargs, int nres);
int pktsh_report(lua_State *L, int status);
int pktsh_require(lua_State *L, const char *name);

/* privs.c: whether the kernel ran us in secure-execution mode (AT_SECURE:
 * setuid or file capabilities); whether a script may run in that mode
 * (its resolved path in *real, malloc'd). -Z USER is pktsh.h's
 * pktsh_privs_request. */
int pktsh_secure_mode(void);
int pktsh_secure_script(const char *path, char **real, struct pktsh_err *err);

/* memory.c: the C heap on huge pages (first thing in main), and a Lua
 * state whose memory comes from it (the main one and workers'). */
void pktsh_memory_init(void);
lua_State *pktsh_newstate(void);

/* repl.c */
int pktsh_repl(lua_State *L);

#endif
