-- t.lua - the test helper every Lua test uses.
--   local T = require "t"
--   T.test("name", function() T.eq(got, want, "what") end)
--   T.skip("name", "why")
--   T.done()          -- prints the tally and exits non-zero on failure
-- Each test prints one line: "ok - name", "not ok - name: why" or
-- "skipped: name: why"; tests/run counts them.
local T = {passed = 0, failed = 0, skipped = 0}

local function fmt(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function T.ok(v, what)
  if not v then error((what or "expected a true value"), 2) end
  return v
end

function T.eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", fmt(got), fmt(want)), 2)
  end
end

function T.near(got, want, tol, what)
  if type(got) ~= "number" or math.abs(got - want) > tol then
    error(string.format("%s: got %s, want %s +- %s", what or "value", fmt(got), fmt(want), tol), 2)
  end
end

-- Deep equality for plain tables.
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
T.same = same

function T.deq(got, want, what)
  if not same(got, want) then
    local j = require "pktsh.report.json"
    error(string.format("%s: got %s, want %s", what or "value", j.encode(got), j.encode(want)), 2)
  end
end

-- Calls fn and checks it raised an error matching pattern.
function T.raises(fn, pattern, what)
  local ok, err = pcall(fn)
  if ok then error((what or "call") .. ": expected an error", 2) end
  if pattern and not tostring(err):find(pattern) then
    error(string.format("%s: error %q does not match %q", what or "call", tostring(err), pattern), 2)
  end
end

function T.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    T.passed = T.passed + 1
    print("ok - " .. name)
  else
    T.failed = T.failed + 1
    print("not ok - " .. name .. ": " .. tostring(err))
  end
end

function T.skip(name, why)
  T.skipped = T.skipped + 1
  print("skipped: " .. name .. ": " .. why)
end

-- Reads a whole file; nil, err if it cannot.
function T.slurp(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

function T.done()
  io.stdout:flush()
  os.exit(T.failed == 0 and 0 or 1)
end

return T
