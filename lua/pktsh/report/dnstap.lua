-- dnstap.lua - DNS messages out as dnstap (Frame Streams + protobuf), to
-- a file, a Unix socket or a TCP collector, from a C thread
-- (src/report/dnstap.c says how, and which dnstap message types a
-- passive capture writes).
--
--   local tap = assert(pktsh.dnstap.open("dns.tap"))     -- or "unix:/run/dnstap.sock",
--                                                        -- "tcp:127.0.0.1:6000"
--   fe:feed(pkt, function(ptr, len, meta, p) tap:emit(ptr, len, meta, p) end)  -- pktsh.dnsflow
--   tap:stats()  -> {queued=, dropped=, written=, lost=, connects=, errors=, connected=, ...}
--   tap:close()  -> true, or nil, err
--
-- opts: queue (bytes between the capture and the writer, default 4 MiB),
-- wait (true: a full queue makes emit wait, for files read offline;
-- default: the message is dropped and counted), timeout (seconds a
-- collector may stall a read or write before it is dropped and
-- reconnected, default 5), identity (the Dnstap identity field; default
-- the host name).
--
-- tap.handle is what C paths take (pktsh_dnsstats_tap: every message
-- dnsstats' engine sees goes in without Lua).
require "pktsh.cdef"
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local T = {}
T.__index = T
M.T = T

function M.open(spec, opts)
  errors.argcheck(type(spec) == "string", 1, "dnstap.open", "file path, unix:PATH or tcp:HOST:PORT")
  opts = opts or {}
  errors.argcheck(type(opts) == "table", 2, "dnstap.open", "table or nil")
  local o = ffi.new("struct pktsh_dnstap_opts")
  o.queue_bytes = opts.queue or 0
  o.wait = opts.wait and 1 or 0
  o.timeout_ms = (opts.timeout or 0) * 1000
  o.identity = opts.identity
  local box, err = ffi.new("struct pktsh_dnstap *[1]"), errors.new()
  if C.pktsh_dnstap_open(box, spec, o, err) ~= 0 then return nil, errors.message(err) end
  return setmetatable({handle = ffi.gc(box[0], function(h) C.pktsh_dnstap_close(h, nil, nil) end),
                       spec = spec, identity = opts.identity}, T)
end

-- One message: ptr/len its bytes, meta as pktsh.dnsflow gives it (ipver,
-- sport, dport, ts, transport), p the packet whose IP header holds the
-- addresses.
function T:emit(ptr, len, meta, p)
  C.pktsh_dnstap_add(self.handle, ptr, len, p.data + p.l3off, meta.ipver == 6 and 1 or 0,
                     meta.sport, meta.dport, meta.ts, meta.transport == "tcp" and 1 or 0)
end

local function stats_table(s)
  return {queued = tonumber(s.queued), dropped = tonumber(s.dropped), written = tonumber(s.written),
          lost = tonumber(s.lost), connects = tonumber(s.connects), errors = tonumber(s.errors),
          pending_bytes = tonumber(s.pending), connected = s.connected == 1,
          last_error = s.last_error[0] ~= 0 and ffi.string(s.last_error) or nil}
end

function T:stats()
  if not self.handle then return self.final or nil, "dnstap closed" end
  local s = ffi.new("struct pktsh_dnstap_stats")
  C.pktsh_dnstap_stats(self.handle, s)
  return stats_table(s)
end

-- Writes what is queued and ends the stream; stats() gives the final
-- counts from then on.
function T:close()
  if not self.handle then return true end
  local h, err, s = ffi.gc(self.handle, nil), errors.new(), ffi.new("struct pktsh_dnstap_stats")
  self.handle = nil
  local rc = C.pktsh_dnstap_close(h, s, err)
  self.final = stats_table(s)
  if rc ~= 0 then return nil, errors.message(err) end
  return true
end

function T:__tostring()
  local s = self:stats()
  return string.format("dnstap to %s%s: %d written, %d dropped, %d lost", self.spec,
                       self.handle and "" or " (closed)", s.written, s.dropped, s.lost)
end

return M
