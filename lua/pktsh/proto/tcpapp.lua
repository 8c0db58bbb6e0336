-- tcpapp.lua - what tcpdump 4.99 (-n, not -v) prints after a TCP
-- segment's ", length N": the application protocol of the well-known
-- port, e.g. ": HTTP: GET / HTTP/1.1", ": SMTP: 220 mail ESMTP", ": HTTP",
-- " [telnet DO ECHO]".
--
-- Ported from tcpdump 4.99.3's print-tcp.c dispatch and its text-protocol
-- printer (txtproto_print, fetch_token, print_txt_line in util-print.c;
-- print-ssh.c); the binary protocols are in pktsh.proto.tcpbin. Bytes are
-- read only through p:bytes, never past caplen nor past the segment:
-- tcpdump's bounds are the same (the captured bytes, cut at the IP
-- datagram's end), and where tcpdump runs into the end of the captured
-- bytes it prints " [|proto]", as here.
local M = {}

local byte, upper, sub = string.byte, string.upper, string.sub
local bin = require "pktsh.proto.tcpbin"

local LF, CR, TAB, SP = 10, 13, 9, 32
local MAX_TOKEN = 128                 -- tcpdump's token buffer, '\0' included

-- ND_ASCII_ISPRINT: space to '~'.
local function printable(c) return c >= 0x20 and c <= 0x7e end

-- The request names of print-http.c (WebDAV included) and print-rtsp.c.
local function set(list)
  local t = {}
  for _, k in ipairs(list) do t[k] = true end
  return t
end

local HTTP_CMDS = set{"GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST",
  "BCOPY", "BMOVE", "MKCOL", "TRACE", "LABEL", "MERGE", "DELETE", "SEARCH",
  "UNLOCK", "REPORT", "UPDATE", "NOTIFY", "BDELETE", "CONNECT", "OPTIONS",
  "CHECKIN", "PROPFIND", "CHECKOUT", "CCM_POST", "SUBSCRIBE", "PROPPATCH",
  "BPROPFIND", "BPROPPATCH", "UNCHECKOUT", "MKACTIVITY", "MKWORKSPACE",
  "UNSUBSCRIBE", "RPC_CONNECT", "VERSION-CONTROL", "BASELINE-CONTROL"}

local RTSP_CMDS = set{"DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS", "PAUSE",
  "PLAY", "RECORD", "REDIRECT", "SETUP", "SET_PARAMETER", "TEARDOWN"}

-- The payload as one string: s holds the bytes tcpdump may read (avail of
-- them, avail <= len); a read at index >= avail is tcpdump's truncation.
local function payload(p, off, len)
  local avail = p.caplen - off
  if avail > len then avail = len end
  if avail <= 0 then return "", 0 end
  return p:bytes(off, avail) or "", avail
end

-- or cut by the capture).
local function fetch_token(s, avail, i, len)
  local start = i
  while i < len do
    if i >= avail then return nil end
    local c = byte(s, i + 1)
    if c >= 0x80 then return nil end
    if c == SP or c == TAB or c == CR or c == LF then break end
    if not printable(c) then return nil end
    if i - start + 2 > MAX_TOKEN + 1 then return nil end
    i = i + 1
  end
  if i == start then return nil end
  local tok = sub(s, start + 1, i)
  while i < len and i < avail do
    local c = byte(s, i + 1)
    if c == CR or c == LF or not printable(c) or (c ~= SP and c ~= TAB) then break end
    i = i + 1
  end
  return tok, i
end

-- print_txt_line, non-verbose: the first line, or nil for binary data or
-- a CR at the segment's end; true as a second value when tcpdump ran
-- past the captured bytes (it prints " [|proto]" and not the line).
local function first_line(s, avail, len)
  local i = 0
  while i < len do
    if i >= avail then return nil, true end
    local c = byte(s, i + 1)
    if c == LF then return sub(s, 1, i) end
    if c == CR then
      if i + 1 >= len then return nil end
      if i + 1 >= avail then return nil, true end
      if byte(s, i + 2) == LF then return sub(s, 1, i) end
      return nil
    end
    if not printable(c) and c ~= TAB then return nil end
    i = i + 1
  end
  return sub(s, 1, i), false, true    -- no line end: tcpdump marks it cut
end

-- txtproto_print: ": NAME" and, for a request or response line (any
-- first line when cmds is nil), ": " and that line.
local function txtproto(s, avail, len, name, cmds)
  local print_this = cmds == nil
  if cmds then
    local tok, i = fetch_token(s, avail, 0, len)
    if tok then
      if cmds[upper(tok)] then print_this = true end
      tok = fetch_token(s, avail, i, len)     -- the response code is the second token
      if tok and #tok == 3 and tok:match("^[0-9][0-9][0-9]$") then print_this = true end
    end
  end
  local out = ": " .. upper(name)
  if not print_this then return out end
  local line, cut, unended = first_line(s, avail, len)
  if line then out = out .. ": " .. line end
  if cut or unended then out = out .. " [|" .. name .. "]" end
  return out
end

-- print-ssh.c: "SSH-..." up to its line end, else nothing.
local function ssh(s, avail, len)
  local want = "SSH-"
  for i = 0, 3 do
    if i >= avail then return " [|ssh]" end
    if byte(s, i + 1) ~= byte(want, i + 1) then return nil end
  end
  local i = 4
  while i < len do
    if i >= avail then return " [|ssh]" end
    local c = byte(s, i + 1)
    if c == LF then break end
    if c == CR then
      if i + 1 >= len then return nil end
      if i + 1 >= avail then return " [|ssh]" end
      if byte(s, i + 2) == LF then break end
      return nil
    end
    if not printable(c) then return nil end
    i = i + 1
  end
  if i >= len then return nil end
  return ": SSH: " .. sub(s, 1, i)
end

-- The printers take the packet, the payload's offset and length. Most
-- segments on these ports carry data, not a first line: a first byte
-- that cannot start a token (HTTP, RTSP) or "SSH-" settles the text
-- without copying the payload (up to 64 KiB a segment) into a string.
local function text_printer(name, cmds)
  return function(p, off, len)
    if cmds and off < p.caplen then
      local c = p:u8(off)
      if c <= SP or c >= 0x7f then return ": " .. upper(name) end  -- fetch_token: none
    end
    local s, avail = payload(p, off, len)
    return txtproto(s, avail, len, name, cmds)
  end
end

local function ssh_printer(p, off, len)
  if off < p.caplen and p:u8(off) ~= byte("S") then return nil end
  local s, avail = payload(p, off, len)
  return ssh(s, avail, len)
end

local function on_payload(fn)
  if not fn then return false end
  return function(p, off, len)
    local s, avail = payload(p, off, len)
    return fn(s, avail, len)
  end
end

-- print-tcp.c's dispatch in 4.99.3's order (the tcpdump Debian 12 ships,
-- which the tests compare with; 4.99.6 tries FTP, SSH, TELNET, SMTP and
-- WHOIS first): the first port of the list that either end uses picks
-- the printer. false: tcpdump prints a
-- binary protocol (or DNS, printed elsewhere) not decoded here.
-- NetBIOS (139) and SMB (445) are left out, as in tcpdump built without
-- ENABLE_SMB (Debian's, and configure's default).
local DISPATCH = {
  {23, on_payload(bin.telnet)}, {25, text_printer("smtp")}, {43, text_printer("whois")},
  {179, on_payload(bin.bgp)}, {1723, on_payload(bin.pptp)}, {6379, on_payload(bin.resp)},
  {22, ssh_printer}, {10288, on_payload(bin.beep)}, {6633, false}, {6653, false},
  {21, text_printer("ftp")},
  {80, text_printer("http", HTTP_CMDS)}, {8080, text_printer("http", HTTP_CMDS)},
  {554, text_printer("rtsp", RTSP_CMDS)}, {8554, text_printer("rtsp", RTSP_CMDS)},
  {53, false}, {639, on_payload(bin.msdp)}, {323, on_payload(bin.rpki_rtr)},
  {646, on_payload(bin.ldp)}, {2049, false},
}

-- The text after ", length N" for a segment whose payload of len bytes
-- (from the IP length) starts at offset off; nil when tcpdump prints
-- nothing more. _flags (the TCP flags) is unused: without -v tcpdump
-- 4.99.3 decodes an RST's payload like any other (4.99.6 prints nothing
-- for it).
local RANK = {}          -- port -> its place in DISPATCH
for i, d in ipairs(DISPATCH) do RANK[d[1]] = i end

function M.text(p, sport, dport, off, len, _flags)
  if not len or len <= 0 then return nil end
  local i, j = RANK[sport], RANK[dport]
  if j and (not i or j < i) then i = j end
  if not i then return nil end
  local fn = DISPATCH[i][2]
  return fn and fn(p, off, len) or nil
end

return M
