-- test_json.lua - pktsh.json (lua/pktsh/report/json.lua): the text is
-- always valid JSON (issue 16 item 9): bytes that are not UTF-8 become
-- \u00XX escapes, valid UTF-8 passes unchanged, control bytes are
-- escaped; numbers are the shortest decimal that reads back exactly
-- (0.1, not 0.10000000000000001); a strict parser (python3) agrees.
local T = require "t"
local json = pktsh.json

T.test("strings: invalid UTF-8 escaped, valid UTF-8 kept", function()
  T.eq(json.encode("\255x\1\127"), '"\\u00ffx\\u0001\\u007f"', "raw bytes and controls")
  T.eq(json.encode("é€😀"), '"é€😀"', "valid UTF-8 unchanged")
  T.eq(json.encode("\192\175"), '"\\u00c0\\u00af"', "an overlong '/' is not UTF-8")
  T.eq(json.encode("\237\160\128"), '"\\u00ed\\u00a0\\u0080"', "a surrogate is not UTF-8")
  T.eq(json.encode("\244\144\128\128"), '"\\u00f4\\u0090\\u0080\\u0080"', "past U+10FFFF")
  T.eq(json.encode("é\195"), '"é\\u00c3"', "a sequence cut at the end")
  T.eq(json.encode('"\\\n'), '"\\"\\\\\\n"', "quote, backslash, newline")
end)

T.test("numbers: the shortest form that reads back", function()
  T.eq(json.encode(0.1), "0.1", "0.1")
  T.eq(json.encode(1 / 3), "0.3333333333333333", "1/3")
  T.eq(json.encode(1e300), "1e+300", "1e300")
  T.eq(json.encode(2 ^ 53 + 2), "9007199254740994", "beyond 2^53")
  T.eq(json.encode(-1.5), "-1.5", "-1.5")
  T.eq(json.encode(42), "42", "whole")
  for _, v in ipairs({0.1, 1 / 3, math.pi, 1e-300, 123456.789, 5e-324, 1.7976931348623157e308}) do
    T.eq(tonumber(json.encode(v)), v, "round trip of " .. string.format("%.17g", v))
  end
end)

T.test("every byte string gives JSON a strict parser reads", function()
  local has = os.execute("command -v python3 >/dev/null 2>&1")
  if has ~= 0 and has ~= true then print("skipped: strict parser: python3 is not installed"); return end
  local strs, s = {}, 7
  for i = 1, 200 do
    local b = {}
    for j = 1, i % 23 do
      s = (s * 1103515245 + 12345) % 2147483648
      b[j] = string.char(s % 256)
    end
    strs[i] = table.concat(b)
  end
  local path = os.tmpname()
  local out = io.open(path, "w")
  out:write(json.encode({strs = strs, x = 0.1, y = 1 / 3}))
  out:close()
  local p = io.popen("python3 -c 'import json,sys; d=json.load(open(sys.argv[1], encoding=\"utf-8\"));"
                     .. " print(len(d[\"strs\"]), d[\"x\"], d[\"y\"])' " .. path .. " 2>&1")
  local got = p:read("*a")
  p:close()
  os.remove(path)
  T.eq(got, "200 0.1 0.3333333333333333\n", "python3's json.load")
end)

T.done()
