-- hostile_metrics.lua ADDR SECONDS: serves a registry whose label values
-- are hostile raw bytes (quotes, backslashes, newlines, bytes that are
-- not UTF-8) on ADDR for SECONDS, for a real Prometheus to parse.
-- Prints "serving N" (the number of series) once it serves.
local addr, secs = arg[1], tonumber(arg[2] or 10)
local reg = pktsh.metrics.new()
local g = reg:gauge("pktsh_test_hostile", "Hostile label values\n\\ \"quoted\" help", {labels = {"v"}})
local values = {'a"b', "c\\d", "e\nf", "\255\254", "\192\128", "\237\160\128", "\226\130",
                "ok\195\169", "tab\tcr\r", '\\"\n'}
for i, v in ipairs(values) do g:set(i, v) end
local srv = assert(pktsh.metrics.serve(addr, reg))
assert(srv:publish())
print("serving " .. g.nseries)
io.stdout:flush()
local t_end = pktsh.now() + secs * 1e9
while pktsh.now() < t_end and require("ffi").C.pktsh_stopping() == 0 do os.execute("sleep 0.2") end
srv:close()
