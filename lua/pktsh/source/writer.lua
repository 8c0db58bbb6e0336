-- writer.lua - pcap files with nanosecond timestamps.
--   local w = pktsh.pcap_writer("out.pcap", {linktype = src.linktype})
--   w:write(pkt)   or   w:write(bytes, ts_ns)
--   w:close()
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local Writer = {}
Writer.__index = Writer
Writer.__fields = {"write", "flush", "count", "close", "path", "linktype", "snaplen"}

-- libpcap DLT values by name, for opts.linktype (src/pktsh.h's enum
-- pktsh_dlt).
M.linktypes = require("pktsh.proto.numbers").enum("PKTSH_DLT_",
  "NULL EN10MB RAW LOOP LINUX_SLL IPV4 IPV6 LINUX_SLL2")

local pkt_t = ffi.typeof("struct pktsh_pkt")

local function finalize(h)
  C.pktsh_writer_close(h, nil)
end

local function resolve_linktype(lt)
  if lt == nil then return C.PKTSH_DLT_EN10MB end
  if type(lt) == "number" then return lt end
  return M.linktypes[string.upper(tostring(lt))]
end

-- pktsh.pcap_writer(path, opts): opts.linktype (number or name, default
-- EN10MB) and opts.snaplen (default 262144); or pass a source as opts to
-- copy its link type and snapshot length. opts.flush = "packet" writes
-- each packet out at once (tcpdump -U); by default packets are buffered
-- and written out at least once a second.
function M.open(path, opts)
  errors.argcheck(type(path) == "string", 1, "pcap_writer", "string")
  opts = opts or {}
  local linktype = resolve_linktype(opts.linktype)
  if not linktype then
    return nil, string.format("unknown link type '%s'", tostring(opts.linktype))
  end
  local snaplen = opts.snaplen or C.PKTSH_SNAPLEN_DEFAULT
  local err = errors.new()
  local out = ffi.new("struct pktsh_writer *[1]")
  if opts.flush ~= nil and opts.flush ~= "packet" and opts.flush ~= "second" then
    return nil, string.format('flush must be "packet" or "second", not %s', tostring(opts.flush))
  end
  if C.pktsh_writer_open(out, path, linktype, snaplen, err) ~= 0 then
    return nil, errors.message(err)
  end
  C.pktsh_writer_per_packet(out[0], opts.flush == "packet" and 1 or 0)
  return setmetatable({
    handle = ffi.gc(out[0], finalize),
    err = err, path = path, linktype = linktype, snaplen = snaplen,
  }, Writer)
end

-- w:write(pkt) or w:write(bytes, ts_ns [, wirelen]). Returns true or nil, err.
function Writer:write(p, ts, wirelen)
  local h = self.handle
  if not h then return nil, "writer is closed" end
  local rc
  if type(p) == "string" then
    ts = ts or C.pktsh_now_ns()
    rc = C.pktsh_writer_write(h, p, #p, wirelen or #p, ts, self.err)
  elseif ffi.istype(pkt_t, p) then
    if p.linktype ~= self.linktype then
      return nil, string.format("packet has link type %d, the file %d", p.linktype, self.linktype)
    end
    rc = C.pktsh_writer_write(h, p.data, p.caplen, p.len, p.ts, self.err)
  else
    errors.argcheck(false, 1, "write", "packet or string")
  end
  if rc ~= 0 then return nil, errors.message(self.err) end
  return true
end

-- Writes out what is buffered now: true, or nil and the error.
function Writer:flush()
  if not self.handle then return nil, "writer is closed" end
  if C.pktsh_writer_flush(self.handle, self.err) ~= 0 then
    return nil, errors.message(self.err)
  end
  return true
end

-- Packets written so far.
function Writer:count()
  if not self.handle then return self.final_count end
  local n = ffi.new("uint64_t[1]")
  C.pktsh_writer_count(self.handle, n)
  return tonumber(n[0])
end

function Writer:close()
  local h = self.handle
  if not h then return true end
  self.final_count = self:count()
  self.handle = nil
  ffi.gc(h, nil)
  if C.pktsh_writer_close(h, self.err) ~= 0 then
    return nil, errors.message(self.err)
  end
  return true
end

function Writer:__tostring()
  return string.format("pktsh pcap writer %s (%s)", self.path,
                       self.handle and (self:count() .. " packets") or "closed")
end

return M
