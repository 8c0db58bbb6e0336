-- pktsh.parallel without root: real worker threads over lists of capture
-- files (the serialiser and the merges are tests/unit/test_serial.lua and
-- test_merge.lua; the live fanout is in tests/sh/test_workers.sh). Workers
-- load their script as a module (up to pktsh.main), so the threaded cases
-- run small scripts of their own, not this file.
local T = require "t"
local P = pktsh.parallel
local PKTSH = os.getenv("PKTSH_BIN") or "build/pktsh"

T.test("jobs and worker outside workers", function()
  T.eq(pktsh.jobs(), 1)
  T.eq(pktsh.worker(), nil)
end)

T.test("serial run: the same path as workers (arguments and results serialised)", function()
  local arg1 = {k = 1}
  local r, st = P("tests/pcaps/dnscap__dns.pcap", {filter = "icmp"}, function(src, a, b)
    a.k = 99        -- a copy: the caller's table is not changed
    local n = 0
    src:each(function() n = n + 1 end)
    return {n = n, b = b}
  end, arg1, "two")
  T.deq(r, {n = 41, b = "two"})
  T.eq(arg1.k, 1, "argument copied")
  T.eq(st.packets, 41); T.eq(#st.workers, 1); T.eq(st.interrupted, false)
  local r2, err = P("tests/pcaps/dnscap__dns.pcap", nil, function() return {f = print} end)
  T.eq(r2, nil); T.ok(err:find("cannot serialise a function at result.f", 1, true), err)
  local r3, err3 = P("tests/pcaps/dnscap__dns.pcap", nil, function() error("boom") end)
  T.eq(r3, nil); T.ok(err3:find("boom") and err3:find("stack traceback"), err3)
  local r4, err4 = P("tests/pcaps/dnscap__dns.pcap", nil, function() return 1 end, print)
  T.eq(r4, nil); T.ok(err4:find("function at argument[1]", 1, true), err4)
  local r5, err5 = P("/nonexistent.pcap", nil, function() return 1 end)
  T.eq(r5, nil); T.ok(err5:find("nonexistent"), err5)
end)

-- Runs a script (text) with pktsh and the given options: stdout, exit status.
local function run(text, opts, args)
  local path = os.tmpname()
  local f = assert(io.open(path, "w")); f:write(text); f:close()
  local p = io.popen(string.format("%s %s %s %s 2>&1; echo \"rc=$?\"", PKTSH, opts or "", path, args or ""))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  return out:gsub("rc=%d+\n$", ""), rc
end

local files_script = [[
local M = {}
function M.work(src, m)
  local t = {packets = 0, bytes = 0, proto = {}, workers = {}}
  src:each(function(p)
    t.packets = t.packets + 1
    t.bytes = t.bytes + p.len
    local pr = p:proto() or -1
    t.proto[pr] = (t.proto[pr] or 0) + 1
  end)
  t.workers[pktsh.worker() or 0] = 1
  if m == "fail" and pktsh.worker() == 2 then error("worker two failed") end
  if m == "exit" then os.exit(3) end
  return t
end
function M.main(...)
  local files = {}
  for f in io.popen("ls tests/pcaps/*.pcap tests/pcaps/*.pcapng | grep -v invalid"):lines() do
    files[#files + 1] = f
  end
  print("before the call")
  local mode = arg[1]
  local r, st = pktsh.parallel(files, {workers = tonumber(arg[2])}, M.work, mode)
  if not r then print("ERR " .. st); return end
  local w = 0
  for _ in pairs(r.workers) do w = w + 1 end
  r.workers = nil
  print(pktsh.json.encode(r), st.packets, #st.workers, w)
end
return pktsh.main(M)
]]

T.test("file workers: merged result equals the serial one", function()
  local serial, rc1 = run(files_script, "")
  local three, rc2 = run(files_script:gsub("arg%[2%]", "'3'"), "")
  local jobs, rc3 = run(files_script, "-j 4")
  T.eq(rc1, 0); T.eq(rc2, 0); T.eq(rc3, 0)
  local s1 = serial:match("before the call\n(.-)\t") ; T.ok(s1, serial)
  T.eq(three:match("before the call\n(.-)\t"), s1, "3 workers")
  T.eq(jobs:match("before the call\n(.-)\t"), s1, "-j 4")
  T.ok(serial:find("\t1\t1\n$"), serial)        -- one worker (0: the parent)
  T.ok(three:find("\t3\t3\n$"), three)          -- three workers each saw files
  T.ok(jobs:find("\t4\t4\n$"), jobs)
  local n = 0
  for _ in three:gmatch("before the call") do n = n + 1 end
  T.eq(n, 1, "code before the call prints once")
end)

T.test("file workers: an error comes back as nil, err with a traceback", function()
  local out, rc = run(files_script:gsub("arg%[2%]", "'3'"):gsub("arg%[1%]", "'fail'"), "")
  T.eq(rc, 0, "the script goes on")
  T.ok(out:find("ERR worker 2 of 3: [^\n]*worker two failed"), out)
  T.ok(out:find("stack traceback"), out)
  out = run(files_script:gsub("arg%[2%]", "'2'"):gsub("arg%[1%]", "'exit'"), "")
  T.ok(out:find("ERR worker 1 of 2: [^\n]*os.exit called in a worker"), out)
end)

-- DESIGN.md: a worker runs the function the script names; the script's
-- main part, and what it does before pktsh.parallel, happens once.
T.test("workers: side effects before the call happen once", function()
  local log = os.tmpname()
  local script = [[
local M = {}
local LOG = ...                       -- the top level runs in every worker
function M.work(src) local n = 0; src:each(function() n = n + 1 end); return {n = n} end
function M.main(log)
  local f = assert(io.open(log, "a")); f:write("main\n"); f:close()
  local files = {"tests/pcaps/dnscap__dns.pcap", "tests/pcaps/dnscap__icmp.pcap",
                 "tests/pcaps/dnscap__dns6.pcap"}
  local r, st = pktsh.parallel(files, {workers = 3}, M.work)
  local g = assert(io.open(log, "a")); g:write("after ", r and r.n or st, "\n"); g:close()
  -- a second call that starts workers is fine too
  local r2 = pktsh.parallel(files, {workers = 2}, M.work)
  print(r.n, r2.n, #st.workers)
end
return pktsh.main(M)
]]
  local out, rc = run(script, "", log)
  T.eq(rc, 0, out)
  local f = assert(io.open(log)); local text = f:read("*a"); f:close(); os.remove(log)
  T.eq(select(2, text:gsub("main\n", "")), 1, "main ran once: " .. text)
  T.ok(text:find("^main\nafter %d+\n$"), text)
  T.ok(out:find("^(%d+)\t%1\t3\n$"), out)
end)

-- A module of work functions in a directory of its own: package.path
-- goes to the workers with the job.
local moddir = os.tmpname()
os.remove(moddir)
assert(os.execute("mkdir -p " .. moddir) == 0)
do
  local f = assert(io.open(moddir .. "/pworkmod.lua", "w"))
  f:write([[
local M = {}
function M.count(src)
  local t = {packets = 0}
  src:each(function() t.packets = t.packets + 1 end)
  return t
end
return M
]])
  f:close()
end
local function with_module(chunk)
  local p = io.popen(PKTSH .. " -j 2 -e 'package.path = \"" .. moddir .. "/?.lua;\" .. package.path' -e '"
                     .. chunk .. "' 2>&1")
  local out = p:read("*a"); p:close()
  return out
end

T.test("workers: a module's function runs by its name, even from -e", function()
  local out = with_module([[
    local r, st = pktsh.parallel({"tests/pcaps/dnscap__dns.pcap", "tests/pcaps/dnscap__icmp.pcap"},
                                 nil, require("pworkmod").count)
    print(r and r.packets or st, #st.workers)]])
  T.eq(out, "135\t2\n")
end)

T.test("workers: a function without a name, or from -e, is refused", function()
  local p = io.popen(PKTSH .. [[ -j 2 -e 'print(pktsh.parallel({"a", "b"}, nil, function() end))' 2>&1]])
  local out = p:read("*a"); p:close()
  T.ok(out:find("nil\tpktsh.parallel: workers run the work function by its name, and this one has none", 1, true), out)
  local old = run([[
local files = {"tests/pcaps/dnscap__dns.pcap", "tests/pcaps/dnscap__icmp.pcap"}
local function w(src) return {n = src:stats().packets} end
print(pktsh.parallel(files, {workers = 2}, w))
]])
  T.ok(old:find("make it a field of the table the script ends with", 1, true), old)
  p = io.popen(PKTSH .. [[ -j 2 -e 'local M = {work = function() return {} end, main = function()
    print(pktsh.parallel({"a", "b"}, nil, M.work)) end}; M.main = function() print(pktsh.parallel({"a", "b"}, nil, M.work)) end
    pktsh.main(M)' 2>&1]])
  out = p:read("*a"); p:close()
  T.ok(out:find("this one comes from a -e chunk: put it in a script file", 1, true), out)
end)

T.test("workers: a source error is in stats.error, the counts still merge", function()
  local torn = os.tmpname()
  local f = assert(io.open("tests/pcaps/dnscap__dns.pcap", "rb")); local all = f:read("*a"); f:close()
  f = assert(io.open(torn, "wb")); f:write(all:sub(1, 5000)); f:close()
  local out = with_module([[
    local r, st = pktsh.parallel({"]] .. torn .. [[", "tests/pcaps/dnscap__icmp.pcap"},
                                 nil, require("pworkmod").count)
    print(r.packets, st.error)]])
  os.remove(torn)
  T.ok(out:find("^38\tworker 1 of 2: .*truncated capture"), out)
  os.execute("rm -rf " .. moddir)
end)

T.test("-j rejects bad counts", function()
  for _, bad in ipairs({"0", "x", "2000", ""}) do
    local p = io.popen(PKTSH .. " -j '" .. bad .. "' -e '' 2>&1; echo rc=$?")
    local out = p:read("*a"); p:close()
    T.ok(out:find("rc=2"), bad .. ": " .. out)
  end
  local p = io.popen(PKTSH .. " -j3 -e 'print(pktsh.jobs())'")
  T.eq(p:read("*a"), "3\n"); p:close()
end)

T.done()
