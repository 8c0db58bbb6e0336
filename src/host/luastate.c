/*
 * luastate.c - what every Lua state of the host needs before it runs
 * anything: the library, compiled in or from PKTSH_PATH. main.c sets up
 * the first state with it, workers.c each worker's.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include "host.h"

/* package.preload gets the compiled-in library; PKTSH_PATH overrides all
 * of it but the generated FFI declarations, which belong to this binary.
 * In secure-execution mode require finds nothing else: LuaJIT's default
 * path begins with ./?.lua, the caller's directory. */
void pktsh_setup_package(lua_State *L)
{
	const char *dir = getenv("PKTSH_PATH");

	pktsh_luamods_preload(L);
	if (pktsh_secure_mode()) {
		lua_getglobal(L, "package");
		lua_pushliteral(L, "");
		lua_setfield(L, -2, "path");
		lua_pushliteral(L, "");
		lua_setfield(L, -2, "cpath");
		lua_pop(L, 1);
		return;
	}
	if (!dir || !*dir)
		return;
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pop(L, 1);
		const char *name = lua_tostring(L, -1);

		if ((!strcmp(name, "pktsh") || !strncmp(name, "pktsh.", 6)) &&
		    strcmp(name, "pktsh.cdef")) {
			lua_pushvalue(L, -1);
			lua_pushnil(L);
			lua_rawset(L, -4);
		}
	}
	lua_pop(L, 1);
	lua_getfield(L, -1, "path");
	lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir,
			lua_tostring(L, -1));
	lua_setfield(L, -3, "path");
	lua_pop(L, 2);
}

/* The host's version, for the library (pktsh.version). */
const char *pktsh_version(void)
{
	return PKTSH_VERSION;
}
