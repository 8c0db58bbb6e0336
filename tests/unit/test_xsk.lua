-- The AF_XDP source without a network: its options checked before
-- anything is opened (pktsh.source.xskopts), what feeds each interface,
-- misuse of send and forward, and the errors of the C layer that need no
-- socket. The sockets themselves are tested in tests/sh/test_xsk*.sh.
local T = require "t"
local ffi = require "ffi"
local xskopts = require "pktsh.source.xskopts"

T.test("pktsh.open{xsk = ...}: bad options are nil, err before anything opens", function()
  local cases = {
    {{xsk = "lo", colour = 1}, "^unknown option 'colour' for an AF_XDP source"},
    {{xsk = "lo", filter = "udp"}, "^filter: an AF_XDP source is filtered by its rules"},
    {{xsk = "lo", zerocopy = "yes"}, '^zerocopy must be "auto", true or false'},
    {{xsk = "lo", rx_size = 1.5}, "^rx_size must be a whole number"},
    {{xsk = "lo", batch = -1}, "^batch must be a whole number"},
    {{xsk = "lo", queues = {}}, "^queues must be a list of rx queue numbers"},
    {{xsk = "lo", queues = {0, 0}}, "^queues: 0 twice"},
    {{xsk = "lo", queues = {"a"}}, "^queues: a is not a queue number"},
    {{xsk = {}}, "^xsk: an interface name or a list of them"},
    {{xsk = {"lo", "lo"}}, "^xsk: 'lo' twice"},
    {{xsk = "lo", rules = 7}, "^rules must be a rule set"},
    {{xsk = "lo", rules = {}}, "^rules is empty"},
    {{xsk = "lo", duration = -1}, "^duration must be a number of seconds"},
    {{xsk = "lo", workers = 0}, "^workers must be a whole number from 1"},
    {{xsk = "lo", stamp = "hw"}, '^stamp must be "batch" or "xdp", not hw'},
  }
  for _, c in ipairs(cases) do
    local src, err = pktsh.open(c[1])
    T.eq(src, nil, "source for " .. pktsh.json.encode(c[1]))
    T.ok(type(err) == "string" and err:find(c[2]),
         string.format("%q does not match %q", tostring(err), c[2]))
  end
end)

T.test("default ring sizes: 16384 a lone socket, 32768 an interface, 4096 at least", function()
  local want = {[1] = 16384, [2] = 16384, [3] = 8192, [4] = 8192, [5] = 4096, [8] = 4096,
                [64] = 4096}
  for n, r in pairs(want) do T.eq(xskopts.default_ring(n), r, n .. " sockets") end
end)

T.test("what feeds each interface", function()
  local o = assert(xskopts.parse{xsk = {"a", "b"}})
  T.eq(o.feed.a, "own", "no rules: a redirect-everything rule set of pktsh's")
  o = assert(xskopts.parse{xsk = {"a", "b"}, rules = false})
  T.eq(o.feed.a, false, "rules = false: none (send only)")
  o = assert(xskopts.parse{xsk = {"a", "b"}, rules = {"proto=udp"}})
  T.deq(o.feed.b, {"proto=udp"}, "a list of rules: for every interface")
  o = assert(xskopts.parse{xsk = {"a", "b"}, rules = {a = false}})
  T.eq(o.feed.a, false, "by interface: a")
  T.eq(o.feed.b, "own", "by interface: b left out")
  local Fw = require("pktsh.xdp").Fw
  local fw = setmetatable({ifname = "b"}, Fw)
  o = assert(xskopts.parse{xsk = {"a", "b"}, rules = fw})
  T.eq(o.feed.b, fw, "a rule set feeds its own interface")
  T.eq(o.feed.a, "own", "... and only that one")
  o = assert(xskopts.parse({xsk = "a"}, {queues = {1, 0}}))
  T.deq(o.queues, {1, 0}, "the second table adds to the first")
end)

T.test("send and forward: misuse raises, a closed source says so", function()
  local src = require("pktsh.source.xsk").wrap({}, {owned = false})
  T.raises(function() src:send({}) end, "interface name")
  src.ifnames = {"x"}
  src.by_if.x = {{handle = nil, ifname = "x", queue = 0}, by_queue = {}}
  T.raises(function() src:send({}) end, "string or packet expected")
  T.raises(function() src:forward("bytes") end, "batch or packet expected")
  T.raises(function() src:send("x", "y") end, "one of this source's interfaces")
  src:close()
  local ok, err = src:send("frame")
  T.eq(ok, nil, "closed")
  T.eq(err, "source is closed", "message")
end)

T.test("the C layer checks what it is given", function()
  local e = ffi.new("struct pktsh_err")
  local o = ffi.new("struct pktsh_xsk_opts")
  local u = ffi.new("struct pktsh_xsk_umem *[1]")
  o.rx_size = 1000
  T.eq(ffi.C.pktsh_xsk_umem_new(u, 1, o, e), -1, "ring size not a power of two")
  T.ok(ffi.string(e.msg):find("^rx_size 1000 must be a power of two"), ffi.string(e.msg))
  o.rx_size, o.frame_size = 0, 3000
  T.eq(ffi.C.pktsh_xsk_umem_new(u, 1, o, e), -1, "frame size")
  T.ok(ffi.string(e.msg):find("^frame_size 3000 must be 2048 or 4096"), ffi.string(e.msg))
  o.frame_size, o.frames = 0, 10
  T.eq(ffi.C.pktsh_xsk_umem_new(u, 1, o, e), -1, "too few frames")
  T.ok(ffi.string(e.msg):find("^frames 10 %(for 1 socket%) must be from 64 per socket"), ffi.string(e.msg))
  o.frames, o.stamp = 0, 7
  T.eq(ffi.C.pktsh_xsk_umem_new(u, 1, o, e), -1, "stamp")
  T.ok(ffi.string(e.msg):find("^stamp 7 is not a pktsh_xsk_stamp"), ffi.string(e.msg))
  local n = ffi.new("uint32_t[1]")
  T.eq(ffi.C.pktsh_xsk_queues("pkNone9", n, e), -1, "no interface")
  T.ok(ffi.string(e.msg):find("no such interface 'pkNone9'"), ffi.string(e.msg))
  T.eq(ffi.C.pktsh_xsk_queues("lo", n, e), 0, "lo")
  T.ok(n[0] >= 1, "lo has a queue")
  T.eq(ffi.C.pktsh_xsk_lookup(0, 0), nil, "no socket open")
end)

T.done()
