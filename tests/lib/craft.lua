-- craft.lua - frames no real IP stack sends, for the XDP program's tests:
-- fragments with any offset, headers cut short by the frame or by the IP
-- length, IPv6 extension-header chains of any length.
--
--   local craft = require "craft"
--   craft.tcp{dport = 80}                      -- a TCP header (20 bytes)
--   craft.ip4{l4 = craft.tcp{dport = 80}:sub(1, 8), mf = true}   -- a tiny first fragment
--   craft.ip4{l4 = ..., off = 8}               -- a later fragment at byte 8
--   craft.ip6{chain = {"dst", "dst", {frag = 0, m = true}}, l4 = craft.tcp{}}
--
-- ip4 options: src, dst, proto (default 6), l4 (the bytes after the
-- header), off (fragment offset in bytes, a multiple of 8), mf, tot (the
-- total length, default the real one), version, ihl, vlan, pad (bytes
-- after the datagram, inside the frame). ip6: src, dst, chain (a list of
-- "dst", "hop" or {frag = offset in bytes, m = more fragments}), proto (of
-- l4, default 6), l4, plen (the payload length, default the real one),
-- vlan, pad. Addresses default to 198.18.0.1 -> .2 and 2001:2::1 -> ::2.
local b = pktsh.build
local addr = require "pktsh.proto.addr"
local char = string.char

local M = {}

-- A TCP segment as pktsh.build makes it (o: sport, dport, flags,
-- payload), without the IP header.
function M.tcp(o)
  o = o or {}
  local f = b.tcp4{sport = o.sport, dport = o.dport, flags = o.flags, payload = o.payload}
  return f:sub(14 + 20 + 1)
end

function M.ip4(o)
  local l4 = o.l4 or ""
  local ihl = o.ihl or 5
  local opts = string.rep("\1", ihl > 5 and (ihl - 5) * 4 or 0)   -- NOPs
  local tot = o.tot or (#opts + 20 + #l4)
  local frag = (o.mf and 0x2000 or 0) + (o.off or 0) / 8
  local h = char((o.version or 4) * 16 + ihl, 0) .. b.u16(tot) .. b.u16(o.id or 7) ..
            b.u16(frag) .. char(64, o.proto or 6) .. "\0\0" ..
            assert(addr.parse4(o.src or "198.18.0.1")) .. assert(addr.parse4(o.dst or "198.18.0.2")) ..
            opts
  h = h:sub(1, 10) .. b.u16(b.checksum(h)) .. h:sub(13)
  return b.eth({vlan = o.vlan}, 0x0800) .. h .. l4 .. (o.pad or "")
end

local NH = {dst = 60, hop = 0}

function M.ip6(o)
  local chain, parts = o.chain or {}, {}
  for i, e in ipairs(chain) do
    local nxt = chain[i + 1]
    local nh = nxt == nil and (o.proto or 6) or (type(nxt) == "table" and 44 or NH[nxt])
    if type(e) == "table" then         -- a fragment header
      parts[i] = char(nh, 0) .. b.u16(e.frag + (e.m and 1 or 0)) .. b.u32(o.id or 7)
    else                               -- options: one PadN filling 6 bytes
      parts[i] = char(nh, 0, 1, 4, 0, 0, 0, 0)
    end
  end
  local first = chain[1]
  local nh = first == nil and (o.proto or 6) or (type(first) == "table" and 44 or NH[first])
  local payload = table.concat(parts) .. (o.l4 or "")
  local h = b.u32(0x60000000) .. b.u16(o.plen or #payload) .. char(nh, 64) ..
            assert(addr.parse6(o.src or "2001:2::1")) .. assert(addr.parse6(o.dst or "2001:2::2"))
  return b.eth({vlan = o.vlan}, 0x86dd) .. h .. payload .. (o.pad or "")
end

-- n "dst" entries, for chains of extension headers.
function M.dsts(n)
  local t = {}
  for i = 1, n do t[i] = "dst" end
  return t
end

return M
