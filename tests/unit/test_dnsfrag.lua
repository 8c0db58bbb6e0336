-- test_dnsfrag.lua - IP fragments in dnsstats (src/proto/ipfrag.c): the
-- C scan rebuilds UDP datagrams itself and leaves no packet to the
-- general path for them, and its numbers equal the general path's
-- (pktsh.dnsflow, which shares the reassembler) for a large answer in
-- fragments in order, reversed, shuffled, overlapping (the first copy of
-- a byte wins), repeated, with a gap, its first fragment cut by the
-- capture, in IPv4 and IPv6; and they say what the answer holds.
local T = require "t"
local fed = require "fed"
local lib = dofile("tests/pcaps/gen/lib.lua")
local char = string.char

local function u16(v) return char(math.floor(v / 256) % 256, v % 256) end
local function u32(v) return u16(math.floor(v / 65536)) .. u16(v % 65536) end

local ETH4 = ("\2\0\0\0\0\1"):rep(2) .. "\8\0"
local ETH6 = ("\2\0\0\0\0\1"):rep(2) .. "\134\221"
local A4, B4 = "\198\18\0\53", "\198\18\1\1"
local A6 = "\32\1\0\2\0\0\0\0\0\0\0\0\0\0\0\83"
local B6 = "\32\1\0\2\0\0\0\0\0\0\0\0\0\0\1\1"

-- The query, and the UDP datagram of its answer: 90 A records, 1.5 KB.
local QUERY = lib.dns(4660, 0x0100, "big.example", 0)
local ANSWER = lib.dns(4660, 0x8180, "big.example", 90)
local UDP = u16(53) .. u16(40000) .. u16(8 + #ANSWER) .. "\0\0" .. ANSWER

local function query(v6)
  local udp = u16(40000) .. u16(53) .. u16(8 + #QUERY) .. "\0\0" .. QUERY
  if v6 then
    return ETH6 .. "\96\0\0\0" .. u16(#udp) .. "\17\64" .. B6 .. A6 .. udp
  end
  return ETH4 .. "\69\0" .. u16(20 + #udp) .. "\0\1\0\0\64\17\0\0" .. B4 .. A4 .. udp
end

-- The answer's bytes [off, off + n) as a fragment (data: other bytes
-- instead), last when it ends the datagram.
local function frag(v6, off, n, data)
  local part = data or UDP:sub(off + 1, off + n)
  local more = off + #part < #UDP and 1 or 0
  if v6 then
    local fh = "\17\0" .. u16(off + more) .. u32(777)
    return ETH6 .. "\96\0\0\0" .. u16(8 + #part) .. "\44\64" .. A6 .. B6 .. fh .. part
  end
  return ETH4 .. "\69\0" .. u16(20 + #part) .. u16(777) .. u16(more * 0x2000 + off / 8) ..
         "\64\17\0\0" .. A4 .. B4 .. part
end

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

-- The capture of frames, 10 ms apart.
local function capture(frames)
  local path, list = dir .. "/frag.pcap", {}
  for i, f in ipairs(frames) do
    list[i] = type(f) == "table" and {data = f[1], len = f[2], ts = 1700000000 + i / 100}
              or {data = f, ts = 1700000000 + i / 100}
  end
  lib.write(path, list)
  return path
end

-- dnsstats' state over the capture (general: every packet through
-- dnsflow), and for the scan how many packets it left to the general path.
local function run(path, general)
  local eng = fed(path, {general = general})
  eng:finish()
  return eng:state(), eng:counts().deferred
end

local KEYS = {"dns", "queries", "responses", "matched", "unanswered", "truncated", "malformed"}
local FLOW = {"fragmented", "frag_datagrams", "frag_dups", "frag_dropped", "frag_timeouts",
              "frag_cut", "frags"}

local function both(frames, what)
  local path = capture(frames)
  local s, deferred = run(path, false)
  local g = run(path, true)
  T.eq(deferred, 0, what .. ": packets left to the general path")
  for _, k in ipairs(KEYS) do T.eq(s[k], g[k], what .. ": " .. k .. " as the general path") end
  for _, k in ipairs(FLOW) do
    T.eq(s.flow[k], g.flow[k], what .. ": flow." .. k .. " as the general path")
  end
  return s
end

local function pieces(v6, order, extra)
  local cuts = {{0, 512}, {512, 512}, {1024, #UDP - 1024}}
  local frames = {query(v6)}
  for _, i in ipairs(order) do frames[#frames + 1] = frag(v6, cuts[i][1], cuts[i][2]) end
  for _, f in ipairs(extra or {}) do frames[#frames + 1] = f end
  return frames
end

for _, v6 in ipairs{false, true} do
  local ip = v6 and "IPv6" or "IPv4"
  T.test(ip .. " fragments in any order: one answer, matched, rebuilt in C", function()
    for _, order in ipairs{{1, 2, 3}, {3, 2, 1}, {2, 3, 1}, {3, 1, 2}} do
      local what = ip .. " order " .. table.concat(order, ",")
      local s = both(pieces(v6, order), what)
      T.eq(s.responses, 1, what .. ": the answer")
      T.eq(s.matched, 1, what .. ": matched to its query")
      T.eq(s.flow.fragmented, 1, what .. ": rebuilt")
      T.eq(s.flow.frag_datagrams, 1, what .. ": one datagram")
      T.eq(s.malformed, 0, what .. ": whole")
    end
  end)

  T.test(ip .. " fragments overlapping or repeated: the first copy wins, a repeat is counted", function()
    -- zeros over bytes 256-767 after the fragments that hold them: the
    -- first copy of a byte wins, so the answer is still well formed
    local s = both(pieces(v6, {1, 2, 3}, {}), ip .. " plain")
    T.eq(s.flow.frag_dups, 0, "no repeats")
    local zeros = frag(v6, 256, 512, ("\0"):rep(512))
    local frames = {query(v6), frag(v6, 0, 512), frag(v6, 512, 512), zeros,
                    frag(v6, 512, 512), frag(v6, 1024, #UDP - 1024)}
    s = both(frames, ip .. " overlap and repeat")
    T.eq(s.flow.frag_dups, 1, "the repeat counted")
    T.eq(s.responses, 1, "the answer")
    T.eq(s.malformed, 0, "the first copy won")
    T.eq(s.matched, 1, "matched")
    -- the zeros first for bytes 512-767: they win there, and the
    -- records they land in no longer fit (Wireshark: malformed)
    frames = {query(v6), frag(v6, 0, 512), zeros, frag(v6, 512, 512),
              frag(v6, 1024, #UDP - 1024)}
    s = both(frames, ip .. " overlap first")
    T.eq(s.responses, 1, "the answer")
    T.eq(s.malformed, 1, "its records broken by the first copy")
  end)

  T.test(ip .. " fragments with a gap: nothing made, timed out at the end", function()
    local s = both(pieces(v6, {1, 3}), ip .. " gap")
    T.eq(s.responses, 0, "no answer")
    T.eq(s.unanswered, 1, "its query unanswered")
    T.eq(s.flow.frag_timeouts, 1, "the datagram given up at the end")
    T.eq(s.flow.frag_datagrams, 0, "none made")
  end)
end

T.test("a first IPv4 fragment the capture cut is decoded as it stands", function()
  local first = frag(false, 0, 512)
  local frames = {query(false), {first:sub(1, 200), #first}, frag(false, 512, 512),
                  frag(false, 1024, #UDP - 1024)}
  local s = both(frames, "cut first fragment")
  T.eq(s.flow.frag_cut, 1, "counted as cut")
  T.eq(s.responses, 1, "the answer, from what was captured")
  T.eq(s.truncated, 1, "cut short")
  T.eq(s.flow.frag_datagrams, 0, "nothing rebuilt")
end)

T.test("fragments of other ports: rebuilt, not counted", function()
  local other = u16(5000) .. u16(6000) .. UDP:sub(5)
  local frames = {query(false)}
  for _, c in ipairs{{0, 512}, {512, 512}, {1024, #other - 1024}} do
    local f = frag(false, c[1], c[2], other:sub(c[1] + 1, c[1] + c[2]))
    frames[#frames + 1] = f
  end
  local s = both(frames, "other ports")
  T.eq(s.flow.frag_datagrams, 1, "rebuilt")
  T.eq(s.responses, 0, "no DNS")
  T.eq(s.flow.fragmented, 0, "no message")
end)

os.execute("rm -rf " .. dir)
T.done()
