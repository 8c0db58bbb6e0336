-- parallel.lua - fanout workers: the same work function on N rings of one
-- PACKET_FANOUT group, each in its own thread and Lua state, results
-- merged in the parent (DESIGN.md, "Many cores"; README "Parallel scripts").
--
--   local M = {}
--   function M.count(src) ... return t end          -- the work
--   function M.main(...)                            -- the script's own part
--     local result, stats = pktsh.parallel(spec, opts, M.count, ...)
--   end
--   return pktsh.main(M)
--
-- work(src, ...) reads a source and returns a plain table. A worker runs
-- the function the script names, as DESIGN.md says: the parent finds the
-- name of `work` (a field of the table given to pktsh.main, or of a
-- loaded module) and sends it with the script's path, `arg` and the
-- call's arguments (serialised). Each worker thread (src/host/workers.c)
-- loads the module, or loads the script as a module: its top level runs
-- up to pktsh.main, which there returns instead of calling main, so the
-- script's main part (and whatever it does before pktsh.parallel) runs
-- once, in the parent. The worker then runs work on its own ring (or its
-- share of the files), hands the result back as a string and ends. The
-- parent merges the results (numbers add, tables merge key by key, or
-- opts.merge) and returns them. With one worker, or a file, work runs
-- right here, through the same serialisation, so a script behaves the
-- same both ways.
require "pktsh.cdef"
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"
local serial = require "pktsh.host.serial"
local merge_ = require "pktsh.host.merge"
local fanout = require "pktsh.source.fanout"

local M = {}
local format, type, pairs = string.format, type, pairs
local unpack = unpack or table.unpack

local WAIT_MS = 100
local in_worker              -- this state's worker context, set by worker_main

-- The merge of results (pktsh.host.merge) and the fanout group
-- (pktsh.source.fanout) are modules of their own; these names keep them
-- where scripts look: pktsh.parallel.merge, .merge_with, .top, .open.
M.merge, M.merge_with, M.top = merge_.merge, merge_.merge_with, merge_.top
M.open, M.Group = fanout.open, fanout.Group

-- Keys of opts that are the parallel call's, not the source's.
local own = fanout.parallel_keys

-- Live statistics while the work runs: every opts.interval seconds
-- (default 1) opts.on_stats(stats, src) gets src:stats() (a fanout
-- group's sums with stats.workers[i], read while the workers run; one
-- worker's own numbers as stats.workers[1]) and stats.elapsed in
-- seconds. A function to call often (it looks at the clock), or nil
-- without on_stats.
local function stats_ticker(opts, src)
  local fn = opts.on_stats
  if fn == nil then return nil end
  if type(fn) ~= "function" then error("opts.on_stats must be a function", 3) end
  local every = opts.interval or 1
  if type(every) ~= "number" or every <= 0 then error("opts.interval must be a number of seconds", 3) end
  local step = every * 1e9
  local t0 = tonumber(C.pktsh_mono_ns())
  local due = t0 + step
  return function()
    local now = tonumber(C.pktsh_mono_ns())
    if now < due then return end
    repeat due = due + step until due > now
    local st = src:stats()
    if not st.workers then
      local one = {}
      for k, v in pairs(st) do one[k] = v end
      st.workers = {one}
    end
    st.elapsed = (now - t0) / 1e9
    fn(st, src)
  end
end
M.ticker = stats_ticker

------------------------------------------------------------------------
-- Running work

local function is_interrupt(err)
  return C.pktsh_stopping() ~= 0 and type(err) == "string" and err:find("interrupted$") ~= nil
end

-- work(src, args...) in this state: result or nil, err (with traceback).
local function call_work(work, src, args)
  local ok, res = xpcall(function() return work(src, unpack(args, 1, args.n)) end,
                         debug.traceback)
  if not ok then
    if is_interrupt(res) then error(res, 0) end
    return nil, tostring(res)
  end
  return true, res
end

local is_interface = require("pktsh.source.ifaces").exists

local function source_opts(opts)
  local o = {}
  for k, v in pairs(opts) do if not own[k] then o[k] = v end end
  return o
end

-- Serial: work on each source in turn (opened from the specs as needed),
-- results merged, statistics summed. Results and arguments go through the
-- serialiser as they would between workers.
local function run_serial(specs, sopts, work, merge, args, opts)
  local result, list = nil, {}
  for _, spec in ipairs(specs) do
    local src, owned = spec, false
    if type(spec) == "string" then
      local err
      local open = is_interface(spec) and require("pktsh.source.live").open or require("pktsh").open
      src, err = open(spec, sopts)
      if not src then return nil, err end
      owned = true
    end
    src._tick = stats_ticker(opts, src)          -- the source's loop calls it
    local ok, res = call_work(work, src, args)
    src._tick = nil
    if ok then
      local text
      ok, text = pcall(serial.encode, res, "result")
      if ok then res = serial.decode(text) else res = text end
    end
    list[#list + 1] = fanout.stats_table(src)
    if owned then src:close() end
    if not ok then return nil, res end
    ok, result = merge_.combine(merge, result, res)
    if not ok then return nil, tostring(result) end
    if list[#list].interrupted then break end
  end
  return result, fanout.sum_stats({fanout.add_stats(list)})
end

------------------------------------------------------------------------
-- The parent side

-- The table the script gave pktsh.main, and where the script came from.
local exports, exports_source

-- The script's entry point: `return pktsh.main(M)` at the end of a
-- script. In the parent it calls M.main with the script's arguments and
-- returns what that returns; in a worker loading the script it ends the
-- load there (M is what the worker looks its work function up in).
function M.main(t)
  errors.argcheck(type(t) == "table", 1, "main", "table")
  exports = t
  if in_worker and in_worker.co and coroutine.running() == in_worker.co then
    coroutine.yield(t)
    error("pktsh.main: the worker's load of the script went on", 0)
  end
  if type(t.main) ~= "function" then
    error("bad argument #1 to 'main' (a table with a main function expected)", 2)
  end
  -- the script file: where its main function was written
  exports_source = debug.getinfo(t.main, "S").source
  local argv = rawget(_G, "arg") or {}
  return t.main(unpack(argv, 1, #argv))
end

-- Where a worker finds fn: {module = name, name = key} for a function of
-- a loaded module, {script = path, name = key} for one of the table the
-- script gave pktsh.main; or nil and why there is none.
local function locate(fn)
  if exports then
    for k, v in pairs(exports) do
      if v == fn and type(k) == "string" then
        local path = exports_source and exports_source:match("^@(.*)")
        if path then return {script = path, name = k} end
        local what = exports_source == "=(-e)" and "a -e chunk"
                     or "standard input or the REPL"
        return nil, "workers load the script file that names the work function, and "
                    .. "this one comes from " .. what .. ": put it in a script file"
      end
    end
  end
  for name, mod in pairs(package.loaded) do
    if type(mod) == "table" and type(name) == "string" then
      for k, v in pairs(mod) do
        if v == fn and type(k) == "string" then return {module = name, name = k} end
      end
    end
  end
  return nil, "workers run the work function by its name, and this one has none: make "
              .. "it a field of the table the script ends with (return pktsh.main(M), "
              .. "README \"Parallel scripts\") or of a module"
end

-- The snapshots the workers published so far (pktsh.parallel.publish),
-- decoded, in worker order (those without one left out).
local function snapshots(w, n)
  local list = {}
  for i = 1, n do
    local len = tonumber(C.pktsh_workers_snapshot(w, i, nil, 0))
    if len >= 0 then
      local buf = ffi.new("char[?]", len + 1)
      len = tonumber(C.pktsh_workers_snapshot(w, i, buf, len))
      local ok, v = pcall(serial.decode, ffi.string(buf, len))
      if ok then list[#list + 1] = v end
    end
  end
  return list
end

-- Calls on_every(snapshots) every `every` seconds while the workers run,
-- and once more (snapshots, true) when they have ended.
local function ticker(every, on_every)
  if not every then return nil end
  local period = every * 1e9
  local due = tonumber(C.pktsh_mono_ns()) + period
  return function(w, n, last)
    local now = tonumber(C.pktsh_mono_ns())
    if last or now >= due then
      on_every(snapshots(w, n), last)
      repeat due = due + period until due > now
    end
  end
end

local function workers_run(n, rings, job, tick, stats_tick)
  local out = ffi.new("struct pktsh_workers *[1]")
  local e = errors.new()
  local rarr = nil
  if rings then
    rarr = ffi.new("struct pktsh_ring *[?]", n)
    for i = 1, n do rarr[i - 1] = rings[i].handle end
  end
  if C.pktsh_workers_start(out, n, rarr, job, #job, e) ~= 0 then
    return nil, errors.message(e)
  end
  local w = ffi.gc(out[0], C.pktsh_workers_close)
  -- Ctrl-C reaches the workers through pktsh_stopping(); calling it here
  -- too tells signals.c a loop noticed. An error here (the interrupt hook)
  -- still stops and joins every worker before it goes on.
  local ok, err = pcall(function()
    local wait = tick and 20 or WAIT_MS
    while C.pktsh_workers_wait(w, wait) > 0 do
      C.pktsh_stopping()
      if tick then tick(w, n) end
      if stats_tick then stats_tick() end
    end
    if tick then tick(w, n, true) end
  end)
  if not ok then
    ffi.gc(w, nil)
    C.pktsh_workers_close(w)
    error(err, 0)
  end
  local texts, data, len = {}, ffi.new("const char *[1]"), ffi.new("size_t[1]")
  local failed
  for i = 1, n do
    local status = C.pktsh_workers_result(w, i, data, len)
    local text = data[0] ~= nil and ffi.string(data[0], len[0]) or ""
    if status == C.PKTSH_WORKER_OK then
      texts[i] = text
    elseif not failed then
      failed = format("worker %d of %d: %s", i, n, text)
    end
  end
  ffi.gc(w, nil)
  C.pktsh_workers_close(w)
  if failed then return nil, failed end
  return texts
end

-- Decodes and merges the workers' texts: result, stats.
local function gather(texts, merge)
  local result, list = nil, {}
  for i, text in ipairs(texts) do
    local payload, err = serial.decode(text)
    if type(payload) ~= "table" then return nil, format("worker %d: %s", i, err or "no result") end
    for _, res in ipairs(payload.results) do
      local ok, merged = merge_.combine(merge, result, res)
      if not ok then return nil, tostring(merged) end
      result = merged
    end
    local st = payload.stats
    if st.error then st.error = format("worker %d of %d: %s", i, #texts, st.error) end
    list[i] = st
  end
  return result, fanout.sum_stats(list)
end

-- pktsh.parallel(spec, opts, work, ...): see the top of this file and the
-- README. spec: an interface name, a capture file, a list of capture
-- files, or an open source. Returns result, stats or nil, err.
function M.parallel(spec, opts, work, ...)
  errors.argcheck(type(spec) == "string" or type(spec) == "table", 1, "parallel",
                  "interface, file name, list of files or source")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "parallel", "table or nil")
  errors.argcheck(type(work) == "function", 3, "parallel", "function")
  opts = opts or {}
  local merge = merge_.merger(opts.merge)

  local args = {n = select("#", ...), ...}
  local ok, text = pcall(serial.encode, args, "argument")
  if not ok then return nil, "pktsh.parallel: " .. text end
  args = serial.decode(text)

  local n = opts.workers or C.pktsh_jobs()
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 or n > 1024 then
    return nil, format("workers must be a whole number from 1 to 1024, not %s", tostring(n))
  end
  if in_worker then n = 1 end          -- a worker's own calls run in the worker
  local sopts = source_opts(opts)
  local group, files, xsk
  if getmetatable(spec) == fanout.Group then
    group, n = spec, spec.workers
  elseif getmetatable(spec) == require("pktsh.source.xsk").Xsk then
    -- AF_XDP sockets: the parent's, handed out by queue (see xsk.lua).
    xsk = spec:_job()
    n = math.min(n, xsk.nslots)
  elseif type(spec) == "table" and getmetatable(spec) == nil then
    files = spec
    for i, f in ipairs(files) do
      errors.argcheck(type(f) == "string", 1, "parallel", "list of file names (item " .. i .. ")")
    end
    n = math.min(n, #files)
  elseif not (type(spec) == "string" and is_interface(spec)) then
    n = 1
  end
  if n <= 1 and not group then
    return run_serial(files or {spec}, sopts, work, merge, args, opts)
  end
  local where, why = locate(work)
  if not where then return nil, "pktsh.parallel: " .. why end
  if not group then
    if not files and not xsk then
      local err
      local fo = source_opts(opts)     -- the group's options: no merge, no on_every
      fo.workers = n
      group, err = fanout.open(spec, fo)
      if not group then return nil, err end
      group.owned = true
    end
  end
  local function done(...)
    if group and group.owned then group:close() end
    return ...
  end
  local job = {script = where.script, module = where.module, fn = where.name,
               arg = rawget(_G, "arg") or {}, args = args, files = files, opts = sopts,
               name = type(spec) == "string" and spec or spec.name,
               deadline = group and group.deadline and tonumber(group.deadline),
               path = package.path, cpath = package.cpath, xsk = xsk}
  ok, text = pcall(serial.encode, job, "job")
  if not ok then return done(nil, "pktsh.parallel: " .. text) end
  local texts, err = workers_run(n, group and group.rings, text, ticker(opts.every, opts.on_every),
                                  group and stats_ticker(opts, group))
  if not texts then return done(nil, err) end
  return done(gather(texts, merge))
end

------------------------------------------------------------------------
-- The worker side

-- In a worker: hands the parent value (a plain table, serialised) as this
-- worker's latest snapshot, which opts.on_every reads while the workers
-- run. Elsewhere: nil, err.
function M.publish(value)
  if not in_worker then return nil, "pktsh.parallel.publish: not in a worker" end
  local ok, text = pcall(serial.encode, value, "snapshot")
  if not ok then return nil, text end
  if C.pktsh_worker_publish(text, #text) ~= 0 then return nil, "out of memory" end
  return true
end

-- In a worker: its index and the worker count; nil in the parent.
function M.worker()
  if in_worker then return in_worker.index, in_worker.count end
  return nil
end

-- The worker's own ring as a source; the parent owns the ring. Its
-- waits end at Ctrl-C, at the group's stop and at the group's deadline.
local function ring_source(ring, job)
  local src = require("pktsh.source.live").wrap(ring, job.name, job.opts)
  ffi.gc(src.handle, nil)
  src._close = function() end
  src.deadline = job.deadline
  return src
end

-- This worker's share: work on its ring, or on every count-th file from
-- its index. Returns the results (one per source: the parent merges
-- them, with opts.merge, which stays there) and the statistics, or nil
-- and the error.
local function do_share(w, work)
  local job, results, list = w.job, {}, {}
  local function one(src)
    local ok, res = call_work(work, src, job.args)
    list[#list + 1] = fanout.stats_table(src)
    if not ok then return nil, res end
    results[#results + 1] = res
    return true
  end
  if w.ring ~= nil or job.xsk then
    local src = w.ring ~= nil and ring_source(w.ring, job) or
                require("pktsh.source.xsk").worker_source(job.xsk, w.index, w.count)
    local ok, err = one(src)
    if not ok then return nil, err end
  else
    for i = w.index, #job.files, w.count do
      local src, e = require("pktsh").open(job.files[i], job.opts)
      if not src then return nil, e end
      local ok, err = one(src)
      src:close()
      if not ok then return nil, err end
      if list[#list].interrupted then break end
    end
  end
  return results, fanout.add_stats(list)
end

-- While a worker loads the script (its top level, up to pktsh.main), the
-- script's output is the parent's: print, io.write and writes to
-- io.stdout and io.stderr do nothing, and os.exit is an error. They work
-- again in work().
local function mute(w)
  local real_print, real_write, real_exit = print, io.write, os.exit
  _G.print = function(...) if not w.loading then return real_print(...) end end
  io.write = function(...)
    if not w.loading then return real_write(...) end
    return io.output()
  end
  os.exit = function(...)
    if not w.loading then
      error("os.exit called in a worker (a worker ends when its work function returns)", 2)
    end
    error("os.exit called while a worker loads the script: the top level of a script "
          .. "with workers only defines things (README \"Parallel scripts\")", 2)
  end
  for _, name in ipairs({"stdout", "stderr"}) do
    local f = io[name]
    io[name] = setmetatable({}, {
      __index = function(proxy, k)
        local v = f[k]
        if type(v) ~= "function" then return v end
        if k ~= "write" then return function(_, ...) return v(f, ...) end end
        return function(_, ...)
          if not w.loading then return v(f, ...) end
          return proxy
        end
      end,
      __tostring = function() return tostring(f) end,
    })
  end
  return real_exit
end

-- Loads the script as a module: its top level runs until pktsh.main,
-- which yields the table it was given. Returns that table.
local function load_script(w)
  local job = w.job
  local chunk = assert(loadfile(job.script))
  local argv = job.arg
  local co = coroutine.create(function() return chunk(unpack(argv, 1, #argv)) end)
  w.co, w.loading = co, true
  local ok, t = coroutine.resume(co)
  w.loading = false
  if not ok then error(debug.traceback(co, tostring(t)), 0) end
  if coroutine.status(co) == "dead" or type(t) ~= "table" then
    error(string.format("%s did not end with pktsh.main(M), where the worker looks %s up "
                        .. "(README \"Parallel scripts\")", job.script, job.fn), 0)
  end
  return t
end

-- The work function the job names.
local function find_work(w)
  local job = w.job
  local t = job.module and require(job.module) or load_script(w)
  local fn = type(t) == "table" and t[job.fn]
  if type(fn) ~= "function" then
    error(string.format("%s has no function %s in this worker", job.module or job.script, job.fn), 0)
  end
  return fn
end

-- The body of every worker thread (src/workers.c calls it in a fresh
-- state): set up like main.c, find the work function by its name, run it
-- on this worker's share, hand the result to C.
function M.worker_main()
  local info = ffi.new("struct pktsh_worker_info")
  assert(C.pktsh_worker_self(info) == 0, "worker_main outside a worker thread")
  local job = assert(serial.decode(ffi.string(info.job, info.job_len)))
  local pktsh = require "pktsh"
  pktsh.install_globals(_G)
  _G.arg = job.arg
  package.path, package.cpath = job.path, job.cpath
  in_worker = {index = info.index, count = info.count, ring = info.ring, job = job}
  mute(in_worker)
  local results, stats = do_share(in_worker, find_work(in_worker))
  local ok, text
  if results then
    ok, text = pcall(serial.encode, {results = results, stats = stats}, "result")
  else
    text = stats
  end
  if ok then
    C.pktsh_worker_done(C.PKTSH_WORKER_OK, text, #text)
  else
    C.pktsh_worker_done(C.PKTSH_WORKER_FAILED, text, #text)
  end
end

-- pktsh.parallel is callable: pktsh.parallel(spec, opts, work, ...).
return setmetatable(M, {__call = function(_, ...) return M.parallel(...) end})
