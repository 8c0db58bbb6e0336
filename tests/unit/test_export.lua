-- pktsh.report.export: JSON, CSV and SVG of hist, topk and rate are
-- well-formed (hostile labels included).
local T = require "t"
local hist, topk, rate, json = pktsh.hist, pktsh.topk, pktsh.rate, pktsh.json
local stream = require("stream").stream

local function xml_ok(path)
  local ok = os.execute("python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "
                        .. path .. " 2>/dev/null")
  return ok == 0 or ok == true
end

T.test("JSON, CSV and SVG are well-formed", function()
  local h = hist.new{log = true}
  local t = topk.new(3)
  local r = rate.new(1)
  for i, v in ipairs(stream(2000, 1, 300)) do
    h:add(v); t:add("k<&\"'>" .. v); r:add(1.7e18 + i * 1e7, v)
  end
  t:add("\1bad\255utf8")
  for _, obj in ipairs({h, t, r}) do
    local j = assert(json.decode(obj:json()), "json parses")
    T.eq(j.chart, obj.chart, "json kind")
    local csv = obj:csv()
    local cols
    for line in csv:gmatch("[^\n]+") do
      local n = select(2, line:gsub('"[^"]*"', "q"):gsub(",", ",")) + 1
      cols = cols or n
      T.eq(n, cols, obj.chart .. " csv: same columns on every line")
    end
    local path = os.tmpname()
    T.ok(obj:svg{path = path, title = "t <&> \"x\""}, "svg written")
    local s = T.slurp(path)
    T.ok(s:find("^<%?xml") and s:find("</svg>\n$"), "svg document")
    if os.execute("python3 -c 'import xml.dom.minidom' 2>/dev/null") == 0 then
      T.ok(xml_ok(path), obj.chart .. " svg parses as XML")
    else
      T.ok(select(2, s:gsub("<text", "")) == select(2, s:gsub("</text>", "")), "balanced")
    end
    os.remove(path)
  end
  local tj = json.decode(t:json())
  T.eq(tj.capacity, 3, "capacity"); T.ok(tj.bound > 0, "bound stated")
end)

T.done()
