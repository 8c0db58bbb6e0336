-- pktsh.dnstap: messages out as dnstap, read back by dnstap-ldns (an
-- independent reader); Unix and TCP collectors (fstrm_capture, loopback);
-- a collector that stops reading costs dropped messages, never a wait.
local T = require "t"
local dnstap = require "pktsh.report.dnstap"
local dnsflow = require "pktsh.proto.dnsflow"
local dns = require "pktsh.proto.dns"

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == 0 end
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)

local function readcmd(cmd)
  local p = io.popen(cmd)
  local s = p:read("*a")
  p:close()
  return s
end

-- Every message dnsflow finds in a capture, emitted to tap; returns the
-- list of {qr = 0/1, name = question name or false, tcp =, ts =}.
local function feed(path, tap)
  local fe = dnsflow.new{ports = {53}}
  local src = assert(pktsh.open(path))
  local seen = {}
  for p in src:packets() do
    fe:feed(p, function(ptr, len, meta, pk)
      tap:emit(ptr, len, meta, pk)
      local _, _, _, name = dns.question(ptr, len)
      seen[#seen + 1] = {qr = len > 2 and ptr[2] >= 128 and 1 or 0, name = name or false,
                         tcp = meta.transport == "tcp", ts = meta.ts}
    end)
  end
  fe:flush()
  src:close()
  return seen
end

-- dnstap-ldns -r's lines as {kind = "CQ"|"CR", proto =, name = lower-case, no final dot}.
local function ldns(file)
  local out = {}
  for line in readcmd("dnstap-ldns -r " .. file):gmatch("[^\n]+") do
    local kind, proto, rest = line:match("^%S+ %S+ (%u%u) %S+ (%u+) %d+b (.*)$")
    local name = rest and rest:match('^"(.-)%.?"') or false
    out[#out + 1] = {kind = kind, proto = proto, name = name and name:lower() or false}
  end
  return out
end

local function compare(seen, got, what)
  T.eq(#got, #seen, what .. ": messages")
  for i, s in ipairs(seen) do
    local g = got[i]
    T.eq(g.kind, s.qr == 1 and "CR" or "CQ", what .. ": type of message " .. i)
    T.eq(g.proto, s.tcp and "TCP" or "UDP", what .. ": protocol of message " .. i)
    if s.name and s.name ~= "." then
      T.eq(g.name, s.name, what .. ": name of message " .. i)
    elseif not s.name then
      T.eq(g.name, false, what .. ": an unreadable question stays unreadable (" .. i .. ")")
    end
  end
end

local captures = {"dnscap__dns.pcap", "dnscap__dns6.pcap", "dnscap__dnso1tcp.pcap",
                  "dnscap__dnsotcp-manyopkts.pcap", "tcpdump__dns_tcp.pcap", "zeek__ipv6-fragmented-dns.pcap",
                  "tcpdump__dns-badlabel.pcap", "dnscap__vlan11.pcap"}

T.test("files: dnstap-ldns reads every message, type, protocol and name", function()
  if not have("dnstap-ldns") then return T.skip("dnstap files", "dnstap-ldns not installed") end
  local total = 0
  for _, c in ipairs(captures) do
    local out = dir .. "/" .. c .. ".tap"
    local tap = assert(dnstap.open(out, {wait = true}))
    local seen = feed("tests/pcaps/" .. c, tap)
    local st = tap:stats()
    T.ok(tap:close())
    T.eq(st.queued, #seen, c .. ": queued")
    T.eq(st.dropped, 0, c .. ": dropped")
    compare(seen, ldns(out), c)
    total = total + #seen
  end
  T.ok(total > 200, "messages in all: " .. total)
end)

T.test("fields: addresses the client's, time exact, wire message whole", function()
  if not have("dnstap-ldns") then return T.skip("dnstap fields", "dnstap-ldns not installed") end
  local out = dir .. "/f.tap"
  local tap = assert(dnstap.open(out, {wait = true, identity = "sensor-1"}))
  local seen = feed("tests/pcaps/dnscap__dns.pcap", tap)
  T.ok(tap:close())
  local y = readcmd("dnstap-ldns -y -r " .. out)
  T.ok(y:find('identity: "sensor%-1"'), "identity")
  T.ok(y:find('version: "pktsh '), "version")
  -- the first query and its response: same client address and port
  local q = y:match("type: CLIENT_QUERY.-\n%-%-%-")
  local r = y:match("type: CLIENT_RESPONSE.-\n%-%-%-")
  T.eq(q:match('query_address: "([^"]+)"'), r:match('query_address: "([^"]+)"'), "client address")
  T.eq(q:match("query_port: (%d+)"), r:match("query_port: (%d+)"), "client port")
  T.eq(q:match("response_port: (%d+)"), "53", "server port")
  T.ok(q:find("query_time: !!timestamp") and r:find("response_time: !!timestamp"), "times")
  local us = q:match("query_time: !!timestamp [%d-]+ [%d:]+%.(%d+)")
  T.eq(tonumber(us), math.floor(seen[1].ts / 1e3) % 1e6, "microseconds of the capture time")
  T.ok(q:find(";; QUESTION SECTION:%s+;google%.com%.%s+IN%s+A"), "the wire message parses")
end)

-- fstrm_capture on a Unix socket or TCP port until `count` messages are in.
local function collect(args, out, count, emit)
  os.execute(string.format("fstrm_capture -t protobuf:dnstap.Dnstap %s -w %s >%s/cap.log 2>&1 & echo $! > %s/cap.pid",
                           args, out, dir, dir))
  local pid = T.slurp(dir .. "/cap.pid"):match("%d+")
  os.execute("sleep 0.5")
  local ok, err = pcall(emit)
  -- fstrm_capture writes its file out when it ends
  os.execute("kill " .. pid .. " 2>/dev/null")
  for _ = 1, 50 do
    if os.execute("kill -0 " .. pid .. " 2>/dev/null") ~= 0 then break end
    os.execute("sleep 0.1")
  end
  if not ok then error(err, 0) end
  if count then T.eq(#ldns(out), count, "messages the collector wrote") end
end

for _, kind in ipairs{"unix", "tcp"} do
  T.test(kind .. ": a collector gets every message", function()
    if not have("fstrm_capture") or not have("dnstap-ldns") then
      return T.skip(kind, "fstrm_capture (fstrm-bin) or dnstap-ldns not installed")
    end
    local out, seen = dir .. "/" .. kind .. ".tap", nil
    local port = 20000 + math.random(0, 20000)
    local args = kind == "unix" and "-u " .. dir .. "/tap.sock" or "-a 127.0.0.1 -p " .. port
    local spec = kind == "unix" and "unix:" .. dir .. "/tap.sock" or "tcp:127.0.0.1:" .. port
    local st
    collect(args, out, 82, function()
      local tap = assert(dnstap.open(spec, {wait = true}))
      seen = feed("tests/pcaps/dnscap__dnso1tcp.pcap", tap)
      for _ = 1, 50 do
        if tap:stats().written == #seen then break end
        os.execute("sleep 0.1")
      end
      st = tap:stats()
      T.ok(tap:close())
    end)
    T.eq(st.connects, 1, "connected once")
    T.eq(st.written, #seen, "written")
    compare(seen, ldns(out), kind)
  end)
end

T.test("no collector: messages lost and counted; connects when one comes", function()
  local tap = assert(dnstap.open("unix:" .. dir .. "/nobody.sock"))
  local seen = feed("tests/pcaps/dnscap__dns.pcap", tap)
  for _ = 1, 50 do
    local s = tap:stats()
    if s.lost + s.dropped == #seen then break end
    os.execute("sleep 0.1")
  end
  local st = tap:stats()
  T.eq(st.queued + st.dropped, #seen, "every message counted")
  T.eq(st.written, 0)
  T.eq(st.lost + st.dropped, #seen, "lost")
  T.ok(st.errors >= 1 and st.last_error and st.last_error:find("connecting"), tostring(st.last_error))
  if not have("fstrm_capture") then
    T.ok(tap:close())
    return T.skip("reconnect", "fstrm_capture (fstrm-bin) not installed")
  end
  -- the collector comes up: the writer connects on its next try (once a second)
  collect("-u " .. dir .. "/nobody.sock", dir .. "/late.tap", nil, function()
    for _ = 1, 50 do
      feed("tests/pcaps/dnscap__dns.pcap", tap)
      if tap:stats().written > 0 then break end
      os.execute("sleep 0.1")
    end
    for _ = 1, 50 do
      st = tap:stats()
      if st.queued == st.written + st.lost then break end
      os.execute("sleep 0.1")
    end
    T.ok(tap:close())
  end)
  T.eq(st.connects, 1, "connected once the collector was there")
  T.ok(st.written > 0, "written after the reconnect")
  T.eq(#ldns(dir .. "/late.tap"), st.written, "what the collector got")
end)

-- A collector that handshakes, then never reads again.
local STALL = [[
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
open(sys.argv[2], "w").write("ready\n")
c, _ = s.accept()
def frame():
    esc, n = struct.unpack(">II", c.recv(8, socket.MSG_WAITALL))
    return c.recv(n, socket.MSG_WAITALL)
frame()                                    # READY
ct = b"protobuf:dnstap.Dnstap"
body = struct.pack(">III", 1, 1, len(ct)) + ct
c.sendall(struct.pack(">II", 0, len(body)) + body)    # ACCEPT
frame()                                    # START
time.sleep(float(sys.argv[3]))
]]

T.test("a collector that stops reading: drops, never a wait", function()
  if not have("python3") then return T.skip("stall", "python3 not installed") end
  local py = io.open(dir .. "/stall.py", "w")
  py:write(STALL)
  py:close()
  local sock = dir .. "/stall.sock"
  os.execute(string.format("python3 %s/stall.py %s %s/stall.ready 8 & echo $! > %s/stall.pid", dir, sock, dir, dir))
  for _ = 1, 50 do
    if T.slurp(dir .. "/stall.ready") then break end
    os.execute("sleep 0.1")
  end
  local tap = assert(dnstap.open("unix:" .. sock, {queue = 256 * 1024, timeout = 0.5}))
  for _ = 1, 20 do
    if tap:stats().connected then break end
    os.execute("sleep 0.1")
  end
  -- far more than the socket buffers and the queue hold
  local ffi = require "ffi"
  local msg, hdr = ffi.new("uint8_t[512]"), ffi.new("uint8_t[40]")
  msg[2] = 1
  local n = 200000
  for i = 1, n do ffi.C.pktsh_dnstap_add(tap.handle, msg, 512, hdr, 0, 1000 + i % 100, 53, 1e18, 0) end
  local st = tap:stats()
  T.eq(st.queued + st.dropped, n, "every message counted")
  T.ok(st.dropped > n / 2, "dropped: " .. st.dropped)
  local ok, err = tap:close()
  -- the writer was stuck in a write: close gives it a bound, then shuts the socket
  T.ok(ok or err:find("stopped reading"), tostring(err))
  os.execute("kill $(cat " .. dir .. "/stall.pid) 2>/dev/null")
end)

T.test("bad specs", function()
  local ok, err = dnstap.open("tcp:nohost")
  T.ok(not ok and err:find("tcp:HOST:PORT"), err)
  ok, err = dnstap.open("unix:")
  T.ok(not ok and err:find("unix:PATH"), err)
  os.execute("ln -sf /etc/passwd " .. dir .. "/link.tap")
  ok, err = dnstap.open(dir .. "/link.tap")
  T.ok(not ok and err:find("symbolic link"), err)
  ok, err = dnstap.open("/nonexistent/dir/x.tap")
  T.ok(not ok and err:find("cannot create"), err)
end)

os.execute("rm -rf " .. dir)
T.done()
