-- file.lua - offline captures (pcap and pcapng) as a source.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"
local bpf = require "pktsh.source.bpf"
local source = require "pktsh.source"
local Source = source.Source

local M = {}
local File = source.kind()

-- Packets per batch, at most: a batch also ends where the 256 KiB read
-- buffer does. Larger batches mean fewer ends of the packet loop, and
-- LuaJIT compiles a side trace for each way a loop can end: dnsstats ran
-- 7% faster with 1024 than with 256.
local DEFAULT_BATCH = 1024

local function file_wait(self, ms)
  return C.pktsh_file_wait(self.handle, ms)
end

function File:_next(timeout)
  if self.stream then
    -- a pipe: wait for bytes as a live source waits for packets
    local ready, why = self:_await(file_wait, timeout)
    if not ready then return why == "timeout" and source.EMPTY or nil end
  end
  local n = C.pktsh_file_next(self.handle, self.box, self.errbuf)
  if n > 0 then return self.box[0] end
  if n == 0 then return nil end
  return nil, errors.message(self.errbuf)
end

-- A file's duration counts capture time: the input ends before the first
-- packet `seconds` or more after the first one read from now on.
function File:_limit(seconds)
  local saved = self.limit
  self.limit = seconds
  C.pktsh_file_limit(self.handle, seconds and seconds * 1e9 or -1)
  return function() self:_limit(saved) end
end

function File:_release() end

function File:_stats()
  C.pktsh_file_stats(self.handle, self.statbuf)
  return self.statbuf
end

-- A file also reports what its filter refused (a kernel filter's
-- refusals are never counted, so live sources cannot).
function File:stats()
  local t = Source.stats(self)
  if self.filter then t.filtered = t.received - t.packets end
  return t
end

-- A new filter between batches: an expression or a program (checked
-- with bpf_validate).
function File:_set_filter(f)
  local prog, n = bpf.program(f)
  if not prog and n then return nil, n end
  local expr = not prog and f ~= "" and f or nil
  if C.pktsh_file_set_filter(self.handle, expr, prog, n or 0, self.errbuf) ~= 0 then
    return nil, errors.message(self.errbuf)
  end
  return true
end

function File:_close()
  ffi.gc(self.handle, nil)
  C.pktsh_file_close(self.handle)
  self.handle = nil
end

local known = {filter = true, batch = true, guard = true, duration = true}

function M.open(path, opts)
  for k in pairs(opts) do
    if not known[k] then
      return nil, string.format("unknown option '%s' for a capture file", tostring(k))
    end
  end
  local _, derr = source.duration(opts)
  if derr then return nil, derr end
  local err = errors.new()
  local out = ffi.new("struct pktsh_file *[1]")
  local batch = opts.batch or DEFAULT_BATCH
  local prog, n = bpf.program(opts.filter)
  if not prog and n then return nil, n end
  local expr = not prog and opts.filter or nil
  if C.pktsh_file_open(out, path, expr, batch, opts.guard and 1 or 0, err) ~= 0 then
    return nil, errors.message(err)
  end
  if prog and C.pktsh_file_set_filter(out[0], nil, prog, n, err) ~= 0 then
    C.pktsh_file_close(out[0])
    return nil, errors.message(err)
  end
  local info = ffi.new("struct pktsh_file_info")
  C.pktsh_file_info(out[0], info)
  local src = setmetatable({
    handle = ffi.gc(out[0], C.pktsh_file_close),
    box = ffi.new("struct pktsh_batch *[1]"),
    errbuf = err,
    statbuf = ffi.new("struct pktsh_src_stats"),
    name = path, kind = "file", filter = opts.filter,
    linktype = info.linktype, snaplen = info.snaplen,
    format = info.format == C.PKTSH_FORMAT_PCAPNG and "pcapng" or "pcap",
    nsec = info.nsec == 1, stream = info.stream == 1,
  }, File)
  if opts.duration then src:_limit(opts.duration) end
  return require("pktsh.host.privs").drop(src)
end

return M
