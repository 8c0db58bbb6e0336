-- parallel.lua - fanout workers: the same work function on N rings of one
-- PACKET_FANOUT group, each in its own thread and Lua state, results
-- merged in the parent (DESIGN.md, "Many cores"; README "Parallel scripts").
--
--   local result, stats = pktsh.parallel(spec, opts, work, ...)
--
-- work(src, ...) reads a source and returns a plain table. With workers > 1
-- on an interface the parent opens N rings and starts N threads
-- (src/workers.c); each loads the same script file with the same `arg`
-- and runs it until it reaches this same call, where, instead of starting
-- workers, it runs work on its own ring with the parent's arguments
-- (serialised), hands the result back as a string and ends: nothing after
-- the call runs in a worker. The parent merges the results (numbers add,
-- tables merge key by key, or opts.merge) and returns them. With one
-- worker, or a file, work runs right here, through the same serialisation,
-- so a script behaves the same both ways.
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
local own = {merge = true, workers = true}

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

local function is_interface(name)
  if type(name) ~= "string" or name:find("/", 1, true) or name == "." or name == ".." then
    return false
  end
  local f = io.open("/sys/class/net/" .. name .. "/ifindex", "r")
  if f then f:close() end
  return f ~= nil
end

local function source_opts(opts)
  local o = {}
  for k, v in pairs(opts) do if not own[k] then o[k] = v end end
  return o
end

-- Serial: work on each source in turn (opened from the specs as needed),
-- results merged, statistics summed. Results and arguments go through the
-- serialiser as they would between workers.
local function run_serial(specs, sopts, work, merge, args)
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
    local ok, res = call_work(work, src, args)
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

local calls = 0

-- The script file the running code came from (the outermost main chunk
-- on the stack), or nil and what it is instead.
local function script_file()
  local src
  local level = 3
  while true do
    local info = debug.getinfo(level, "S")
    if not info then break end
    if info.what == "main" then src = info.source end
    level = level + 1
  end
  if src and src:sub(1, 1) == "@" then return src:sub(2) end
  if src == "=(-e)" then return nil, "a -e chunk" end
  if src == "=stdin" then return nil, "a script read from standard input" end
  return nil, "the REPL"
end

local function workers_run(n, rings, job)
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
    while C.pktsh_workers_wait(w, WAIT_MS) > 0 do C.pktsh_stopping() end
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
    local ok, merged = merge_.combine(merge, result, payload.result)
    if not ok then return nil, tostring(merged) end
    result = merged
    list[i] = payload.stats
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
  if in_worker then return M._worker_call(work, merge) end
  calls = calls + 1

  local args = {n = select("#", ...), ...}
  local ok, text = pcall(serial.encode, args, "argument")
  if not ok then return nil, "pktsh.parallel: " .. text end
  args = serial.decode(text)

  local n = opts.workers or C.pktsh_jobs()
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 or n > 1024 then
    return nil, format("workers must be a whole number from 1 to 1024, not %s", tostring(n))
  end
  local sopts = source_opts(opts)
  local group, files
  if getmetatable(spec) == fanout.Group then
    group, n = spec, spec.workers
  elseif type(spec) == "string" and is_interface(spec) and n > 1 then
    local err
    group, err = fanout.open(spec, opts)
    if not group then return nil, err end
    group.owned = true
  elseif type(spec) == "table" and getmetatable(spec) == nil then
    files = spec
    for i, f in ipairs(files) do
      errors.argcheck(type(f) == "string", 1, "parallel", "list of file names (item " .. i .. ")")
    end
    n = math.min(n, #files)
  end
  if not group and not (files and n > 1) then
    return run_serial(files or {spec}, sopts, work, merge, args)
  end

  local function done(...)
    if group and group.owned then group:close() end
    return ...
  end
  local script, what = script_file()
  if not script then
    return done(nil, format("pktsh.parallel: workers re-run the script file up to this call, "
                            .. "and this code comes from %s: put it in a script file, or "
                            .. "use workers = 1", what))
  end
  if calls > 1 then
    return done(nil, "pktsh.parallel: workers re-run the script up to the call that starts "
                .. "them, so it must be the script's first pktsh.parallel call")
  end
  local job = {script = script, arg = rawget(_G, "arg") or {}, args = args,
               files = files, opts = sopts, name = type(spec) == "string" and spec or spec.name,
               deadline = group and group.deadline}
  ok, text = pcall(serial.encode, job, "job")
  if not ok then return done(nil, "pktsh.parallel: " .. text) end
  local texts, err = workers_run(n, group and group.rings, text)
  if not texts then return done(nil, err) end
  return done(gather(texts, merge))
end

------------------------------------------------------------------------
-- The worker side

-- In a worker: its index and the worker count; nil in the parent.
function M.worker()
  if in_worker then return in_worker.index, in_worker.count end
  return nil
end

-- The worker's own ring as a source; the parent owns the ring.
local function ring_source(ring, job)
  local live = require "pktsh.source.live"
  local src = live.wrap(ring, job.name, job.opts)
  ffi.gc(src.handle, nil)
  src._close = function() end
  src.deadline = job.deadline
  local box, errbuf = src.box, src.errbuf
  src._next = function(self)
    while true do
      if C.pktsh_stopping() ~= 0 or C.pktsh_worker_stopping() ~= 0 then
        self.interrupted = true
        return nil
      end
      local got = C.pktsh_ring_next(ring, box, WAIT_MS, errbuf)
      if got > 0 then return box[0] end
      if got < 0 then return nil, errors.message(errbuf) end
      if self.deadline and C.pktsh_mono_ns() >= self.deadline then return nil end
    end
  end
  return src
end

-- Reached when the worker's run of the script calls pktsh.parallel: do
-- this worker's share, hand the result to C, and end the run.
function M._worker_call(work, merge)
  local w = in_worker
  if w.reached then error("pktsh.parallel called twice in a worker", 2) end
  w.reached = true
  local job = w.job
  local result, list, err = nil, {}, nil
  if w.ring ~= nil then
    local src = ring_source(w.ring, job)
    local ok, res = call_work(work, src, job.args)
    list[1] = fanout.stats_table(src)
    if ok then result = res else err = res end
  else
    for i = w.index, #job.files, w.count do
      local src, e = require("pktsh").open(job.files[i], job.opts)
      if not src then err = e; break end
      local ok, res = call_work(work, src, job.args)
      list[#list + 1] = fanout.stats_table(src)
      src:close()
      if not ok then err = res; break end
      ok, res = merge_.combine(merge, result, res)
      if not ok then err = tostring(res); break end
      result = res
      if list[#list].interrupted then break end
    end
  end
  local text
  if not err then
    local ok
    ok, text = pcall(serial.encode, {result = result, stats = fanout.add_stats(list)}, "")
    if not ok then err = text end
  end
  if err then
    C.pktsh_worker_done(C.PKTSH_WORKER_FAILED, err, #err)
  else
    C.pktsh_worker_done(C.PKTSH_WORKER_OK, text, #text)
  end
  -- End the run here: the rest of the script belongs to the parent.
  if coroutine.running() == w.co then coroutine.yield() end
  error("pktsh.parallel: worker finished", 0)
end

-- Until the worker reaches the call, the script's output is the parent's
-- (it has printed it already): print, io.write and writes to io.stdout
-- and io.stderr do nothing. They work again in work().
local function mute(w)
  local real_print, real_write = print, io.write
  _G.print = function(...) if w.reached then return real_print(...) end end
  io.write = function(...)
    if w.reached then return real_write(...) end
    return io.output()
  end
  for _, name in ipairs({"stdout", "stderr"}) do
    local f = io[name]
    io[name] = setmetatable({}, {
      __index = function(proxy, k)
        local v = f[k]
        if type(v) ~= "function" then return v end
        if k ~= "write" then return function(_, ...) return v(f, ...) end end
        return function(_, ...)
          if w.reached then return v(f, ...) end
          return proxy
        end
      end,
      __tostring = function() return tostring(f) end,
    })
  end
end

-- The body of every worker thread (src/workers.c calls it in a fresh
-- state): set up like main.c, then run the script as a coroutine that
-- pktsh.parallel ends by yielding.
function M.worker_main()
  local info = ffi.new("struct pktsh_worker_info")
  assert(C.pktsh_worker_self(info) == 0, "worker_main outside a worker thread")
  local job = assert(serial.decode(ffi.string(info.job, info.job_len)))
  local pktsh = require "pktsh"
  pktsh.install_globals(_G)
  _G.arg = job.arg
  os.exit = function() error("os.exit called in a worker (workers re-run the script up to "
                              .. "pktsh.parallel; exit before it in the parent only)", 2) end
  in_worker = {index = info.index, count = info.count, ring = info.ring, job = job}
  mute(in_worker)
  local chunk = assert(loadfile(job.script))
  local argv = job.arg
  local co = coroutine.create(function() return chunk(unpack(argv, 1, #argv)) end)
  in_worker.co = co
  local ok, err = coroutine.resume(co)
  if in_worker.reached then return end
  if not ok then error(debug.traceback(co, tostring(err)), 0) end
  error("the worker's run of the script ended without reaching pktsh.parallel "
        .. "(workers re-run the script up to that call: it must reach it the same way)", 0)
end

-- pktsh.parallel is callable: pktsh.parallel(spec, opts, work, ...).
return setmetatable(M, {__call = function(_, ...) return M.parallel(...) end})
