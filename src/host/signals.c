/*
 * signals.c - Ctrl-C and SIGTERM.
 *
 * The first signal asks politely: loops over sources (which call
 * pktsh_stopping() once per batch) end as if the input had ended, so a
 * script still prints its statistics and closes its writers. A Lua hook
 * stands behind them: in a script it raises "interrupted" only if no
 * source loop noticed the stop within STOP_GRACE_NS (the script is busy
 * elsewhere); in the REPL it raises at once. A second signal insists:
 * writers are flushed with write(2) and the process exits. In the REPL
 * the stop is cleared at every prompt, and only a second Ctrl-C within a
 * second insists.
 *
 * Hooks do not run inside JIT-compiled traces, so a script spinning in a
 * compiled loop would never hear the first signal: in a script, an alarm
 * set by it ends the process, writers flushed, STOP_FORCE_SECONDS later.
 */
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "source/writer.h"
#include "host.h"

/* stop_flag and observed are also read and written by fanout workers'
 * threads (pktsh_stopping), so every access is atomic: lock-free atomics
 * are as safe in a handler as sig_atomic_t, and they are not data races. */
static int stop_flag;
static volatile sig_atomic_t caught;
static int observed;                    /* a source loop saw the stop */
static volatile sig_atomic_t mode;
static volatile sig_atomic_t at_prompt;
static volatile sig_atomic_t prompt_signal;
static int64_t last_signal_ns;
static lua_State *hook_state;
static volatile sig_atomic_t winch_count;

/* The terminal was resized: redrawing reports look at the count. */
static void on_winch(int sig)
{
	(void)sig;
	winch_count++;
}

int32_t pktsh_winch(void)
{
	return winch_count;
}

#define GET(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)
#define SET(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELAXED)

#define STOP_GRACE_NS 300000000
#define STOP_FORCE_SECONDS 3

static void die(int sig, const char *msg, size_t len)
{
	pktsh_writers_emergency_flush();
	if (write(STDERR_FILENO, msg, len) < 0) {
		/* nothing more to do */
	}
	_exit(128 + sig);
}

static void on_alarm(int sig)
{
	static const char msg[] = "\npktsh: interrupted, and the script did "
		"not stop by itself; exiting\n";

	(void)sig;
	if (GET(stop_flag))
		die(caught, msg, sizeof(msg) - 1);
}

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	if (GET(observed) || !GET(stop_flag)) {
		lua_sethook(L, NULL, 0, 0);
		return;
	}
	if (mode == PKTSH_SIG_SCRIPT &&
	    pktsh_mono_ns() - last_signal_ns < STOP_GRACE_NS)
		return;
	lua_sethook(L, NULL, 0, 0);
	luaL_error(L, "interrupted");
}

static void arm_hook(void)
{
	if (hook_state)
		lua_sethook(hook_state, interrupt_hook,
			    LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1000);
}

static void on_signal(int sig)
{
	int saved_errno = errno;  /* the interrupted code may be about to read it */
	int64_t now = pktsh_mono_ns();
	int insist = GET(stop_flag) &&
		(mode == PKTSH_SIG_SCRIPT || now - last_signal_ns < 1000000000);

	/* At the REPL prompt nothing runs: the line editor handles it. */
	if (at_prompt) {
		prompt_signal = sig;
		errno = saved_errno;
		return;
	}
	if (insist) {
		static const char msg[] = "\npktsh: interrupted twice, exiting\n";

		die(sig, msg, sizeof(msg) - 1);
	}
	SET(stop_flag, 1);
	SET(observed, 0);
	caught = sig;
	last_signal_ns = now;
	arm_hook();
	if (mode == PKTSH_SIG_SCRIPT)
		alarm(STOP_FORCE_SECONDS);
	errno = saved_errno;
}

/* The signals the host handles: SIGINT, SIGTERM and SIGALRM here, and
 * those readline catches at the prompt. Worker threads block them all,
 * so the kernel delivers each to the main thread, whose handlers and
 * Lua state they concern. */
void pktsh_signals_host_set(sigset_t *set)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGALRM, SIGHUP, SIGQUIT,
				    SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH };
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(set, sigs[i]);
}

void pktsh_signals_install(lua_State *L, enum pktsh_sigmode m)
{
	struct sigaction sa;

	hook_state = L;
	mode = m;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	/* restarted: a resize must not cut a read or write short */
	sa.sa_handler = on_winch;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGWINCH, &sa, NULL);
}

void pktsh_signals_mode(enum pktsh_sigmode m)
{
	mode = m;
	alarm(0);
}

void pktsh_signals_reset(lua_State *L)
{
	lua_sethook(L, NULL, 0, 0);
	SET(stop_flag, 0);
	SET(observed, 0);
	caught = 0;
}

/*
 * The REPL brackets its line reading with these: a signal there neither
 * stops nor exits, it is only recorded for the editor (readline's
 * rl_signal_event_hook) to clear the line or, for SIGTERM, to quit after
 * restoring the terminal.
 */
void pktsh_signals_prompt(int on)
{
	prompt_signal = 0;
	at_prompt = on;
}

int pktsh_signals_prompt_take(void)
{
	int sig = prompt_signal;

	prompt_signal = 0;
	return sig;
}

int pktsh_signals_caught(void)
{
	return caught;
}

int pktsh_stopping(void)
{
	int stop = GET(stop_flag);

	if (stop)
		SET(observed, 1);
	return stop;
}

