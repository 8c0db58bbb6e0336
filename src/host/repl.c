/*
 * repl.c - the interactive REPL: line editing, history, the lua.c rules
 * for multi-line input, evaluation under the Ctrl-C machinery of
 * signals.c. Everything about values (printing, completion candidates,
 * help texts) lives in lua/pktsh/repl.lua; this file stays a thin host.
 *
 * When stdin is not a terminal, lines are read plainly (no prompt, no
 * echo, no history) with the same rules, so `echo '1+1' | pktsh` prints 2.
 */
#include <errno.h>
#include <lauxlib.h>
#include <luajit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <readline/history.h>
#include <readline/readline.h>
#include "host.h"

#define HISTORY_MAX 1000
#define PROMPT "> "
#define PROMPT2 ">> "
#define EOFMARK "'<eof>'"

/* readline's callbacks take no user data, hence one static session. */
static struct {
	lua_State *L;
	int tty;
	int mod;           /* registry reference of the pktsh.repl module */
	char *histfile;    /* NULL: no history file */
	int failed;        /* a chunk failed: the exit status when piped */
	int cancelled;     /* Ctrl-C at the prompt: drop the pending chunk */
} R;

/* --- history ----------------------------------------------------------- */

/* $PKTSH_HISTORY (empty: none), else ~/.pktsh_history. */
static char *history_path(void)
{
	const char *p = getenv("PKTSH_HISTORY");
	const char *home = getenv("HOME");
	size_t n;
	char *path;

	if (p)
		return *p ? strdup(p) : NULL;
	if (!home || !*home)
		return NULL;
	n = strlen(home) + sizeof("/.pktsh_history");
	path = malloc(n);
	if (path)
		snprintf(path, n, "%s/.pktsh_history", home);
	return path;
}

/* readline writes through symbolic links (and truncates what it finds):
 * a history file that is a link, or not this user's own regular file,
 * is left alone, as output files are (outfile.c). */
static int history_usable(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT;
	if (S_ISREG(st.st_mode) && st.st_uid == geteuid())
		return 1;
	fprintf(stderr, "pktsh: not using the history file %s: it is %s\n", path,
		S_ISLNK(st.st_mode) ? "a symbolic link" :
		!S_ISREG(st.st_mode) ? "not a regular file" : "another user's");
	return 0;
}

/* Timestamp lines delimit entries, so multi-line chunks come back whole. */
static void history_open(void)
{
	stifle_history(HISTORY_MAX);
	history_comment_char = '#';   /* timestamps are written as #<seconds> */
	history_write_timestamps = 1;
	history_multiline_entries = 1;
	R.histfile = history_path();
	if (R.histfile && !history_usable(R.histfile)) {
		free(R.histfile);
		R.histfile = NULL;
	}
	if (!R.histfile)
		return;
	history_truncate_file(R.histfile, HISTORY_MAX);
	/* append_history() needs an existing file; write_history makes it 0600. */
	if (read_history(R.histfile) == ENOENT)
		write_history(R.histfile);
}

/*
 * Each entry is appended as soon as it is read: a second Ctrl-C, which
 * exits from the signal handler, cannot lose history.
 */
static void history_save(const char *chunk)
{
	HIST_ENTRY *last = history_get(history_base + history_length - 1);

	if (!*chunk || (last && !strcmp(last->line, chunk)))
		return;
	add_history(chunk);
	if (R.histfile)
		append_history(1, R.histfile);
}

static void history_close(void)
{
	if (R.histfile)
		history_truncate_file(R.histfile, HISTORY_MAX);
	free(R.histfile);
	R.histfile = NULL;
}

/* Exit from the prompt (SIGTERM): terminal restored, writers closed by atexit. */
static void quit(int status)
{
	if (R.tty)
		rl_cleanup_after_signal();
	history_close();
	fflush(stdout);
	exit(status);
}

/* --- calling repl.lua -------------------------------------------------- */

/* Pushes repl.<name>. */
static void push_fn(lua_State *L, const char *name)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, R.mod);
	lua_getfield(L, -1, name);
	lua_remove(L, -2);
}

/* --- completion -------------------------------------------------------- */

static int cand_index;

/* Hands readline the candidates left on the Lua stack by complete(). */
static char *next_candidate(const char *text, int state)
{
	lua_State *L = R.L;
	const char *s;

	(void)text;
	if (state == 0)
		cand_index = 0;
	lua_rawgeti(L, -1, ++cand_index);
	s = lua_tostring(L, -1);
	lua_pop(L, 1);
	return s ? strdup(s) : NULL;
}

/*
 * repl.complete(line before the cursor, word) returns the full words that
 * may replace word, or nil inside a string literal: readline then
 * completes a file name.
 */
static char **complete(const char *text, int start, int end)
{
	lua_State *L = R.L;
	int top = lua_gettop(L);
	char **matches = NULL;

	(void)start;
	rl_attempted_completion_over = 1;
	rl_completion_suppress_append = 1;
	push_fn(L, "complete");
	lua_pushlstring(L, rl_line_buffer, end);
	lua_pushstring(L, text);
	if (pktsh_run_chunk(L, 0, 2, 1) == 0) {
		if (lua_istable(L, -1)) {
			matches = rl_completion_matches(text, next_candidate);
		} else {
			rl_attempted_completion_over = 0;
			rl_completion_suppress_append = 0;
		}
	}
	lua_settop(L, top);
	return matches;
}

/* --- reading ----------------------------------------------------------- */

/*
 * Called by readline when a signal interrupts its read. Ctrl-C clears the
 * line (and any pending continuation) and shows a fresh prompt in place.
 */
static int on_rl_signal(void)
{
	int sig = pktsh_signals_prompt_take();

	if (!sig)
		return 0;
	if (sig != SIGINT)
		quit(128 + sig);
	R.cancelled = 1;
	rl_point = rl_end;
	rl_redisplay();
	fputs("^C", rl_outstream);
	rl_crlf();
	rl_replace_line("", 1);
	rl_set_prompt(PROMPT);
	rl_on_new_line();
	rl_redisplay();
	return 0;
}

/* getline() without its newline; a Ctrl-C while waiting drops the chunk. */
static char *read_plain(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int sig;

	for (;;) {
		errno = 0;
		n = getline(&line, &cap, stdin);
		if (n >= 0)
			break;
		if (errno != EINTR) {
			free(line);
			return NULL;
		}
		clearerr(stdin);
		sig = pktsh_signals_prompt_take();
		if (sig && sig != SIGINT)
			quit(128 + sig);
		R.cancelled = sig != 0;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	return line;
}

static char *read_line(const char *prompt)
{
	char *line;

	/* What the last line wrote is in its files while the user reads. */
	pktsh_writers_tick(1);
	pktsh_signals_prompt(1);
	/* A Ctrl-C just before the prompt must not interrupt completion code. */
	pktsh_signals_reset(R.L);
	line = R.tty ? readline(prompt) : read_plain();
	pktsh_signals_prompt(0);
	return line;
}

/* --- compiling --------------------------------------------------------- */

/* Loads "return " .. chunk (as_expr) or chunk; `=x` is lua.c's shorthand. */
static int load(lua_State *L, const char *chunk, int as_expr)
{
	const char *code = chunk;
	int status;

	if (*chunk == '=')
		code = lua_pushfstring(L, "return %s", chunk + 1);
	else if (as_expr)
		code = lua_pushfstring(L, "return %s", chunk);
	else
		lua_pushstring(L, chunk);
	status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
	lua_remove(L, -2);
	return status;
}

/* A syntax error that more lines could fix. */
static int incomplete(lua_State *L, int status)
{
	size_t len, mlen = sizeof(EOFMARK) - 1;
	const char *msg;

	if (status != LUA_ERRSYNTAX)
		return 0;
	msg = lua_tolstring(L, -1, &len);
	return len >= mlen && !strcmp(msg + len - mlen, EOFMARK);
}

/* Appends "\n" line to *buf; both are malloc'd, line is freed. */
static void join(char **buf, char *line)
{
	size_t a = strlen(*buf), b = strlen(line);
	char *s = realloc(*buf, a + b + 2);

	if (!s)
		abort();
	s[a] = '\n';
	memcpy(s + a + 1, line, b + 1);
	*buf = s;
	free(line);
}

/*
 * Reads lines until they compile or fail for a reason other than a missing
 * end; pushes the function or the error message and returns the load
 * status; returns -1 at the end of input with nothing pending.
 */
static int read_chunk(lua_State *L)
{
	char *buf, *line;
	int status;

	R.cancelled = 0;
	buf = read_line(PROMPT);
	if (!buf)
		return -1;
	for (;;) {
		R.cancelled = 0;
		status = load(L, buf, 1);
		if (status == 0)
			break;
		lua_pop(L, 1);
		status = load(L, buf, 0);
		if (!incomplete(L, status))
			break;
		line = read_line(PROMPT2);
		if (!line)
			break;            /* report the incomplete chunk */
		lua_pop(L, 1);
		if (R.cancelled) {
			free(buf);
			buf = line;
		} else {
			join(&buf, line);
		}
	}
	if (R.tty)
		history_save(buf);
	free(buf);
	return status;
}

/* --- evaluating -------------------------------------------------------- */

static int ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && !strcmp(s + a - b, tail);
}

/* An interrupt is not an error worth a message prefix or a traceback. */
static void report(lua_State *L, int status)
{
	const char *msg = lua_tostring(L, -1);

	fflush(stdout);
	R.failed = 1;
	if (pktsh_signals_caught() && msg && ends_with(msg, "interrupted")) {
		/* after the ^C the terminal echoed */
		fputs(R.tty ? "\ninterrupted\n" : "interrupted\n", stderr);
		lua_pop(L, 1);
	} else {
		pktsh_report(L, status);
	}
}

/*
 * Runs the function on top of the stack and prints what it returned.
 * The chunk itself is interpreted (JIT off, not its inner functions): a
 * loop typed at the prompt stays interruptible by the Lua hook, which
 * compiled traces never check; functions it defines are still compiled.
 */
static void evaluate(lua_State *L)
{
	int base = lua_gettop(L) - 1;
	int status;

	luaJIT_setmode(L, -1, LUAJIT_MODE_FUNC | LUAJIT_MODE_OFF);
	pktsh_signals_reset(L);
	status = pktsh_run_chunk(L, 0, 0, LUA_MULTRET);
	if (status == 0 && lua_gettop(L) > base) {
		push_fn(L, "print_results");
		lua_insert(L, base + 1);
		status = pktsh_run_chunk(L, 0, lua_gettop(L) - base - 1, 0);
	}
	if (status)
		report(L, status);
	else if (R.tty && pktsh_signals_caught())
		fputs("\n", stdout);   /* after the ^C the terminal echoed */
	fflush(stdout);
	lua_settop(L, base);
}

/* --- session ----------------------------------------------------------- */

static char breaks[] = " \t\n\"\\'`@$><=;|&{}()[],+-*/%^~#";

/* Whether the cursor is inside a string literal ('...' or "..."). */
static int in_string(const char *line, int point)
{
	char quote = 0;
	int i;

	for (i = 0; i < point && line[i]; i++) {
		if (quote && line[i] == '\\' && i + 1 < point)
			i++;
		else if (quote && line[i] == quote)
			quote = 0;
		else if (!quote && (line[i] == '"' || line[i] == '\''))
			quote = line[i];
	}
	return quote != 0;
}

/*
 * Inside a string the word is a file name: everything after the opening
 * quote (rl_completer_quote_characters), '/' and '-' included. readline
 * would still drop a break character right after the quote (the '/' of
 * "/tmp/..."), so there the only breaks are the quotes.
 */
static char *word_breaks(void)
{
	static char in_quotes[] = "\"'";

	return in_string(rl_line_buffer, rl_point) ? in_quotes : breaks;
}

static void editor_setup(void)
{

	rl_readline_name = "pktsh";
	rl_catch_signals = 0;           /* signals.c owns SIGINT and SIGTERM */
	rl_signal_event_hook = on_rl_signal;
	rl_attempted_completion_function = complete;
	rl_basic_word_break_characters = breaks;
	rl_completer_word_break_characters = breaks;
	/* a path inside a string completes as a whole (word_breaks) */
	rl_completer_quote_characters = "\"'";
	rl_completion_word_break_hook = word_breaks;
	history_open();
}

/* require "pktsh.host.repl" and its start(), which installs help() if missing. */
static int load_module(lua_State *L)
{
	if (pktsh_require(L, "pktsh.host.repl"))
		return -1;
	R.mod = luaL_ref(L, LUA_REGISTRYINDEX);
	push_fn(L, "start");
	lua_pushvalue(L, LUA_GLOBALSINDEX);
	return pktsh_report(L, pktsh_run_chunk(L, 0, 1, 0)) ? -1 : 0;
}

/* The module's greeting (`src = open(...)` when pktsh opened a source
 * for the session), under the banner. */
static void print_greeting(lua_State *L)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, R.mod);
	lua_getfield(L, -1, "greeting");
	if (lua_type(L, -1) == LUA_TSTRING)
		printf("%s\n", lua_tostring(L, -1));
	lua_pop(L, 2);
}

int pktsh_repl(lua_State *L)
{
	int status;

	R.L = L;
	R.tty = isatty(STDIN_FILENO);
	if (load_module(L))
		return 1;
	if (R.tty) {
		editor_setup();
		printf("pktsh %s (%s) \xe2\x80\x94 help() for help, Ctrl-D to exit\n",
		       PKTSH_VERSION, LUAJIT_VERSION);
		print_greeting(L);
		fflush(stdout);
	}
	while ((status = read_chunk(L)) != -1) {
		if (status)
			report(L, status);
		else
			evaluate(L);
	}
	if (R.tty) {
		history_close();
		return 0;
	}
	return R.failed;
}
