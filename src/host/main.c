/*
 * main.c - the pktsh command line: options, the Lua state, and the choice
 * between running a script, running -e chunks and the REPL.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "source/writer.h"
#include "host.h"

static const char usage_text[] =
	"usage: pktsh [options] [SCRIPT [ARGS...]]\n"
	"       pktsh [options] CAPTURE [FILTER...]\n"
	"       pktsh [options] -i IFACE [FILTER...]\n"
	"\n"
	"A Lua-scriptable packet inspection shell. Without SCRIPT or -e it\n"
	"starts the interactive REPL. Given a pcap/pcapng file (CAPTURE) or\n"
	"-i IFACE, the REPL starts with the global `src` open on it (FILTER:\n"
	"a tcpdump expression, the words joined).\n"
	"\n"
	"  -e CHUNK     run the Lua CHUNK (may be given more than once)\n"
	"  -i           enter the REPL after SCRIPT or -e, keeping their globals\n"
	"  -i IFACE     start the REPL with `src` open on the interface IFACE\n"
	"               (a word after -i that is not a file)\n"
	"  -j N         run pktsh.parallel work in N threads (fanout workers)\n"
	"  -Z USER      become USER (no capabilities left) once the first source\n"
	"               is open: a file, an interface, XDP rules or a sender\n"
	"  -h, --help   show this help and exit\n"
	"  --version    print the version and exit\n"
	"  --           stop handling options\n"
	"\n"
	"SCRIPT receives ARGS in the global `arg` (arg[0] is SCRIPT) and as `...`;\n"
	"`-` reads the script from standard input. A SCRIPT name without a '/'\n"
	"that is not in the current directory is looked for in $PKTSH_SCRIPTS\n"
	"(directories separated by ':'), then in the installed scripts\n"
	"(share/pktsh/scripts beside bin/pktsh): `pktsh dump.lua eth0`.\n"
	"-e chunks get ARGS too; without SCRIPT: pktsh -e CHUNK -- ARGS...\n"
	"\n"
	"examples:\n"
	"  pktsh scripts/dump.lua capture.pcap 'udp port 53'\n"
	"  pktsh -e 'for p in open(\"f.pcap\"):packets() do print(p:summary()) end'\n"
	"\n"
	"environment: PKTSH_PATH=DIR loads the Lua library from DIR instead of\n"
	"the copy compiled into the binary.\n"
	"\n"
	"A pktsh with file capabilities or setuid runs only root-owned scripts:\n"
	"no -e, no REPL, no PKTSH_PATH/LUA_PATH (see the README, Privileges).\n";

struct options {
	const char *chunks[64];
	int nchunks;
	int interactive;
	int script;             /* index in argv of SCRIPT, or 0 */
	int source;             /* index in argv of CAPTURE or IFACE, or 0 */
	int dashdash;           /* -e ... -- ARGS without SCRIPT: index of --, or 0 */
	char *found;            /* SCRIPT found on the script path, or NULL */
	char *script_path;      /* the file to load, in secure-execution mode */
};

static int usage_error(const char *fmt, const char *what)
{
	fprintf(stderr, "pktsh: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\nTry 'pktsh -h' for help.\n");
	return 2;
}

/* Whether path is a pcap or pcapng file (by its first four bytes), so
 * `pktsh capture.pcap` opens it rather than running it as Lua. */
static int is_capture(const char *path)
{
	static const unsigned char magic[][4] = {
		{ 0xd4, 0xc3, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0xc3, 0xd4 },
		{ 0x4d, 0x3c, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0x3c, 0x4d },
		{ 0x0a, 0x0d, 0x0d, 0x0a },
	};
	unsigned char b[4];
	size_t i, n = 0;
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : NULL;

	if (f) {
		n = fread(b, 1, sizeof(b), f);
		fclose(f);
	}
	for (i = 0; n == sizeof(b) && i < sizeof(magic) / sizeof(magic[0]); i++)
		if (!memcmp(b, magic[i], sizeof(b)))
			return 1;
	return 0;
}

/* -i followed by a word that is no file names an interface (`pktsh -i
 * eth0`); -i before a script or alone keeps its REPL-after meaning. */
static int is_iface_word(const char *w)
{
	return w && w[0] != '-' && access(w, F_OK) != 0;
}

/* Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
			printf("pktsh %s (%s)\n", PKTSH_VERSION, LUAJIT_VERSION);
			return 0;
		} else if (!strcmp(a, "-i") && is_iface_word(argv[i + 1])) {
			o->source = i + 1;
			return -1;
		} else if (!strcmp(a, "-i")) {
			o->interactive = 1;
		} else if (!strncmp(a, "-j", 2)) {
			const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			char *end;
			long n = v ? strtol(v, &end, 10) : 0;

			if (!v || !*v || *end || n < 1 || n > 1024)
				return usage_error("option -j needs a worker count from 1 to 1024, not '%s'",
						   v ? v : "");
			pktsh_jobs_set((int)n);
		} else if (!strcmp(a, "-e")) {
			if (++i == argc)
				return usage_error("option '%s' needs a Lua chunk", a);
			if (o->nchunks == (int)(sizeof(o->chunks) / sizeof(o->chunks[0])))
				return usage_error("too many %s options", "-e");
			o->chunks[o->nchunks++] = argv[i];
		} else if (!strcmp(a, "-Z")) {
			if (++i == argc)
				return usage_error("option '%s' needs a user name", a);
			if (pktsh_privs_request(argv[i]))
				return usage_error("-Z: no user '%s'", argv[i]);
		} else if (!strcmp(a, "--")) {
			/* after -e, the words after -- are the chunks' ARGS */
			if (o->nchunks)
				o->dashdash = i;
			else if (i + 1 < argc)
				o->script = i + 1;
			return -1;
		} else if (a[0] == '-' && a[1] != '\0') {
			return usage_error("unknown option '%s'", a);
		} else if (is_capture(a)) {
			o->source = i;
			return -1;
		} else {
			o->script = i;
			return -1;
		}
	}
	return -1;
}

/* The environment variables that would choose code to run. */
static const char *const code_env[] = {
	"PKTSH_PATH", "LUA_PATH", "LUA_CPATH", "LUA_INIT", "LUA_PATH_5_1",
	"LUA_CPATH_5_1", "LUA_INIT_5_1", "LIBXDP_OBJECT_PATH", "LIBXDP_BPFFS",
};

static int secure_refuse(const char *what)
{
	fprintf(stderr, "pktsh: refusing %s: this pktsh has file capabilities or "
		"is setuid (secure-execution mode), so it runs only scripts root "
		"owns; anything else would let any local user run their own Lua "
		"with those privileges. Run pktsh as root with -Z USER instead, or "
		"from a service with AmbientCapabilities= (README, Privileges).\n",
		what);
	return 1;
}

/* In secure-execution mode (privs.c): -1 to go on, or an exit status. */
static int secure_checks(char **argv, struct options *o)
{
	struct pktsh_err err = { 0, "" };
	char what[80];
	size_t i;

	for (i = 0; i < sizeof(code_env) / sizeof(code_env[0]); i++)
		if (getenv(code_env[i])) {
			snprintf(what, sizeof(what), "%s from the environment",
				 code_env[i]);
			return secure_refuse(what);
		}
	if (o->nchunks)
		return secure_refuse("-e");
	if (o->interactive || !o->script)
		return secure_refuse("the REPL");
	if (!strcmp(argv[o->script], "-"))
		return secure_refuse("a script on standard input");
	if (pktsh_secure_script(o->found ? o->found : argv[o->script], &o->script_path, &err)) {
		fprintf(stderr, "pktsh: %s\n", err.msg);
		return 1;
	}
	return -1;
}


static int load_library(lua_State *L)
{
	if (pktsh_require(L, "pktsh"))
		return -1;
	lua_getfield(L, -1, "install_globals");
	lua_pushvalue(L, -2);
	lua_setglobal(L, "pktsh");
	lua_pushvalue(L, LUA_GLOBALSINDEX);
	lua_call(L, 1, 0);
	lua_pop(L, 1);
	return 0;
}

/* arg: ARGS from 1, SCRIPT (or "-e" for -e ... -- ARGS) at 0, the
 * program and options before it at negative indices, as lua does. */
static void set_arg_table(lua_State *L, int argc, char **argv, const struct options *o)
{
	int base = o->script ? o->script : o->dashdash ? o->dashdash : argc;
	int i;

	lua_createtable(L, argc, 2);
	for (i = 0; i < argc; i++) {
		if (i == base && o->dashdash)
			lua_pushliteral(L, "-e");
		else
			lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - base);
	}
	lua_setglobal(L, "arg");
}

/* Pushes ARGS (the words after SCRIPT, or after -e ... --): their count. */
static int push_args(lua_State *L, int argc, char **argv, const struct options *o)
{
	int base = o->script ? o->script : o->dashdash ? o->dashdash : argc;
	int i;

	for (i = base + 1; i < argc; i++)
		lua_pushstring(L, argv[i]);
	return argc > base ? argc - base - 1 : 0;
}

static int run_script(lua_State *L, int argc, char **argv, const struct options *o)
{
	const char *path = o->script_path ? o->script_path :
			   o->found ? o->found : argv[o->script];
	int status;

	if (!strcmp(path, "-"))
		path = NULL;
	status = luaL_loadfile(L, path);
	if (status == 0)
		status = pktsh_run_chunk(L, 0, push_args(L, argc, argv, o), 0);
	return pktsh_report(L, status);
}

/* Each chunk gets ARGS as `...`, as a script does. */
static int run_chunks(lua_State *L, int argc, char **argv, const struct options *o)
{
	int i;

	for (i = 0; i < o->nchunks; i++) {
		int status = luaL_loadbuffer(L, o->chunks[i],
					     strlen(o->chunks[i]), "=(-e)");
		int n = status ? 0 : push_args(L, argc, argv, o);

		if (pktsh_report(L, pktsh_run_chunk(L, status, n, 0)))
			return -1;
	}
	return 0;
}

/* The global `src`, open on argv[o->source] with the words after it as
 * the filter (pktsh.host.repl's open_source, which also sets the REPL's
 * greeting); -1 if it cannot be opened. */
static int open_source(lua_State *L, int argc, char **argv, const struct options *o)
{
	int i, ok;

	if (pktsh_require(L, "pktsh.host.repl"))
		return -1;
	lua_getfield(L, -1, "open_source");
	lua_remove(L, -2);
	for (i = o->source; i < argc; i++)
		lua_pushstring(L, argv[i]);
	if (pktsh_report(L, pktsh_run_chunk(L, 0, argc - o->source, 2)))
		return -1;
	ok = lua_toboolean(L, -2);
	if (!ok)
		fprintf(stderr, "pktsh: %s\n", lua_tostring(L, -1));
	lua_pop(L, 2);
	return ok ? 0 : -1;
}

/* A script stopped by Ctrl-C or SIGTERM that wound down by itself ends 0. */
static int run(lua_State *L, int argc, char **argv, const struct options *o)
{
	int repl = o->interactive || o->source || (!o->script && !o->nchunks);

	pktsh_signals_install(L, PKTSH_SIG_SCRIPT);
	set_arg_table(L, argc, argv, o);
	if (o->source && open_source(L, argc, argv, o))
		return 1;
	if (run_chunks(L, argc, argv, o))
		return 1;
	if (o->script && run_script(L, argc, argv, o))
		return pktsh_signals_caught() ? 128 + pktsh_signals_caught() : 1;
	if (!repl)
		return 0;
	pktsh_signals_mode(PKTSH_SIG_REPL);
	pktsh_signals_reset(L);
	return pktsh_repl(L);
}

int main(int argc, char **argv)
{
	struct options o = {0};
	lua_State *L;
	int rc;

	pktsh_memory_init();
	rc = parse_options(argc, argv, &o);
	if (rc < 0 && o.script)
		o.found = pktsh_script_find(argv[o.script], pktsh_secure_mode());
	if (rc < 0 && pktsh_secure_mode())
		rc = secure_checks(argv, &o);
	if (rc >= 0)
		return rc;
	L = pktsh_newstate();
	if (!L) {
		fprintf(stderr, "pktsh: cannot create a Lua state (out of memory)\n");
		return 1;
	}
	luaL_openlibs(L);
	pktsh_setup_package(L);
	atexit(pktsh_writers_close_all);
	rc = load_library(L) ? 1 : run(L, argc, argv, &o);
	lua_close(L);
	pktsh_writers_close_all();
	free(o.script_path);
	free(o.found);
	return rc;
}
