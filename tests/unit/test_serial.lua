-- pktsh.serial (lua/pktsh/host/serial.lua): plain values to text and
-- back, as worker arguments and results travel; what is not plain is
-- refused by its key path, and no input makes decode raise.
local T = require "t"
local S = require "pktsh.host.serial"

T.test("serial: round trip of plain values", function()
  local v = {a = 1, b = -2.5, c = "x\0y:;{}", d = true, e = false,
             [1] = "one", [2.5] = 2, [true] = {nested = {deeper = {1, 2, 3}}},
             inf = 1 / 0, ninf = -1 / 0, big = 2 ^ 53, tiny = 5e-324, empty = {}}
  local back = S.decode(S.encode(v))
  T.deq(back, v, "round trip")
  local nan = S.decode(S.encode(0 / 0))
  T.ok(nan ~= nan, "nan stays nan")
  T.eq(S.decode(S.encode("")), "", "empty string")
  T.eq(S.decode(S.encode(nil)), nil, "nil at the top")
end)

T.test("serial: refuses what is not plain, naming the key path", function()
  T.raises(function() S.encode({a = {b = print}}, "result") end,
           "cannot serialise a function at result%.a%.b")
  T.raises(function() S.encode({x = {["a b"] = {[3] = require("ffi").new("int64_t", 1)}}}, "result") end,
           'cdata value %(1LL; use tonumber or tostring%) at result%.x%["a b"%]%[3%]')
  T.raises(function() S.encode({[{}] = 1}) end, "table used as a key in value")
  local t = {}; t.self = {t}
  T.raises(function() S.encode(t) end, "contains itself at value%.self%[1%]")
  T.raises(function() S.encode({co = coroutine.create(print)}) end, "thread at value%.co")
  local ok, err = S.check({f = print}, "arg")
  T.eq(ok, nil); T.ok(err:find("function at arg.f"), err)
end)

T.test("serial: decode never raises on bad input", function()
  for _, bad in ipairs({"", "{", "{s1:a", "s5:ab", "s-1:", "n12", "nxyz;", "q", "{n1;}",
                        "{{}n1;}", "{nnan;n1;}", "TT", ("{s1:a"):rep(300), 42}) do
    local v, err = S.decode(bad)
    T.eq(v, nil, "value of " .. tostring(bad):sub(1, 20))
    T.ok(type(err) == "string" and #err > 0, "error for " .. tostring(bad):sub(1, 20))
  end
  -- random bytes: any answer, but never an error raised
  math.randomseed(7)
  local good = S.encode({a = {1, 2, "three"}, b = true})
  for _ = 1, 2000 do
    local i = math.random(#good)
    local mutated = good:sub(1, i - 1) .. string.char(math.random(0, 255)) .. good:sub(i + 1)
    T.ok(pcall(S.decode, mutated), "decode raised on " .. mutated)
  end
end)

T.done()
