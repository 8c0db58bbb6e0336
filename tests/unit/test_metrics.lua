-- pktsh.metrics: the registry, the two exposition formats, escaping of
-- hostile label values, bounded cardinality, pktsh.hist as Prometheus
-- histograms, merging, the atomic file and the HTTP server.
local T = require "t"
local metrics = require "pktsh.report.metrics"
local hist = require "pktsh.report.hist"
local serial = require "pktsh.host.serial"

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == 0 end
local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. d) == 0)
  return d
end
local function readcmd(cmd)
  local p = io.popen(cmd)
  local s = p:read("*a")
  local ok, _, rc = p:close()
  return s, (ok == true or ok == 0) and 0 or rc or 1
end

-- promtool check metrics reads the 0.0.4 text on stdin: "" when it
-- parses (lint remarks are not errors), else its complaint.
local dir = tmpdir()
local function promtool(text)
  local f = assert(io.open(dir .. "/prom.txt", "wb"))
  f:write(text)
  f:close()
  local out = readcmd("promtool check metrics < " .. dir .. "/prom.txt 2>&1")
  for line in out:gmatch("[^\n]+") do
    if line:find("error") or line:find("parsing") then return out end
  end
  return ""
end

local function lines(text)
  local t = {}
  for l in text:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

local function has_line(text, want)
  for _, l in ipairs(lines(text)) do if l == want then return true end end
  return false
end

T.test("counter, gauge and labels in text 0.0.4", function()
  local reg = metrics.new()
  local q = reg:counter("app_queries_total", "Queries seen", {labels = {"transport", "ip"}})
  q:inc(3, "udp", 4)
  q:inc(2, "udp", 4)
  q:labels("tcp", 6):inc()
  reg:gauge("app_pending", "Waiting"):set(7.5)
  T.eq(reg:text(), table.concat({
    "# HELP app_queries_total Queries seen",
    "# TYPE app_queries_total counter",
    'app_queries_total{transport="tcp",ip="6"} 1',
    'app_queries_total{transport="udp",ip="4"} 5',
    "# HELP app_pending Waiting",
    "# TYPE app_pending gauge",
    "app_pending 7.5", ""}, "\n"), "exposition")
end)

T.test("OpenMetrics: counter family without _total, # EOF", function()
  local reg = metrics.new()
  reg:counter("app_queries_total", 'Queries "seen"'):inc(2)
  local om = reg:text("openmetrics")
  T.ok(has_line(om, "# TYPE app_queries counter"), om)
  T.ok(has_line(om, '# HELP app_queries Queries \\"seen\\"'), om)
  T.ok(has_line(om, "app_queries_total 2"), om)
  T.eq(om:sub(-6), "# EOF\n", "ends in # EOF")
  T.ok(has_line(reg:text(), '# HELP app_queries_total Queries "seen"'), "0.0.4 keeps quotes in HELP")
end)

T.test("numbers", function()
  T.eq(metrics.num(5), "5")
  T.eq(metrics.num(0.1), "0.1")
  T.eq(metrics.num(1 / 3), tostring(string.format("%.16g", 1 / 3)))
  T.eq(metrics.num(math.huge), "+Inf")
  T.eq(metrics.num(-math.huge), "-Inf")
  T.eq(metrics.num(0 / 0), "NaN")
  T.eq(metrics.num(2 ^ 60), string.format("%.17g", 2 ^ 60))
end)

-- What an attacker puts in a query name, raw (as a script might pass it).
local hostile = {
  {'a"b', 'a\\"b'},
  {"c\\d", "c\\\\d"},
  {"e\nf", "e\\nf"},
  {"\255x", "\239\191\189x"},                  -- invalid byte
  {"\192\128", "\239\191\189\239\191\189"},     -- overlong NUL
  {"\237\160\128", "\239\191\189\239\191\189\239\191\189"},   -- a surrogate
  {"\226\130", "\239\191\189\239\191\189"},     -- cut short
  {"\244\144\128\128", "\239\191\189\239\191\189\239\191\189\239\191\189"},  -- > U+10FFFF
  {"caf\195\169 \240\159\152\128", "caf\195\169 \240\159\152\128"},  -- valid UTF-8 stays
  {"tab\tcr\rnul\0", "tab\tcr\rnul\0"},
}

T.test("hostile label values are escaped or replaced", function()
  for _, c in ipairs(hostile) do
    T.eq(metrics.label_value(c[1]), c[2], string.format("%q", c[1]))
  end
end)

T.test("hostile label values: the exposition parses (promtool)", function()
  if not have("promtool") then return T.skip("promtool", "not installed (Debian prometheus)") end
  local reg = metrics.new()
  local g = reg:gauge("app_name_queries", "Per name\\ \n help", {labels = {"qname"}})
  for i, c in ipairs(hostile) do g:set(i, c[1]) end
  local c = reg:counter("app_x_total", "x", {labels = {"a", "b"}})
  c:inc(1, "\n\n\"\\", "\255\255")
  local text = reg:text()
  T.eq(promtool(text), "", "promtool")
  local n, distinct = 0, {}
  for _ in text:gmatch("\napp_name_queries{") do n = n + 1 end
  for _, h in ipairs(hostile) do distinct[h[2]] = true end
  local want = 0
  for _ in pairs(distinct) do want = want + 1 end
  T.eq(n, want, "one series per escaped value")
end)

T.test("values that escape alike share a series", function()
  local reg = metrics.new()
  local g = reg:counter("app_n_total", "n", {labels = {"v"}})
  g:inc(1, "\255")
  g:inc(2, "\254")          -- both become U+FFFD
  T.eq(g.nseries, 1)
  T.ok(has_line(reg:text(), 'app_n_total{v="\239\191\189"} 3'), reg:text())
end)

T.test("max_series: new label sets past the bound count as other", function()
  local reg = metrics.new()
  local c = reg:counter("app_names_total", "n", {labels = {"name"}, max_series = 3})
  for i = 1, 10 do c:inc(i, "n" .. i) end
  c:inc(100, "n1")                         -- an existing series still counts
  T.eq(c.nseries, 4, "3 + other")
  T.eq(c.overflow, 7)
  local text = reg:text()
  T.ok(has_line(text, 'app_names_total{name="n1"} 101'), text)
  T.ok(has_line(text, 'app_names_total{name="other"} ' .. (4 + 5 + 6 + 7 + 8 + 9 + 10)), text)
end)

T.test("top = K: the K largest, the rest summed as other", function()
  local reg = metrics.new()
  local g = reg:gauge("app_top_queries", "top", {labels = {"name", "ip"}, top = 2})
  g:set(5, "a", 4); g:set(9, "b", 4); g:set(1, "c", 6); g:set(7, "d", 6)
  g:other_series():set(10)                  -- counted outside the table
  local text = reg:text()
  T.ok(has_line(text, 'app_top_queries{name="b",ip="4"} 9'), text)
  T.ok(has_line(text, 'app_top_queries{name="d",ip="6"} 7'), text)
  T.ok(has_line(text, 'app_top_queries{name="other",ip="other"} 16'), text)
  T.ok(not text:find('name="a"'), "a folded")
end)

T.test("log2 pktsh.hist as a histogram: cumulative buckets, sum, count", function()
  local reg = metrics.new()
  local h = hist.new{log = true, sub = 4}
  for _, v in ipairs{0.5, 1, 3, 3, 100, 1000} do h:add(v) end
  local fam = reg:histogram("app_lat_seconds", "lat", {scale = 0.001,
                                                       buckets = metrics.log2_buckets(1, 1024, 0.001)})
  fam:set_hist(h)
  local text = reg:text()
  local want = {["0.001"] = 1, ["0.002"] = 2, ["0.004"] = 4, ["0.128"] = 5, ["1.024"] = 6, ["+Inf"] = 6}
  for le, n in pairs(want) do
    T.ok(has_line(text, string.format('app_lat_seconds_bucket{le="%s"} %d', le, n)), le .. "\n" .. text)
  end
  T.ok(has_line(text, "app_lat_seconds_count 6"), text)
  T.ok(has_line(text, "app_lat_seconds_sum " .. metrics.num(1107.5 * 0.001)), text)
  -- cumulative: never decreasing, 11 bounds + Inf
  local last, nb = -1, 0
  for v in text:gmatch('_bucket{le="[^"]+"} (%d+)') do
    T.ok(tonumber(v) >= last, "monotonic"); last = tonumber(v); nb = nb + 1
  end
  T.eq(nb, 12, "buckets")
  if have("promtool") then T.eq(promtool(text), "", "promtool") end
end)

T.test("linear and per-value hists, own bins; observe; labels", function()
  local reg = metrics.new()
  local lin = hist.new{width = 10}
  for _, v in ipairs{1, 5, 12, 37} do lin:add(v) end
  local f = reg:histogram("app_len", "len", {labels = {"proto"}})
  f:set_hist(lin, "udp")
  local vals = hist.new{}
  for _, v in ipairs{3, 3, 8} do vals:add(v) end
  f:set_hist(vals, "tcp")
  local o = reg:histogram("app_obs_seconds", "observed", {hist = {width = 1}})
  o:observe(0.5); o:observe(2.5)
  local text = reg:text()
  for _, l in ipairs{'app_len_bucket{proto="udp",le="10"} 2', 'app_len_bucket{proto="udp",le="20"} 3',
                     'app_len_bucket{proto="udp",le="40"} 4', 'app_len_bucket{proto="udp",le="+Inf"} 4',
                     'app_len_bucket{proto="tcp",le="3"} 2', 'app_len_bucket{proto="tcp",le="8"} 3',
                     'app_len_sum{proto="tcp"} 14', 'app_obs_seconds_bucket{le="1"} 1',
                     'app_obs_seconds_bucket{le="3"} 2', "app_obs_seconds_count 2"} do
    T.ok(has_line(text, l), l .. "\n" .. text)
  end
  if have("promtool") then T.eq(promtool(text), "", "promtool") end
end)

T.test("top-k columns: top(k) and bound() straight from C agree with table()", function()
  local ffi = require "ffi"
  local topk = require "pktsh.report.topk"
  local col = assert(topk.column(50))
  local keys = ffi.new("uint64_t[400]")
  for i = 0, 399 do keys[i] = (i * 7919) % 97 + (i % 5 == 0 and 1 or 1000) end
  local fresh = col.fresh
  for f = 0, col:add(keys, 400) - 1 do
    local k = tonumber(keys[fresh[f]])
    col:label(k, "name" .. k)
  end
  local want = col:table()
  for _, k in ipairs{0, 1, 10, 50, 60} do
    local a, b = col:top(k), want:top(k)
    T.eq(#a, #b, "top(" .. k .. ") size")
    for i = 1, #a do
      T.eq(a[i].count, b[i].count, "top(" .. k .. ") count " .. i)
      T.eq(a[i].err, b[i].err, "top(" .. k .. ") err " .. i)
    end
  end
  T.eq(col:top(3)[1].key, want:top(3)[1].key, "labelled key")
  local e1, g1 = col:bound()
  local e2, g2 = want:bound()
  T.eq(e1, e2, "bound")
  T.eq(g1, g2, "guarantee")
end)

T.test("misuse raises", function()
  local reg = metrics.new()
  T.raises(function() reg:counter("queries", "no _total") end, "_total")
  T.raises(function() reg:gauge("bad-name", "x") end, "metric name")
  T.raises(function() reg:gauge("ok", "x", {labels = {"__x"}}) end, "label name")
  T.raises(function() reg:histogram("h", "x", {labels = {"le"}}) end, "label name")
  reg:gauge("g", "x", {labels = {"a"}})
  T.raises(function() reg:counter("g_total", "x"); reg:gauge("g", "x", {labels = {"a", "b"}}) end, "exists")
  T.raises(function() reg:get("g"):set(1) end, "no value")
end)

T.test("merge: workers' registries sum, through serialisation", function()
  local function worker(k)
    local reg = metrics.new()
    reg:counter("app_q_total", "q", {labels = {"t"}}):inc(k, "udp")
    reg:gauge("app_top", "t", {labels = {"n"}, max_series = 2}):set(k, "n" .. k)
    local h = reg:histogram("app_l_seconds", "l")
    h:observe(k); h:observe(10 * k)
    return assert(serial.decode(serial.encode(reg)))
  end
  local a = metrics.merge(metrics.merge(worker(1), worker(2)), worker(3))
  local text = a:text()
  T.ok(has_line(text, 'app_q_total{t="udp"} 6'), text)
  T.ok(has_line(text, 'app_top{n="n1"} 1') and has_line(text, 'app_top{n="n2"} 2'), text)
  T.ok(has_line(text, 'app_top{n="other"} 3'), "past max_series: other\n" .. text)
  T.ok(has_line(text, "app_l_seconds_count 6"), text)
  T.ok(has_line(text, "app_l_seconds_sum 66"), text)
  local chart = require "pktsh.report.chart"
  local r = chart.merge({m = worker(1)}, {m = worker(2)})
  T.ok(has_line(metrics.from(r.m):text(), 'app_q_total{t="udp"} 3'), "chart.merge")
end)

T.test("write: atomic, never through a symlink", function()
  local reg = metrics.new()
  reg:gauge("app_x", "x"):set(1)
  local path = dir .. "/m.prom"
  T.ok(reg:write(path))
  T.eq(T.slurp(path), reg:text())
  reg:get("app_x"):labels():set(2)
  T.ok(reg:write(path))
  T.ok(T.slurp(path):find("app_x 2\n"), "replaced")
  os.execute("ln -s /etc/passwd " .. dir .. "/link.prom")
  local ok, err = reg:write(dir .. "/link.prom")
  T.eq(ok, nil)
  T.ok(err:find("symbolic link"), err)
end)

local function curl(url, accept, extra)
  local h = accept and string.format("-H 'Accept: %s' ", accept) or ""
  return readcmd(string.format("curl -s -m 5 -D %s/hdr %s%s '%s'", dir, h, extra or "", url))
end

-- Before any other server of this process: the library is not loaded
-- while nobody connects (Debian's brings GnuTLS: 10-20 ms of CPU).
T.test("serve: libmicrohttpd is loaded at the first connection", function()
  if not have("curl") then return T.skip("serve", "curl not installed") end
  local function loaded()
    return T.slurp("/proc/self/maps"):find("libmicrohttpd", 1, true) ~= nil
  end
  T.eq(loaded(), false, "not loaded before serve")
  local reg = metrics.new()
  reg:gauge("app_up", "up"):labels():set(1)
  local srv = assert(metrics.serve("127.0.0.1:0", reg))
  pktsh.sleep(0.1)
  T.eq(loaded(), false, "not loaded while nobody connects")
  T.eq(srv:info().serving, true, "accepting")
  T.ok(srv:publish())
  T.eq(curl("http://" .. srv:address() .. "/metrics"), reg:text(), "the first scrape answered")
  T.eq(loaded(), true, "loaded for it")
  srv:close()
  -- closed while waiting for a first connection: no thread left behind
  srv = assert(metrics.serve("127.0.0.1:0", reg))
  srv:close()
  T.eq(srv:info(), nil, "closed")
end)

-- curl in the background: the body lands in path once whole.
local function curl_bg(url, path)
  os.remove(path)
  os.execute(string.format("(curl -s -m 5 '%s' > '%s.tmp'; mv '%s.tmp' '%s') &", url, path, path, path))
end
local function wait_file(path, seconds)
  local t_end = pktsh.now() + seconds * 1e9
  while pktsh.now() < t_end do
    local f = io.open(path, "rb")
    if f then local s = f:read("*a"); f:close(); return s end
    pktsh.sleep(0.01)
  end
end
local function wait_wanted(srv, seconds)
  local t_end = pktsh.now() + seconds * 1e9
  while pktsh.now() < t_end do
    if srv:wanted() then return true end
    pktsh.sleep(0.005)
  end
  return false
end

T.test("serve: max_age, a scrape asks for a fresh snapshot and waits for it", function()
  if not have("curl") then return T.skip("serve", "curl not installed") end
  local reg = metrics.new()
  local g = reg:gauge("app_round", "r")
  local srv = assert(metrics.serve("127.0.0.1:0", reg, {max_age = 2}))
  local url = "http://" .. srv:address() .. "/metrics"
  T.eq(srv:wanted(), false, "nothing wanted before a scrape")
  -- no snapshot yet: the scrape waits for the one it asked for
  curl_bg(url, dir .. "/s1")
  T.ok(wait_wanted(srv, 5), "the scrape asked for a snapshot")
  g:labels():set(1)
  T.ok(srv:publish())
  T.eq(srv:wanted(), false, "answered by the publish")
  T.eq(wait_file(dir .. "/s1", 5), "# HELP app_round r\n# TYPE app_round gauge\napp_round 1\n",
       "the scrape got the snapshot made for it")
  -- a snapshot younger than max_age is served as it is
  g:labels():set(2)
  T.eq(curl(url), "# HELP app_round r\n# TYPE app_round gauge\napp_round 1\n", "fresh enough")
  T.eq(srv:wanted(), false, "nothing asked")
  -- older: asked for again; nobody publishes, the old one after half a second
  pktsh.sleep(2.1)
  local t0 = pktsh.now()
  T.eq(curl(url), "# HELP app_round r\n# TYPE app_round gauge\napp_round 1\n", "stale after the wait")
  local waited = (pktsh.now() - t0) / 1e9
  T.ok(waited >= 0.45, "waited for a publish first: " .. waited .. " s")
  T.eq(srv:wanted(), true, "still wanted")
  T.ok(srv:publish())
  T.eq(srv:info().published, 2)
  T.eq(srv:info().scrapes, 3)
  srv:close()
  local ok, err = pcall(metrics.serve, "127.0.0.1:0", nil, {max_age = 0})
  T.ok(not ok and tostring(err):find("max_age"), "max_age > 0: " .. tostring(err))
end)

T.test("serve: /metrics in both formats, from a thread", function()
  if not have("curl") then return T.skip("serve", "curl not installed") end
  local reg = metrics.new()
  local c = reg:counter("app_q_total", "q", {labels = {"name"}})
  local srv = assert(metrics.serve("127.0.0.1:0", reg))
  local base = "http://" .. srv:address()
  T.ok(srv:address():find("^127%.0%.0%.1:%d+$"), srv:address())
  local body = curl(base .. "/metrics")
  T.ok(body:find("no metrics published yet"), "503 before the first publish: " .. body)
  T.ok(T.slurp(dir .. "/hdr"):find("^HTTP/1.1 503"), "status 503")
  c:inc(1, 'x"y\n')
  T.ok(srv:publish())
  body = curl(base .. "/metrics")
  T.eq(body, reg:text(), "0.0.4 body")
  T.ok(T.slurp(dir .. "/hdr"):find("Content%-Type: text/plain; version=0%.0%.4; charset=utf%-8"), "0.0.4 type")
  -- what Prometheus 2.x sends
  body = curl(base .. "/metrics", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                                  .. "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
  T.eq(body, reg:text("openmetrics"), "OpenMetrics body")
  T.ok(T.slurp(dir .. "/hdr"):find("Content%-Type: application/openmetrics%-text; version=1%.0%.0"), "OM type")
  curl(base .. "/nothing")
  T.ok(T.slurp(dir .. "/hdr"):find("^HTTP/1.1 404"), "404")
  curl(base .. "/metrics", nil, "-X POST ")
  T.ok(T.slurp(dir .. "/hdr"):find("^HTTP/1.1 405"), "405")
  local i = srv:info()
  T.eq(i.scrapes, 2)
  T.eq(i.openmetrics, 1)
  T.eq(i.published, 1)
  T.eq(i.serving, true)
  srv:close()
  T.eq(srv:info(), nil, "closed")
end)

T.test("serve: publishing while requests come in", function()
  if not have("curl") then return T.skip("serve", "curl not installed") end
  local reg = metrics.new()
  local g = reg:gauge("app_round", "r")
  local srv = assert(metrics.serve("127.0.0.1:0", reg))
  local url = "http://" .. srv:address() .. "/metrics"
  g:labels():set(0)
  srv:publish()
  -- 200 requests in the background while 2,000 snapshots are published
  local bg = io.popen(string.format("for i in $(seq 200); do curl -s -m 5 '%s'; done | grep -c '^app_round '", url))
  for k = 1, 2000 do
    g:labels():set(k)
    assert(srv:publish())
  end
  local n = tonumber(bg:read("*a"))
  bg:close()
  T.eq(n, 200, "every response whole")
  T.eq(srv:info().published, 2001)
  srv:close()
end)

T.test("serve: bad and busy addresses", function()
  local ok, err = metrics.serve("localhost")
  T.eq(ok, nil)
  T.ok(err:find("HOST:PORT"), err)
  ok, err = metrics.serve("::1:9")
  T.ok(not ok and err:find("HOST:PORT"), "IPv6 needs brackets")
  local a = assert(metrics.serve("127.0.0.1:0"))
  ok, err = metrics.serve(a:address())
  T.eq(ok, nil)
  T.ok(err:find("in use"), err)
  a:close()
  local v6 = metrics.serve("[::1]:0")
  if v6 then T.ok(v6:address():find("^%[::1%]:%d+$"), v6:address()); v6:close() end
end)

-- The server's thread dlopens libmicrohttpd, holding the dynamic
-- loader's lock; a function ffi.C had not looked up yet would wait for
-- it (dlsym) the first time the loop calls it.
T.test("serve: every entry point is looked up before the server's thread loads", function()
  local ffi = require "ffi"
  local cache = debug.getfenv(ffi.C)          -- ffi.C's cache of looked-up symbols
  local srv = assert(metrics.serve("127.0.0.1:0"))
  local missing = {}
  for _, name in ipairs(require("pktsh.cdef").functions) do
    if rawget(cache, name) == nil and pcall(function() return ffi.C[name] end) then
      missing[#missing + 1] = name
    end
  end
  srv:close()
  T.eq(table.concat(missing, " "), "", "entry points not looked up at serve()")
end)

os.execute("rm -rf " .. dir)
T.done()
