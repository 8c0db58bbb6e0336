-- lineformat.lua - tcpdump's options for its one-line output: the time
-- stamp formats (-t ... -ttttt), the link-level header (-e), the DNS
-- verbosity (-v ...) and the hex dumps (-x, -xx, -X, -XX), around the
-- summary pktsh.proto.decodetext prints.
--
--   local lf = require "pktsh.proto.lineformat"
--   local f = lf.new{tstamp = 3, link = true, verbose = 1}
--   f:line(p)              -> "00:00:00.000012 00:11:.. > .., ethertype IPv4 (0x0800), length 98: 192.168.1.11.43966 > ..."
--   lf.hex(p, {ascii = true, link = false})  -> "\n\t0x0000:  4500 0054 ...  E..T" lines
--
-- tstamp counts the -t flags as tcpdump does: 0 "15:23:01.075993" (local
-- time), 1 none, 2 "1476976981.075993" (since the epoch), 3 the time since
-- the previous packet and 5 since the first (" 00:00:00.004105", "-" when
-- the time went backwards), 4 "2016-10-20 15:23:01.075993". Times have
-- tcpdump's microseconds (truncated); a time before 1970 or after 2038
-- prints "[Error converting time]", as tcpdump's does.
local ffi = require "ffi"
local bit = require "bit"
local decodetext = require "pktsh.proto.decodetext"
local tcptext = require "pktsh.proto.tcptext"
local dnstext = require "pktsh.proto.dnstext"
local packet = require "pktsh.proto.packet"
local numbers = require "pktsh.proto.numbers"
local ETH, PKT = numbers.ETH, numbers.PKT
require "pktsh.cdef"

local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
local fmt, concat = string.format, table.concat

local M = {}

---------------------------------------------------------------------------
-- Time stamps (tcpdump's ts_print).

local sec_usec = decodetext.sec_usec

local function bad_time(sec) return sec < 0 or sec >= 2147483648 end

-- os.date's text for the last second asked, per format: a capture has
-- many packets a second, and os.date is slow (and stops the JIT).
local last_sec, last_text = {}, {}

-- tail: what follows the time (one string made, not two)
local function date_time(sec, usec, date, utc, tail)
  if bad_time(sec) then return "[Error converting time]" .. (tail or "") end
  local f = (utc and "!" or "") .. (date and "%Y-%m-%d %H:%M:%S" or "%H:%M:%S")
  if last_sec[f] ~= sec then last_sec[f], last_text[f] = sec, os.date(f, sec) end
  return fmt("%s.%06d%s", last_text[f], usec, tail or "")
end

local Format = {}
Format.__index = Format

-- The time since ref, as tcpdump's -ttt / -ttttt print it.
local function delta(sec, usec, ref)
  local now = sec * 1000000 + usec
  local d, sign = now - ref, " "
  if d < 0 then d, sign = -d, "-" end
  return sign .. date_time(math.floor(d / 1000000), d % 1000000, false, true)
end

function Format:stamp(p)
  local t = self.tstamp
  if t == 1 then return "" end
  local sec, usec = sec_usec(p.ts)
  if t == 0 then return date_time(sec, usec, false, false, " ") end
  if t == 2 then
    if bad_time(sec) then return "[Error converting time] " end
    return fmt("%d.%06d ", sec, usec)
  end
  if t == 4 then return date_time(sec, usec, true) .. " " end
  local now = sec * 1000000 + usec
  if not self.ref then self.ref = now end
  local s = delta(sec, usec, self.ref) .. " "
  if t == 3 then self.ref = now end
  return s
end

---------------------------------------------------------------------------
-- The link-level header (-e).

-- tcpdump's ethertype names (pktsh.proto.tunneltext's: tunnels print them too)
local ETHERTYPES = require("pktsh.proto.tunneltext").ETHERTYPES
local VLAN_TYPES = {[ETH.VLAN] = true, [ETH.QINQ_OLD] = true, [0x9200] = true, [ETH.QINQ] = true}
local SLL_TYPES = {[0] = "In", [1] = "B", [2] = "M", [3] = "P", [4] = "Out"}
local BSD_AF = {[2] = "IPv4", [6] = "NS", [7] = "ISO", [16] = "Appletalk",
  [23] = "IPX", [24] = "IPv6", [28] = "IPv6", [30] = "IPv6"}

local function ethertype(t)
  return fmt("ethertype %s (0x%04x)", ETHERTYPES[t] or "Unknown", t)
end

local mac_at = require("pktsh.proto.tunneltext").mac

local function tci_text(tci)
  return fmt("vlan %d, p %d%s", band(tci, numbers.VLAN_ID_MASK), rshift(tci, 13),
             band(tci, 0x1000) ~= 0 and ", DEI" or "")
end

-- Ethernet: addresses, the VLAN tags, the final type (ether_common_print).
local function ether(p)
  if p.caplen < 14 then return nil end
  local t = {mac_at(p, 6) .. " > " .. mac_at(p, 0) .. ", "}
  local off, lt, printed = 12, p:u16(12), false
  while VLAN_TYPES[lt] and off + 6 <= p.caplen do
    t[#t + 1] = ethertype(lt) .. (printed and ", " or fmt(", length %d: ", p.len))
    t[#t + 1] = tci_text(p:u16(off + 2)) .. ", "
    printed = true
    off = off + 4
    lt = p:u16(off)
  end
  if lt <= 1500 then
    t[#t + 1] = "802.3" .. (printed and "" or fmt(", length %d: ", math.min(lt, p.len - off - 2)))
  else
    t[#t + 1] = ethertype(lt) .. (printed and ", " or fmt(", length %d: ", p.len))
  end
  return concat(t)
end

-- SLL's protocol field: an ethertype, or one of Linux's ETH_P_ values
local function sll_type(ptype)
  if ptype > 1500 then return ethertype(ptype) end
  if ptype == 1 then return "802.3" end
  if ptype == 4 then return "802.2" end
  return fmt("ethertype Unknown (0x%04x)", ptype)
end

local function sll(p)
  if p.caplen < 16 then return nil end
  local mac = p:u16(4) == 6 and (mac_at(p, 6) .. " ") or ""
  return fmt("%3s %s%s, length %d: ", SLL_TYPES[p:u16(0)] or "?", mac,
             sll_type(p:u16(14)), p.len)
end

local ifname_buf = ffi.new("char[64]")

-- The interface name of an index, "?" when this host has none (as
-- tcpdump's if_indextoname).
local function ifname(index)
  if ffi.C.pktsh_if_name(index, ifname_buf, 64) ~= 0 then return "?" end
  return ffi.string(ifname_buf)
end

-- SLL2: tcpdump prints the interface and direction even without -e.
local function sll2(p)
  if p.caplen < 20 then return nil end
  local mac = p:u8(11) == 6 and (mac_at(p, 12) .. " ") or ""
  return fmt("%-5s %-3s ifindex %d %s%s, length %d: ", ifname(p:u32(4)),
             SLL_TYPES[p:u8(10)] or "?", p:u32(4), mac, sll_type(p:u16(0)), p.len)
end

local function null(p, loop)
  if p.caplen < 4 then return nil end
  local f = p:u32(0)
  if not loop then   -- host order, or swapped when the high half is set
    f = bor(lshift(band(f, 0xff), 24), lshift(band(rshift(f, 8), 0xff), 16),
            lshift(band(rshift(f, 16), 0xff), 8), band(rshift(f, 24), 0xff))
    if band(f, 0xffff0000) ~= 0 then f = p:u32(0) end
  end
  if f < 0 then f = f + 4294967296 end
  return fmt("AF %s (%d), length %d: ", BSD_AF[f] or "Unknown", f, p.len)
end

-- NFLOG: its header (the TLVs before the datagram are not printed).
local NFLOG_FAMILY = {[2] = "IPv4", [10] = "IPv6"}
local function nflog(p)
  if p.caplen < 4 then return nil end
  local f = p:u8(0)
  return fmt("version %d, resource ID %d, family %s (%d), length %d: ", p:u8(1), p:u16(2),
             NFLOG_FAMILY[f] or "Unknown", f, p.len)
end

local LINK = {[1] = ether, [113] = sll, [276] = sll2, [239] = nflog,
  [0] = function(p) return null(p, false) end, [108] = function(p) return null(p, true) end,
  [12] = function() return "ip: " end, [101] = function() return "ip: " end,
  [228] = function() return "ip: " end, [229] = function() return "ip: " end}

-- The link-level header as tcpdump -e prints it, or nil when this link
-- type has none or the frame is too short for it.
function M.link_text(p)
  local f = LINK[p.linktype]
  return f and f(p)
end

-- The "vlan N " tags pktsh's summary starts with: tcpdump prints VLAN
-- tags only with -e, in the link header.
local function strip_vlans(s)
  if s:byte(1) ~= 118 then return s end   -- no "v": no tag (gsub is slow)
  local n
  repeat s, n = s:gsub("^vlan %S+ ", "", 1) until n == 0
  return s
end

-- The summary without what -e prints instead: the "IP "/"IP6 "/"ARP, "
-- protocol names and the unknown-type sentence.
local function strip_link(s)
  s = s:gsub("^IP6? ", "", 1):gsub("^ARP, ", "", 1)
  if s:match("^ethertype 0x%x+, length %d+$") or s:match("^802%.3, length %d+$") then
    return ""
  end
  return s
end

---------------------------------------------------------------------------
-- Lines.

-- The text of a packet after the time stamp: the summary, with the DNS
-- printed at the verbosity asked for.
function Format:body(p)
  -- a VXLAN header ends tcpdump's line; the inner frame's line follows
  local s = strip_vlans(decodetext.body(p, self.opts))
  if self.verbose > 0 then
    local plain = dnstext.packet(p, 0)
    if plain and s:sub(-#plain) == plain then
      s = s:sub(1, -#plain - 1) .. dnstext.packet(p, self.verbose)
    end
  end
  if self.link then
    local l = M.link_text(p)
    if l then s = l .. strip_link(s) end
  end
  return s
end

function Format:line(p)
  local stamp, body = self:parts(p)
  return stamp .. body
end

-- The line in its two parts, the time stamp and the body, for a caller
-- that writes them out (the line is not made: one copy less).
function Format:parts(p)
  if p.l3state == PKT.NEW then packet.decode_l3(p) end
  return self:stamp(p), self:body(p)
end

-- o: tstamp (the -t count, 0-5), link (-e), verbose (the -v count),
-- absolute (-S: TCP sequence numbers as they are, not relative to each
-- conversation's first, which needs a table of conversations).
function M.new(o)
  o = o or {}
  local f = setmetatable({tstamp = math.min(o.tstamp or 0, 5), link = o.link and true or false,
    verbose = o.verbose or 0, conv = not o.absolute and tcptext.conversations() or nil}, Format)
  -- decodetext.body's options, made once rather than for every line
  f.opts = {eflag = f.link, nl = "\n", conv = f.conv}
  return f
end

---------------------------------------------------------------------------
-- Hex dumps (print-ascii.c): "\n\t0x0000:  4500 0054 ..." per 16 bytes,
-- with the ASCII column for -X. Without link = true, from the network
-- header on, as tcpdump -x does.

local function hex_line(p, base, n, ascii)
  local hx, asc = {}, {}
  for i = 0, n - 1 do
    local c = p:u8(base + i)
    hx[#hx + 1] = (i % 2 == 0 and " " or "") .. fmt("%02x", c)
    asc[#asc + 1] = (c > 32 and c < 127) and string.char(c) or "."
  end
  local h = concat(hx)
  if ascii then return fmt("%-40s  %s", h, concat(asc)) end
  return h
end

-- Link header lengths: tcpdump's -x starts after the link header and its
-- VLAN tags, at the outermost network header (PPPoE, MPLS, the outer IP
-- of a tunnel), not at the datagram the summary is about.
local DLT = numbers.DLT
local LINK_LEN = {[DLT.EN10MB] = 14, [DLT.LINUX_SLL] = 16, [DLT.LINUX_SLL2] = 20, [DLT.NULL] = 4,
  [DLT.LOOP] = 4, [DLT.RAW] = 0, [DLT.RAW_LT] = 0, [DLT.RAW_BSD] = 0, [DLT.IPV4] = 0, [DLT.IPV6] = 0}

function M.hex(p, o)
  o = o or {}
  if p.l2state == PKT.NEW then packet.decode_l2(p) end
  local start = 0
  if not o.link then
    local ll = LINK_LEN[p.linktype]
    start = p.l2state ~= PKT.OK and p.caplen or ll and ll + 4 * p.nvlan or p.l3off
  end
  local t = {}
  for base = start, p.caplen - 1, 16 do
    local n = math.min(16, p.caplen - base)
    t[#t + 1] = fmt("\n\t0x%04x: %s", base - start, hex_line(p, base, n, o.ascii))
  end
  return concat(t)
end

return M
