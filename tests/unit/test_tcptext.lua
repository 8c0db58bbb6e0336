-- test_tcptext.lua - pktsh.proto.tcptext beyond what the captures show
-- against tcpdump (test_lineformat: gen__tcp-options and every TCP
-- capture, with and without -S):
--   1. the conversation table is bounded, keeps what is in use, and a
--      conversation it forgot starts again (printed absolute once);
--   2. random option bytes, cut anywhere, never raise an error and never
--      read past the capture.
local T = require "t"
local pktsh = require "pktsh"
local packet = require "pktsh.proto.packet"
local tcptext = require "pktsh.proto.tcptext"
local lf = require "pktsh.proto.lineformat"
local b = pktsh.build

-- The conversations held: each half keeps a base pair by key (seq, ack).
local function entries(c)
  local n = 0
  for _ in pairs(c.new.seq) do n = n + 1 end
  for _ in pairs(c.old.seq) do n = n + 1 end
  return n
end

T.test("conversations: at most twice the cap, however many come", function()
  local c = tcptext.conversations(64)
  for i = 1, 10000 do
    c:relative("198.18.0.1", "198.18.0.2", 1024 + i % 60000, 80, i, 1, 0x10)
    T.ok(entries(c) <= 128, "entries " .. entries(c) .. " after " .. i)
  end
end)

T.test("conversations: one in use survives the others' churn", function()
  local c = tcptext.conversations(8)
  c:relative("198.18.0.1", "198.18.0.2", 40000, 80, 1000, 5000, 0x10)   -- created: absolute
  for i = 1, 100 do
    c:relative("198.18.0.3", "198.18.0.4", 1024 + i, 80, i, 1, 0x10)
    local s, a = c:relative("198.18.0.1", "198.18.0.2", 40000, 80, 1000 + i, 5000, 0x10)
    T.eq(s, i, "seq relative after " .. i .. " others")
    T.eq(a, 1, "ack relative after " .. i .. " others")
  end
end)

T.test("conversations: one forgotten starts again from its next segment", function()
  local c = tcptext.conversations(2)
  c:relative("198.18.0.1", "198.18.0.2", 40000, 80, 1000, 5000, 0x10)
  for i = 1, 10 do c:relative("198.18.0.3", "198.18.0.4", 1024 + i, 80, i, 1, 0x10) end
  local s, a = c:relative("198.18.0.1", "198.18.0.2", 40000, 80, 1500, 5100, 0x10)
  T.eq(s .. " " .. a, "1500 5100", "absolute again")
  s, a = c:relative("198.18.0.1", "198.18.0.2", 40000, 80, 1600, 5100, 0x10)
  T.eq(s .. " " .. a, "100 1", "then relative to it")
end)

T.test("options: random bytes, cut anywhere, never an error", function()
  local x = 12345
  local function rnd(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n
  end
  local f = lf.new{}
  for _ = 1, 3000 do
    local t = {}
    for i = 1, 4 * (1 + rnd(10)) do t[i] = string.char(rnd(5) == 0 and rnd(256) or rnd(36)) end
    local frame = b.tcp4{flags = rnd(256), options = table.concat(t), payload = rnd(40), ack = rnd(99)}
    local cut = 34 + rnd(#frame - 33)
    local p = packet.from_bytes(frame:sub(1, cut), nil, 0, #frame)
    local ok, line = pcall(f.line, f, p)
    T.ok(ok, line)
    T.ok(not ok or line:find("^%d"), line)
  end
end)

T.done()
