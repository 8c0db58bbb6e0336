/* run.c - running Lua chunks with a traceback, reporting errors like lua.c. */
#include <lauxlib.h>
#include <stdio.h>
#include "host.h"

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1))
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)",
				      luaL_typename(L, 1));
	}
	/* An interrupt is not a bug: no traceback for it. */
	if (pktsh_signals_caught()) {
		lua_pushstring(L, msg);
		return 1;
	}
	lua_getglobal(L, "debug");
	lua_getfield(L, -1, "traceback");
	lua_pushstring(L, msg);
	lua_pushinteger(L, 2);
	lua_call(L, 2, 1);
	return 1;
}

/* Call the function below nargs arguments if status (of loading it) is 0. */
int pktsh_run_chunk(lua_State *L, int status, int nargs, int nres)
{
	int base;

	if (status)
		return status;
	base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	status = lua_pcall(L, nargs, nres, base);
	lua_remove(L, base);
	return status;
}

int pktsh_report(lua_State *L, int status)
{
	if (status && !lua_isnil(L, -1)) {
		const char *msg = lua_tostring(L, -1);

		fprintf(stderr, "pktsh: %s\n", msg ? msg : "(error object is not a string)");
		fflush(stderr);
		lua_pop(L, 1);
	}
	return status;
}

/* require(name), its value pushed; an error is reported (pktsh_report)
 * and nothing pushed. 0 or -1. */
int pktsh_require(lua_State *L, const char *name)
{
	lua_getglobal(L, "require");
	lua_pushstring(L, name);
	return pktsh_report(L, pktsh_run_chunk(L, 0, 1, 1)) ? -1 : 0;
}
