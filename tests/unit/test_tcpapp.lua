-- test_tcpapp.lua - pktsh.proto.tcpapp: the application text tcpdump 4.99
-- prints after a TCP segment's ", length N" (FTP, SSH, TELNET, SMTP, WHOIS,
-- HTTP, RTSP, BEEP, MSDP, RESP, BGP, RPKI-RTR, LDP, PPTP), in the packet
-- summaries.
--
-- One capture of small segments (no options, no ACK) per case: request
-- and response lines, continuations, lines without a line end, lines cut
-- by the snaplen, binary data, empty and over-long payloads. Each summary
-- is checked against the text written here and, when tcpdump is
-- installed, against `tcpdump -n -r` on the same file, from ", length "
-- to the end of the line.
local T = require "t"
local build = pktsh.build
local tcpapp = require "pktsh.proto.tcpapp"
local packet = require "pktsh.proto.packet"

local rep = string.rep
local u16, u32 = build.u16, build.u32

-- A PPTP control message of type t with its body.
local function pptp(t, body, cookie)
  return u16(12 + #body) .. u16(1) .. u32(cookie or 0x1a2b3c4d) .. u16(t) .. u16(0) .. body
end
-- What tcpdump prints of a PPTP message: ": pptp" and the parts.
local function W(parts) return ": pptp " .. table.concat(parts, " ") end
local HOST = "vpn" .. rep("\0", 61)
local SCCRQ = pptp(1, u16(0x100) .. u16(0) .. u32(3) .. u32(1) .. u16(65535) .. u16(2600) .. HOST
  .. "Vendor\1\200" .. rep("\0", 56))
local LONG = "GET /" .. rep("a", 1400) .. " HTTP/1.1\r\n"

-- {name, port, payload, want [, snap = payload bytes captured]
--  [, sport =] [, flags =] [, v6 =] [, pad =]}; port is the server's,
-- the client's is 40000 unless sport says otherwise. want is the text
-- after ", length N" (nil: none).
local CASES = {
  -- FTP: every first line is printed
  {"ftp request", 21, "USER anonymous\r\n", ": FTP: USER anonymous"},
  {"ftp response", 21, "220 (vsFTPd 3.0.3)\r\n", ": FTP: 220 (vsFTPd 3.0.3)", server = true},
  {"ftp continuation", 21, "  second line of a reply\r\n", ": FTP:   second line of a reply"},
  {"ftp no line end", 21, "PASV", ": FTP: PASV [|ftp]"},
  {"ftp snaplen", 21, "RETR file.txt\r\n", ": FTP [|ftp]", snap = 6},
  {"ftp snaplen before the payload", 21, "QUIT\r\n", ": FTP [|ftp]", snap = 0},
  {"ftp binary", 21, "\1\2\3\255junk\r\n", ": FTP"},
  {"ftp lf only", 21, "NOOP\nNOOP\n", ": FTP: NOOP"},
  {"ftp cr then not lf", 21, "NOOP\rX\n", ": FTP"},
  {"ftp cr at the end", 21, "NOOP\r", ": FTP"},
  {"ftp tab kept", 21, "SITE\tHELP\r\n", ": FTP: SITE\tHELP"},
  {"ftp over-long", 21, "STOR " .. rep("f", 1300) .. "\r\n", ": FTP: STOR " .. rep("f", 1300)},
  -- SSH: only the version line
  {"ssh client version", 22, "SSH-2.0-OpenSSH_8.4\r\n", ": SSH: SSH-2.0-OpenSSH_8.4"},
  {"ssh server version lf", 22, "SSH-2.0-dropbear\n", ": SSH: SSH-2.0-dropbear", server = true},
  {"ssh binary packet", 22, "\0\0\5\220\10\20" .. rep("\171", 40), nil},
  {"ssh no line end", 22, "SSH-2.0-OpenSSH_8.4", nil},
  {"ssh snaplen", 22, "SSH-2.0-OpenSSH_8.4\r\n", " [|ssh]", snap = 10},
  {"ssh snaplen in the magic", 22, "SSH-2.0-OpenSSH_8.4\r\n", " [|ssh]", snap = 2},
  {"ssh short with padding", 22, "SSH", " [|ssh]", pad = true},
  {"ssh tab is binary", 22, "SSH-2.0-a\tb\r\n", nil},
  {"ssh over-long", 22, "SSH-2.0-" .. rep("v", 1000) .. "\r\n", ": SSH: SSH-2.0-" .. rep("v", 1000)},
  -- SMTP
  {"smtp banner", 25, "220 mail.example.com ESMTP\r\n", ": SMTP: 220 mail.example.com ESMTP", server = true},
  {"smtp request", 25, "EHLO client.example.com\r\n", ": SMTP: EHLO client.example.com"},
  {"smtp multi-line reply", 25, "250-mail.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
   ": SMTP: 250-mail.example.com", server = true},
  {"smtp data continuation", 25, "and the body goes on\r\nmore\r\n", ": SMTP: and the body goes on"},
  {"smtp no line end", 25, "Subject: hi", ": SMTP: Subject: hi [|smtp]"},
  {"smtp snaplen", 25, "MAIL FROM:<a@example.com>\r\n", ": SMTP [|smtp]", snap = 12},
  {"smtp binary", 25, "\22\3\1\0\200", ": SMTP"},
  {"smtp empty", 25, "", nil},
  -- WHOIS
  {"whois query", 43, "example.com\r\n", ": WHOIS: example.com"},
  {"whois answer", 43, "% IANA WHOIS server\n", ": WHOIS: % IANA WHOIS server", server = true},
  {"whois snaplen", 43, "example.com\r\n", ": WHOIS [|whois]", snap = 4},
  -- HTTP: request and response lines only
  {"http request", 80, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ": HTTP: GET / HTTP/1.1"},
  {"http request lower case", 80, "post /form HTTP/1.0\r\n", ": HTTP: post /form HTTP/1.0"},
  {"http webdav", 80, "PROPFIND /dav HTTP/1.1\r\n", ": HTTP: PROPFIND /dav HTTP/1.1"},
  {"http response", 80, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", ": HTTP: HTTP/1.1 200 OK", server = true},
  {"http response no reason", 80, "HTTP/1.1 204\r\n", ": HTTP: HTTP/1.1 204", server = true},
  {"http continuation", 80, "<html><body>more of the page</body></html>\r\n", ": HTTP", server = true},
  {"http four-digit code", 80, "HTTP/1.1 2000 OK\r\n", ": HTTP", server = true},
  {"http request no line end", 80, "GET /index.html HTTP/1.1", ": HTTP: GET /index.html HTTP/1.1 [|http]"},
  {"http request snaplen", 80, "GET /index.html HTTP/1.1\r\n", ": HTTP [|http]", snap = 20},
  {"http snaplen in the method", 80, "GET /index.html HTTP/1.1\r\n", ": HTTP", snap = 2},
  {"http response snaplen", 80, "HTTP/1.1 404 Not Found\r\n", ": HTTP [|http]", snap = 13, server = true},
  {"http binary", 80, "\22\3\1\2\0\1\0\1\252\3\3", ": HTTP"},
  {"http request then binary", 80, "GET /\1\2 HTTP/1.1\r\n", ": HTTP"},
  {"http over-long line", 80, LONG, ": HTTP: " .. LONG:sub(1, -3)},
  {"http over-long method", 80, rep("G", 200) .. " / HTTP/1.1\r\n", ": HTTP"},
  -- a first token of up to 128 characters, then the response code
  {"http token at the limit", 80, rep("G", 128) .. " 200 x\r\n", ": HTTP: " .. rep("G", 128) .. " 200 x"},
  {"http token past the limit", 80, rep("G", 129) .. " 200 x\r\n", ": HTTP"},
  -- only spaces part the tokens: a tab ends the first, and starts no second
  {"http tab before the code", 80, "HTTP/1.1\t200 OK\r\n", ": HTTP", server = true},
  {"http spaces before the code", 80, "HTTP/1.1   200 OK\r\n", ": HTTP: HTTP/1.1   200 OK", server = true},
  {"http empty", 80, "", nil},
  {"http rst with data", 80, "GET / HTTP/1.1\r\n", ": HTTP: GET / HTTP/1.1", flags = "R"},
  {"http alt request", 8080, "CONNECT example.com:443 HTTP/1.1\r\n", ": HTTP: CONNECT example.com:443 HTTP/1.1"},
  {"http alt continuation", 8080, "tail of a body", ": HTTP", server = true},
  {"http over ipv6", 80, "HEAD / HTTP/1.1\r\n", ": HTTP: HEAD / HTTP/1.1", v6 = true},
  -- RTSP
  {"rtsp request", 554, "DESCRIBE rtsp://cam/stream RTSP/1.0\r\nCSeq: 2\r\n\r\n",
   ": RTSP: DESCRIBE rtsp://cam/stream RTSP/1.0"},
  {"rtsp response", 554, "RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n", ": RTSP: RTSP/1.0 200 OK", server = true},
  {"rtsp continuation", 554, "v=0\r\no=- 0 0 IN IP4 198.18.0.1\r\n", ": RTSP", server = true},
  {"rtsp not an http method", 554, "GET / HTTP/1.1\r\n", ": RTSP"},
  {"rtsp no line end", 554, "TEARDOWN rtsp://cam/stream RTSP/1.0",
   ": RTSP: TEARDOWN rtsp://cam/stream RTSP/1.0 [|rtsp]"},
  {"rtsp snaplen", 554, "PLAY rtsp://cam/stream RTSP/1.0\r\n", ": RTSP [|rtsp]", snap = 16},
  {"rtsp interleaved binary", 554, "$\0\0\12" .. rep("\128", 12), ": RTSP", server = true},
  {"rtsp alt request", 8554, "SETUP rtsp://cam/track1 RTSP/1.0\r\n", ": RTSP: SETUP rtsp://cam/track1 RTSP/1.0"},
  {"rtsp alt response", 8554, "RTSP/1.0 454 Session Not Found\r\n",
   ": RTSP: RTSP/1.0 454 Session Not Found", server = true},
  -- TELNET: the IAC commands a segment starts with
  {"telnet options", 23, "\255\253\1\255\251\31", " [telnet DO ECHO, WILL NAWS]"},
  {"telnet options then text", 23, "\255\251\3login: ", " [telnet WILL SUPPRESS GO AHEAD]", server = true},
  {"telnet unknown option", 23, "\255\254\200", " [telnet DONT 0xc8]"},
  {"telnet naws", 23, "\255\250\31\0\80\0\24\255\240", " [telnet SB NAWS IS 0x50 0 0x18 SE]"},
  {"telnet ttype send", 23, "\255\250\24\1\255\240\255\241", " [telnet SB TERMINAL TYPE SEND SE, NOP]", server = true},
  {"telnet auth", 23, "\255\250\37\0\2\3\255\240", " [telnet SB AUTHENTICATION IS KERBEROS_V5 0x3 SE]"},
  {"telnet encrypt", 23, "\255\250\38\1\9\255\240", " [telnet SB ENCRYPT SUPPORT CAST128_OFB64 SE]"},
  {"telnet sb without se", 23, "\255\250\24\1\255", " [telnet SB TERMINAL TYPE SEND SE [|telnet]"},
  {"telnet sb without iac", 23, "\255\250\24\1abc", nil},
  {"telnet iac iac", 23, "\255\255x", " [telnet IAC IAC]"},
  {"telnet ga", 23, "\255\249", " [telnet GA]"},
  {"telnet not a command", 23, "\255\100", nil},
  {"telnet command cut by the segment", 23, "\255\253", nil},
  {"telnet snaplen", 23, "\255\253\1\255\251\31", " [telnet DO ECHO [|telnet]", snap = 4},
  {"telnet snaplen before the payload", 23, "\255\253\1", " [|telnet]", snap = 0},
  -- BEEP: the frame's keyword ("MSG" and "END" only with a '\0' after them)
  {"beep rpy", 10288, "RPY 0 1 . 0 5\r\nhello", " BEEP RPY", server = true},
  {"beep msg with a space", 10288, "MSG 0 1 . 0 5\r\nhello", " BEEP (payload or undecoded)"},
  {"beep msg with a nul", 10288, "MSG\0", " BEEP MSG"},
  {"beep end", 10288, "END\0\0", " BEEP END"},
  {"beep seq", 10288, "SEQ 0 0 4096\r\n", " BEEP SEQ"},
  {"beep short", 10288, "ERR", " BEEP (payload or undecoded)"},
  {"beep snaplen", 10288, "ANS 1 2 . 0 10 0\r\n", " BEEP (payload or undecoded)", snap = 3},
  -- MSDP: the messages by type
  {"msdp keepalive", 639, "\4\0\3", ": msdp Keepalive"},
  {"msdp keepalives", 639, "\4\0\3\4\0\4\0", ": msdp Keepalive Keepalive[len=4] "},
  {"msdp sa", 639, "\1\0\20\1\198\18\0\1" .. rep("\7", 12), ": msdp SA 1 entries"},
  {"msdp sa with data", 639, "\3\0\30\1\198\18\0\1" .. rep("\7", 22),
   ": msdp SA-Response 1 entries [w/data]", server = true},
  {"msdp sa request", 639, "\2\0\8\0\198\18\0\5", ": msdp SA-Request for 198.18.0.5"},
  {"msdp notification and unknown", 639, "\5\0\4\0\6\0\3", ": msdp Notification [type=6 len=3]"},
  {"msdp not msdp", 639, "\0\0\3", ": msdp [|msdp]"},
  {"msdp longer than the segment", 639, "\4\0\10", ": msdp [|msdp]"},
  {"msdp long second message", 639, "\4\0\3\4\5\170\0", ": msdp Keepalive [len 1450] [|msdp]"},
  {"msdp zero length second message", 639, "\4\0\3\4\0\0", ": msdp Keepalive [|msdp]"},
  {"msdp snaplen", 639, "\4\0\3\2\0\8\0\198\18\0\5", ": msdp Keepalive SA-Request [|msdp]", snap = 8},
  -- RESP (Redis): every item, pipelined
  {"resp command", 6379, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", ': RESP "GET" "key"'},
  {"resp replies", 6379, "+OK\r\n:42\r\n-ERR no\r\n$-1\r\n*0\r\n$0\r\n\r\n",
   ': RESP "OK" "42" "ERR no" null empty empty', server = true},
  {"resp inline pipelined", 6379, "PING\r\nPING\n\nINFO x\r\n", ': RESP "PING" "PING" "INFO x"'},
  {"resp nested arrays", 6379, "*2\r\n*1\r\n+a\r\n*-1\r\n:7\r\n", ': RESP "a" null "7"', server = true},
  {"resp array short of elements", 6379, "*3\r\n+a\r\n", ': RESP "a" [|resp]', server = true},
  -- "$x" is invalid, and what follows it an inline line
  {"resp bad lengths", 6379, "$x\r\n$-2\r\n$99999999999\r\n*5\n", ': RESP invalid "$-2" length too large invalid'},
  {"resp negative lengths", 6379, "$-2\r\n*-1\r\n*-10\r\n$2147483648\r\n",
   ": RESP length negative and not -1 null length negative and not -1 length too large"},
  {"resp bulk longer than the segment", 6379, "$10\r\nabc\r\n", ": RESP [|resp]"},
  {"resp bulk then junk before crlf", 6379, "$3\r\nabcdef\r\n", ': RESP "abc"'},
  {"resp no line end", 6379, "+OK", ": RESP [|resp]"},
  {"resp control and high bytes", 6379, "+a\1\127\128\200\255\r\n", ': RESP "a^A^?M-^@M-HM-^?"'},
  {"resp snaplen", 6379, "+OK\r\n+second\r\n", ': RESP "OK" [|resp]', snap = 8},
  {"resp binary", 6379, "\0\1\2\3", ": RESP [|resp]"},
  -- BGP and RPKI-RTR: the name only; LDP: the first PDU's header
  {"bgp", 179, rep("\255", 16) .. "\0\19\4", ": BGP"},
  {"bgp cut before the payload", 179, "abc", ": BGP", snap = 0},
  {"rpki-rtr", 323, "\1\2\0\0\0\0\0\8", ", RPKI-RTR", server = true},
  {"ldp", 646, "\0\1\0\30\198\18\0\1\0\0" .. rep("\0", 20), "LDP, Label-Space-ID: 198.18.0.1:0, pdu-length: 30"},
  {"ldp version 2", 646, "\0\2\0\30\198\18\0\1\0\0" .. rep("\0", 20), "LDP version 2 packet not supported"},
  {"ldp pdu too short", 646, "\0\1\0\5\198\18\0\1\0\3" .. rep("\0", 20), "LDP, pdu-length: 5 (too short, < 6)"},
  {"ldp 19 bytes", 646, "\0\1\0\30\198\18\0\1\1\1" .. rep("\0", 9),
   "LDP, Label-Space-ID: 198.18.0.1:257, pdu-length: 30"},
  {"ldp 18 bytes", 646, "\0\1\0\30\198\18\0\1\1\1" .. rep("\0", 8), nil},
  {"ldp snaplen", 646, "\0\1\0\30\198\18\0\1\0\0" .. rep("\0", 20), " [|ldp]", snap = 9},
  -- PPTP: the control message's fields
  {"pptp sccrq", 1723, SCCRQ, W{"CTRL_MSGTYPE=SCCRQ PROTO_VER(1.0) FRAME_CAP(AS) BEARER_CAP(A)",
   "MAX_CHAN(65535) FIRM_REV(2600) HOSTNAME(vpn) VENDOR(Vendor^AM-H)"}},
  {"pptp sccrq snaplen", 1723, SCCRQ, W{"CTRL_MSGTYPE=SCCRQ PROTO_VER(1.0) FRAME_CAP( [|pptp]"}, snap = 18},
  {"pptp sccrq snaplen in the hostname", 1723, SCCRQ, W{"CTRL_MSGTYPE=SCCRQ PROTO_VER(1.0)",
   "FRAME_CAP(AS) BEARER_CAP(A) MAX_CHAN(65535) FIRM_REV(2600) HOSTNAME(vp [|pptp]"}, snap = 30},
  {"pptp sccrp", 1723, pptp(2, u16(0x100) .. "\1\0" .. u32(1) .. u32(2) .. u16(1) .. u16(1)
     .. rep("h", 64) .. rep("\0", 64)),
   W{"CTRL_MSGTYPE=SCCRP PROTO_VER(1.0) RESULT_CODE(1) ERR_CODE(0) FRAME_CAP(A) BEARER_CAP(D)",
     "MAX_CHAN(1) FIRM_REV(1) HOSTNAME(" .. rep("h", 64) .. ") VENDOR()"}, server = true},
  {"pptp stopccrq reserved", 1723, pptp(3, "\1\7\0\9"), W{"CTRL_MSGTYPE=StopCCRQ REASON(1)",
   "[ERROR: reserved=7 must be zero] [ERROR: reserved=9 must be zero]"}},
  {"pptp echo", 1723, pptp(5, u32(4000000000)), W{"CTRL_MSGTYPE=ECHORQ ID(4000000000)"}},
  {"pptp echo reply", 1723, pptp(6, u32(7) .. "\1\0\0\0"),
   W{"CTRL_MSGTYPE=ECHORP ID(7) RESULT_CODE(1) ERR_CODE(0)"}, server = true},
  {"pptp ocrq", 1723, pptp(7, u16(1) .. u16(2) .. u32(300) .. u32(100000000) .. u32(3) .. u32(9)
     .. u16(64) .. u16(0) .. u16(3) .. u16(0) .. "5551234" .. rep("\0", 57) .. rep("\0", 64)),
   W{"CTRL_MSGTYPE=OCRQ CALL_ID(1) CALL_SER_NUM(2) MIN_BPS(300) MAX_BPS(100000000)",
     "BEARER_TYPE(Any) FRAME_TYPE(?) RECV_WIN(64) PROC_DELAY(0) PHONE_NO_LEN(3) PHONE_NO(555)",
     "SUB_ADDR()"}},
  {"pptp icrq", 1723, pptp(9, u16(1) .. u16(2) .. u32(1) .. u32(5) .. u16(100) .. u16(2)
     .. rep("1", 64) .. "22" .. rep("\0", 62) .. "s" .. rep("\0", 63)),
   W{"CTRL_MSGTYPE=ICRQ CALL_ID(1) CALL_SER_NUM(2) BEARER_TYPE(A) PHY_CHAN_ID(5)",
     "DIALED_NO_LEN(100) DIALING_NO_LEN(2) DIALED_NO(" .. rep("1", 64) .. ") DIALING_NO(22)",
     "SUB_ADDR(s)"}},
  {"pptp sli", 1723, pptp(15, u16(9) .. u16(0) .. u32(0xffffffff) .. u32(0)),
   ": pptp CTRL_MSGTYPE=SLI PEER_CALL_ID(9) SEND_ACCM(0xffffffff) RECV_ACCM(0x00000000)"},
  {"pptp bad cookie", 1723, pptp(12, u16(4) .. u16(0), 0xdeadbeef),
   ": pptp UNEXPECTED Magic-Cookie!!(deadbeef) Magic-Cookie=deadbeef CTRL_MSGTYPE=CCRQ CALL_ID(4)"},
  {"pptp unknown type", 1723, pptp(99, ""), ": pptp UNKNOWN_CTRL_MSGTYPE(99)"},
  {"pptp short", 1723, "\0\1\0", ": pptp [|pptp]"},
  -- the dispatch order of print-tcp.c
  {"netbios is not decoded", 80, "GET / HTTP/1.1\r\n", ": HTTP: GET / HTTP/1.1", sport = 139},
  {"smb is not decoded", 80, "GET / HTTP/1.1\r\n", ": HTTP: GET / HTTP/1.1", sport = 445},
  {"bgp before http", 80, "GET / HTTP/1.1\r\n", ": BGP", sport = 179},
  {"smtp before http", 80, "EHLO x\r\n", ": SMTP: EHLO x", sport = 25},
  {"ssh before ftp", 21, "SSH-2.0-x\r\n", ": SSH: SSH-2.0-x", sport = 22},
  {"telnet text prints nothing", 23, "login: \r\n", nil},
  {"telnet before http", 80, "GET / HTTP/1.1\r\n", nil, sport = 23},
  {"other port", 9999, "GET / HTTP/1.1\r\n", nil},
}

---------------------------------------------------------------------------
-- The capture

local function frame(c)
  local port, sport = c[2], c.sport or 40000
  if c.server then port, sport = sport, port end
  local o = {sport = sport, dport = port, flags = c.flags or "P", seq = 1000,
             win = 512, payload = c[3], pad = c.pad}
  if c.v6 then return build.tcp6(o), 74 end
  return build.tcp4(o), 54
end

local function write_capture(path, cases)
  local w = assert(pktsh.pcap_writer(path))
  for i, c in ipairs(cases) do
    local f, hdr = frame(c)
    local cap = c.snap and f:sub(1, hdr + c.snap) or f
    assert(w:write(cap, i * 1000000000, #f))
  end
  assert(w:close())
end

local function summaries(path)
  local out = {}
  local src = assert(pktsh.open(path))
  for p in src:packets() do out[#out + 1] = p:summary() end
  src:close()
  return out
end

-- From ", length " to the end of the line (the whole line when absent).
local function tail(line) return line:match(", length .*$") or line end

local function want_tail(c) return string.format(", length %d", #c[3]) .. (c[4] or "") end

local path = os.tmpname()
write_capture(path, CASES)
local ours = summaries(path)

T.test("one summary a case", function() T.eq(#ours, #CASES, "summaries") end)

for i, c in ipairs(CASES) do
  T.test(c[1], function() T.eq(tail(ours[i] or ""), want_tail(c), "text after length") end)
end

---------------------------------------------------------------------------
-- Random segments: text, line ends, telnet commands and binary bytes in
-- pieces, on every port decoded here, some cut by the snaplen.

local PORTS = {21, 22, 23, 25, 43, 80, 8080, 554, 8554, 10288, 639, 6379, 179, 323, 646, 139, 1723}
local PIECES = {"GET", "HTTP/1.1", "RTSP/1.0", "200", "2000", "SSH-", "SSH-2.0-x",
  "PLAY", "get", " ", "  ", "\t", "\r", "\n", "\r\n", "\0", "\127", "\128", "\255",
  "\255\253\1", "\255\250", "\255\240", "\250", "\24", "\31", "x", "/index.html",
  string.rep("t", 130)}

-- First lines the printers look for, to start half the payloads with.
local STARTS = {"GET / HTTP/1.1", "HTTP/1.1 200 OK", "RTSP/1.0 200 OK", "SSH-2.0-x",
  "PLAY rtsp://x RTSP/1.0", "OPTIONS * RTSP/1.0", "\255\251\1", "RPY ", "MSG\0",
  "\4\0\3", "\4\0\3\4\0\3", "\2\0\8\0\198\18\0\1", "\1\0\20\1\0\0\0\0",
  "*2\r\n", "$3\r\nGET\r\n", "+OK\r\n", "\0\1\0\30\198\18\0\1\0\0", "\0\1\0\2"}

-- RESP's grammar in pieces, for the Redis port.
local RESP_PIECES = {"*", "$", "+", ":", "-", "1", "2", "3", "0", "-1", "-2", "x", "OK",
  "\r\n", "\r", "\n", "\0", "\200", "99999999999", "2147483647", "2147483648"}

-- A RESP item, well formed more often than not (depth bounds arrays).
local function resp_item(depth)
  local r = math.random(9)
  local lie = math.random(6) == 1 and math.random(-2, 2) or 0   -- a wrong length
  if r == 1 then return "+" .. RESP_PIECES[math.random(#RESP_PIECES)] .. "\r\n" end
  if r == 2 then return ":" .. math.random(0, 99999) .. "\r\n" end
  if r == 3 then return "-ERR " .. RESP_PIECES[math.random(#RESP_PIECES)] .. "\r\n" end
  if r == 4 then return "$-1\r\n" end
  if r <= 6 then
    local v = string.rep("v", math.random(0, 5))
    return "$" .. (#v + lie) .. "\r\n" .. v .. "\r\n"
  end
  if r <= 8 and depth < 3 then
    local k, t = math.random(0, 3), {}
    for j = 1, k do t[j] = resp_item(depth + 1) end
    return "*" .. (k + lie) .. "\r\n" .. table.concat(t)
  end
  return "PING" .. (math.random(2) == 1 and "\r\n" or "\n")
end

local function random_cases(n)
  math.randomseed(20261129)
  local out = {}
  for i = 1, n do
    local port, t = PORTS[math.random(#PORTS)], {}
    if port == 6379 and math.random(3) == 1 then
      for j = 1, math.random(0, 24) do t[j] = RESP_PIECES[math.random(#RESP_PIECES)] end
    elseif port == 6379 then
      for j = 1, math.random(1, 4) do t[j] = resp_item(0) end
    elseif port == 1723 then
      local body = {}
      for j = 1, math.random(0, 200) do body[j] = string.char(({0, 1, 65, 200})[math.random(4)]) end
      t[1] = pptp(math.random(0, 16), table.concat(body))
    else
      if math.random(2) == 1 then t[1] = STARTS[math.random(#STARTS)] end
      for _ = 1, math.random(0, 8) do t[#t + 1] = PIECES[math.random(#PIECES)] end
    end
    local payload = table.concat(t)
    local c = {"random " .. i, port, payload, server = math.random(2) == 1}
    if #payload > 0 and math.random(4) == 1 then c.snap = math.random(0, #payload - 1) end
    out[i] = c
  end
  return out
end

---------------------------------------------------------------------------
-- tcpdump on the same files

local function tcpdump_lines(file)
  local f = io.popen("TZ=UTC tcpdump -n -r '" .. file .. "' 2>/dev/null")
  local out = {}
  for line in f:lines() do
    if line:match("^%d%d:%d%d:%d%d") then out[#out + 1] = line end
  end
  f:close()
  return out
end

if os.execute("command -v tcpdump >/dev/null 2>&1") ~= 0 then
  T.skip("tcpdump agrees", "skipped: tcpdump is not installed")
else
  local td = tcpdump_lines(path)
  T.test("tcpdump: one line a case", function() T.eq(#td, #CASES, "tcpdump lines") end)
  for i, c in ipairs(CASES) do
    T.test("tcpdump agrees: " .. c[1], function()
      T.eq(tail(ours[i] or ""), tail(td[i] or ""), "text after length")
    end)
  end
  T.test("tcpdump agrees on 2000 random segments", function()
    local cases = random_cases(2000)
    local rpath = os.tmpname()
    write_capture(rpath, cases)
    local us, them = summaries(rpath), tcpdump_lines(rpath)
    os.remove(rpath)
    T.eq(#them, #cases, "tcpdump lines")
    for i = 1, #cases do
      T.eq(tail(us[i] or ""), tail(them[i]), string.format("case %d (%q)", i, cases[i][3]))
    end
  end)
end
os.remove(path)

---------------------------------------------------------------------------
-- The module alone

T.test("no payload, no text", function()
  local p = packet.from_bytes(build.tcp4{dport = 80, flags = "P", payload = "GET / HTTP/1.1\r\n"})
  T.eq(tcpapp.text(p, 40000, 80, 54, 0, 0x08), nil, "len 0")
  T.eq(tcpapp.text(p, 40000, 80, 54, 16, 0x08), ": HTTP: GET / HTTP/1.1", "len 16")
end)

T.test("reads nothing past caplen", function()
  -- a segment whose IP length claims far more than was captured: every
  -- printer stops at the captured bytes with tcpdump's marker
  local s = build.tcp4{dport = 21, flags = "P", payload = "RETR x\r\n"}:sub(1, 57)
  local p = packet.from_bytes(s)
  T.eq(tcpapp.text(p, 40000, 21, 54, 60000, 0x08), ": FTP [|ftp]", "ftp")
  T.eq(tcpapp.text(p, 40000, 22, 54, 60000, 0x08), nil, "ssh: RET is not SSH-")
  T.eq(tcpapp.text(p, 40000, 80, 54, 60000, 0x08), ": HTTP", "http: token cut")
  T.eq(tcpapp.text(p, 40000, 23, 57, 60000, 0x08), " [|telnet]", "telnet")
  local q = packet.from_bytes(build.tcp4{dport = 23, flags = "P", payload = "\255\253\1\255\250\24"})
  T.eq(tcpapp.text(q, 40000, 23, 54, 60000, 0x08), " [telnet DO ECHO [|telnet]", "telnet sb")
end)

T.test("every cut of every case decodes", function()
  -- the frame cut at each length, the IP length still whole: each
  -- printer stops at the captured bytes, nothing raises
  for _, c in ipairs(CASES) do
    local f, hdr = frame(c)
    for k = hdr, #f do
      local p = packet.from_bytes(f:sub(1, k))
      local t = tcpapp.text(p, c.sport or 40000, c[2], hdr, #f - hdr, 0x08)
      T.ok(t == nil or type(t) == "string", c[1] .. " cut at " .. k)
    end
  end
end)

T.test("RESP arrays nested 15000 deep", function()
  local data = rep("*1\r\n", 15000) .. "+a\r\n"
  local p = packet.from_bytes(build.tcp4{dport = 6379, flags = "P", payload = data})
  T.eq(tcpapp.text(p, 40000, 6379, 54, #data, 0x08), ': RESP "a"', "deep")
  T.eq(tcpapp.text(p, 40000, 6379, 54, #data - 1, 0x08), ": RESP [|resp]", "deep, cut")
end)

T.test("binary protocols of the dispatch print nothing here", function()
  local p = packet.from_bytes(build.tcp4{dport = 80, flags = "P", payload = "GET / HTTP/1.1\r\n"})
  -- these come before HTTP in print-tcp.c's order
  for _, port in ipairs{6633, 6653} do
    T.eq(tcpapp.text(p, port, 80, 54, 16, 0x08), nil, "port " .. port .. " and 80")
  end
  -- and these after it
  for _, port in ipairs{53, 2049} do
    T.eq(tcpapp.text(p, port, 9999, 54, 16, 0x08), nil, "port " .. port)
    T.eq(tcpapp.text(p, port, 80, 54, 16, 0x08), ": HTTP: GET / HTTP/1.1", "port " .. port .. " and 80")
  end
end)

T.done()
