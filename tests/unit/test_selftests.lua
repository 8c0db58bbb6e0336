-- Every module under lua/pktsh, as Snabb does it: a module with logic of
-- its own has a selftest() (run here, one line a module), or a test
-- named after it (tests/unit/test_NAME[_*].lua, tests/sh/test_NAME[_*].sh,
-- NAME the module's last word: pktsh.report.hist is hist, pktsh.source
-- is source, pktsh is pktsh), or an entry below that says why not and
-- which test covers it. A new module with none of the three fails here.
local T = require "t"

-- Modules tested only by a test that is about more than them (each
-- named test must exist).
local elsewhere = {
  ["pktsh.source.fanout"] = {"tests/sh/test_workers.sh", "a fanout group needs an interface"},
  ["pktsh.source.sender"] = {"tests/sh/test_live.sh", "sends the frames the live captures read"},
  ["pktsh.source.xdpcopies"] = {"tests/sh/test_xdp.sh", "copies need an attached XDP program"},
  ["pktsh.xdp.owners"] = {"tests/sh/test_xdp_dispatcher.sh", "owner records need the dispatcher"},
}

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- lua/pktsh/a/b.lua -> pktsh.a.b, lua/pktsh/a/init.lua -> pktsh.a (as the Makefile names them)
local function modules()
  local out = {}
  local p = io.popen("find lua/pktsh -name '*.lua' | sort")
  for f in p:lines() do
    out[#out + 1] = f:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  end
  p:close()
  return out
end

-- The tests named after a module.
local function named_tests(mod)
  local word = mod:match("([%w_]+)$")
  local out = {}
  local p = io.popen(string.format("ls tests/unit/test_%s.lua tests/unit/test_%s_*.lua " ..
                                   "tests/sh/test_%s.sh tests/sh/test_%s_*.sh 2>/dev/null",
                                   word, word, word, word))
  for f in p:lines() do out[#out + 1] = f end
  p:close()
  return out
end

local list = modules()
T.test("modules found", function() T.ok(#list >= 30, "only " .. #list .. " modules") end)

for _, mod in ipairs(list) do
  local tests = named_tests(mod)
  local also = #tests > 0 and " (also " .. table.concat(tests, ", ") .. ")" or ""
  local ok, m = pcall(require, mod)
  if not ok then
    T.test(mod .. " loads", function() error(m) end)
  elseif type(m) == "table" and type(rawget(m, "selftest")) == "function" then
    T.test(mod .. ": selftest()" .. also, function() m.selftest() end)
  elseif #tests > 0 then
    T.test(mod .. ": " .. table.concat(tests, ", "), function() end)
  elseif elsewhere[mod] then
    local e = elsewhere[mod]
    T.test(mod .. ": no selftest; " .. e[2] .. ": " .. e[1], function()
      T.ok(exists(e[1]), e[1] .. " is gone")
    end)
  else
    T.test(mod .. " is tested", function()
      error("no selftest(), no test named after it, and no entry in this file's `elsewhere`")
    end)
  end
end

T.done()
