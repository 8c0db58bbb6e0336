-- sender.lua - sending whole Ethernet frames on an interface.
--   local s = assert(pktsh.sender("veth0"))          -- opts: {tx_ring=, bypass=}
--   s:send(pktsh.build.udp4{dst = "198.18.0.2", dport = 5000})
--   s:send(frame, 100000)     -- the same frame 100000 times (TX ring)
--   s:stats()                 -- {packets=, bytes=, errors=}
--   s:close()
-- opts.bypass = true skips the interface's queueing discipline
-- (PACKET_QDISC_BYPASS): faster, but captures on the sending interface
-- itself do not see the frames. opts.tx_ring = false sends with one
-- send(2) per frame.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local Sender = {}
Sender.__index = Sender
Sender.__fields = {"send", "stats", "info", "close", "ifname"}

local pkt_t = ffi.typeof("struct pktsh_pkt")
local MAX_COUNT = 0x7fffffff

-- pktsh.sender(ifname [, opts]): a sender, or nil and the reason.
function M.open(ifname, opts)
  errors.argcheck(type(ifname) == "string", 1, "sender", "string")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "sender", "table or nil")
  opts = opts or {}
  local o = ffi.new("struct pktsh_sender_opts")
  o.tx_ring = opts.tx_ring == false and 0 or 1
  o.qdisc_bypass = opts.bypass and 1 or 0
  local err = errors.new()
  local out = ffi.new("struct pktsh_sender *[1]")
  if C.pktsh_sender_open(out, ifname, o, err) ~= 0 then
    return nil, errors.message(err)
  end
  return require("pktsh.host.privs").drop(setmetatable({
    handle = ffi.gc(out[0], C.pktsh_sender_close),
    err = err, ifname = ifname,
    statbuf = ffi.new("struct pktsh_sender_stats"),
  }, Sender))
end

-- s:send(frame [, count]): frame is a string or a packet (its captured
-- bytes). Returns the number of frames sent, or nil, err when none was.
-- Fewer than count means an error or Ctrl-C cut it short; the second
-- result then says why.
function Sender:send(frame, count)
  local h = self.handle
  if not h then return nil, "sender is closed" end
  count = count or 1
  errors.argcheck(type(count) == "number" and count >= 0 and count % 1 == 0
                  and count <= MAX_COUNT, 2, "send", "non-negative whole number")
  local data, len
  if type(frame) == "string" then
    data, len = frame, #frame
  elseif ffi.istype(pkt_t, frame) then
    data, len = frame.data, frame.caplen
  else
    errors.argcheck(false, 1, "send", "string or packet")
  end
  self.err.msg[0] = 0
  local n = C.pktsh_sender_send(h, data, len, count, self.err)
  if n < 0 then return nil, errors.message(self.err) end
  if n < count and self.err.msg[0] ~= 0 then return n, errors.message(self.err) end
  return n
end

function Sender:stats()
  if not self.handle then return self.final_stats end
  local st = self.statbuf
  C.pktsh_sender_stats(self.handle, st)
  return {packets = tonumber(st.packets), bytes = tonumber(st.bytes),
          errors = tonumber(st.errors)}
end

-- What the sender really uses: {ifindex=, tx_ring=, bypass=, max_ring_frame=}.
function Sender:info()
  if not self.handle then return nil, "sender is closed" end
  local i = ffi.new("struct pktsh_sender_info")
  C.pktsh_sender_info(self.handle, i)
  return {ifindex = i.ifindex, tx_ring = i.tx_ring == 1,
          bypass = i.qdisc_bypass == 1, max_ring_frame = i.max_ring_frame}
end

function Sender:close()
  local h = self.handle
  if not h then return end
  self.final_stats = self:stats()
  self.handle = nil
  ffi.gc(h, nil)
  C.pktsh_sender_close(h)
end

function Sender:__tostring()
  return string.format("pktsh sender on %s%s", self.ifname,
                       self.handle and "" or " (closed)")
end

-- pktsh.sender is this module; calling it opens a sender.
return setmetatable(M, {__call = function(_, ...) return M.open(...) end})
