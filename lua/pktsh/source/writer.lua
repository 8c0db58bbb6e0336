-- writer.lua - pcap files with nanosecond timestamps, and pcapng files.
--   local w = pktsh.pcap_writer("out.pcap", {linktype = src.linktype})
--   w:write(pkt)   or   w:write(bytes, ts_ns [, wirelen])
--   w:close()
--   local g = pktsh.pcap_writer("out.pcapng", {format = "pcapng",
--     linktype = src.linktype, comment = "lab run 3", ifname = "eth0",
--     ifdescr = "uplink"})
--   g:write(pkt, {comment = "the odd one"})   -- a packet comment (pcapng)
--   local id = g:add_interface{linktype = 113, name = "any"}
--   g:write(bytes, ts_ns, wirelen, {interface = id})
-- In pcapng a packet whose link type no interface has yet gets a new
-- interface block of its own; a pcap file has one link type.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local Writer = {}
Writer.__index = Writer
Writer.__fields = {"write", "flush", "count", "size", "close", "add_interface",
  "path", "format", "linktype", "snaplen"}

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

local function open_ng(out, path, o, linktype, snaplen, err)
  -- the strings stay referenced (o, userappl) until the call returns
  local userappl = o.userappl or ("pktsh " .. ffi.string(C.pktsh_version()))
  for _, k in ipairs{"comment", "os", "ifname", "ifdescr"} do
    errors.argcheck(o[k] == nil or type(o[k]) == "string", 2, "pcap_writer", k .. " string")
  end
  local ng = ffi.new("struct pktsh_ng_opts", {linktype = linktype, snaplen = snaplen,
    comment = o.comment, userappl = userappl, os = o.os, ifname = o.ifname,
    ifdescr = o.ifdescr})
  local rc = C.pktsh_writer_open_ng(out, path, ng, err)
  ng = nil   -- luacheck: ignore
  return rc, userappl
end

-- pktsh.pcap_writer(path, opts): opts.linktype (number or name, default
-- EN10MB) and opts.snaplen (default 262144); or pass a source as opts to
-- copy its link type and snapshot length. opts.format = "pcapng" writes
-- pcapng, with opts.comment (the section's), opts.ifname and
-- opts.ifdescr (the first interface's), opts.userappl and opts.os.
-- opts.flush = "packet" writes each packet out at once (tcpdump -U); by
-- default packets are buffered and written out at least once a second.
function M.open(path, opts)
  errors.argcheck(type(path) == "string", 1, "pcap_writer", "string")
  opts = opts or {}
  local linktype = resolve_linktype(opts.linktype)
  if not linktype then
    return nil, string.format("unknown link type '%s'", tostring(opts.linktype))
  end
  local format = opts.format or "pcap"
  if format ~= "pcap" and format ~= "pcapng" then
    return nil, string.format("unknown format '%s' (pcap or pcapng)", tostring(format))
  end
  local snaplen = opts.snaplen or C.PKTSH_SNAPLEN_DEFAULT
  local err = errors.new()
  local out = ffi.new("struct pktsh_writer *[1]")
  if opts.flush ~= nil and opts.flush ~= "packet" and opts.flush ~= "second" then
    return nil, string.format('flush must be "packet" or "second", not %s', tostring(opts.flush))
  end
  local rc
  if format == "pcapng" then
    rc = open_ng(out, path, opts, linktype, snaplen, err)
  else
    rc = C.pktsh_writer_open(out, path, linktype, snaplen, err)
  end
  if rc ~= 0 then return nil, errors.message(err) end
  C.pktsh_writer_per_packet(out[0], opts.flush == "packet" and 1 or 0)
  return setmetatable({
    handle = ffi.gc(out[0], finalize), format = format, ifaces = {[linktype] = 0},
    err = err, path = path, linktype = linktype, snaplen = snaplen,
  }, Writer)
end

-- pcapng: another interface {linktype =, snaplen =, name =, description =};
-- its number (for write's {interface = n}), or nil, err.
function Writer:add_interface(o)
  local h = self.handle
  if not h then return nil, "writer is closed" end
  local lt = resolve_linktype(o.linktype)
  if not lt then return nil, string.format("unknown link type '%s'", tostring(o.linktype)) end
  local id = ffi.new("uint32_t[1]")
  if C.pktsh_writer_add_iface(h, lt, o.snaplen or self.snaplen, o.name, o.description,
                              id, self.err) ~= 0 then
    return nil, errors.message(self.err)
  end
  if self.ifaces[lt] == nil then self.ifaces[lt] = id[0] end
  return id[0]
end

-- The interface a packet of link type lt goes to; pcapng adds one.
function Writer:interface_for(lt)
  local id = self.ifaces[lt]
  if id then return id end
  if self.format ~= "pcapng" then
    return nil, string.format("packet has link type %d, the file %d", lt, self.linktype)
  end
  return self:add_interface{linktype = lt}
end

-- w:write(pkt [, o]) or w:write(bytes, ts_ns [, wirelen [, o]]); o (pcapng):
-- comment, interface. Returns true or nil, err.
function Writer:write(p, ts, wirelen, o)
  local h = self.handle
  if not h then return nil, "writer is closed" end
  local data, caplen, len, iface, err
  if type(p) == "string" then
    data, caplen, len = p, #p, wirelen or #p
    ts = ts or C.pktsh_now_ns()
    iface = o and o.interface or 0
  elseif ffi.istype(pkt_t, p) then
    o = ts
    data, caplen, len, ts = p.data, p.caplen, p.len, p.ts
    iface, err = self:interface_for(p.linktype)
    if not iface then return nil, err end
    if o and o.interface then iface = o.interface end
  else
    errors.argcheck(false, 1, "write", "packet or string")
  end
  local comment = o and o.comment
  if comment ~= nil then errors.argcheck(type(comment) == "string", 2, "write", "comment string") end
  if C.pktsh_writer_write_ng(h, iface, data, caplen, len, ts, comment, self.err) ~= 0 then
    return nil, errors.message(self.err)
  end
  return true
end

-- A count the C writer keeps, read by get(handle, uint64_t *), or the
-- one it had at close.
local function counter(self, get, final)
  if not self.handle then return final end
  local n = ffi.new("uint64_t[1]")
  get(self.handle, n)
  return tonumber(n[0])
end

-- Bytes in the file so far (buffered ones included).
function Writer:size() return counter(self, C.pktsh_writer_size, self.final_size) end

-- Writes out what is buffered now: true, or nil and the error.
function Writer:flush()
  if not self.handle then return nil, "writer is closed" end
  if C.pktsh_writer_flush(self.handle, self.err) ~= 0 then
    return nil, errors.message(self.err)
  end
  return true
end

-- Packets written so far.
function Writer:count() return counter(self, C.pktsh_writer_count, self.final_count) end

function Writer:close()
  local h = self.handle
  if not h then return true end
  self.final_count, self.final_size = self:count(), self:size()
  self.handle = nil
  ffi.gc(h, nil)
  if C.pktsh_writer_close(h, self.err) ~= 0 then
    return nil, errors.message(self.err)
  end
  return true
end

function Writer:__tostring()
  return string.format("pktsh %s writer %s (%s)", self.format, self.path,
                       self.handle and (self:count() .. " packets") or "closed")
end

return M
