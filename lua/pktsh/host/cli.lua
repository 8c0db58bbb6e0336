-- cli.lua - the command line shared by the tools in scripts/: options,
-- then SOURCE, then the words of a tcpdump FILTER (joined, as tcpdump
-- does). Usage mistakes exit 2 with one line naming the problem.
--
--   local o = require("pktsh.host.cli").parse("dump", usage, arg, {
--     ["-v"] = {"verbose"},                   -- a flag: o.verbose = true
--     ["-p"] = {"promisc", value = false},    -- a flag with its value
--     ["-w"] = {"write", "string"},           -- o.write = the next word
--     ["-c"] = {"count", "whole", 1},         -- a whole number >= 1
--     ["--seconds"] = {"seconds", "number"},  -- a number > 0 (or >= min)
--     ["-Q"] = {"direction", {"in", "out", "both"}},  -- one of these words
--     ["--ports"] = {"ports", function(v) ... return x or nil, why end},
--   }, {top = 10})                            -- defaults
--   -> o with o.source, o.words (the words after it, a list) and o.filter
--      (those words joined; nil without any)
local M = {}

-- Prints "NAME: message" on standard error and exits with status.
function M.die(name, status, fmt, ...)
  io.stderr:write(name, ": ", string.format(fmt, ...), "\n")
  os.exit(status)
end

-- v if it is one of the words in list, else nil and what it must be.
local function one_of(list, v)
  for _, w in ipairs(list) do if w == v then return v end end
  return nil, "one of " .. table.concat(list, ", ")
end

local function convert(kind, v, min)
  if type(kind) == "function" then return kind(v) end
  if type(kind) == "table" then return one_of(kind, v) end
  if kind == "string" then return v end
  local n = tonumber(v)
  local whole = kind == "whole"
  local ok = n and n == n and (whole and n % 1 == 0 or not whole)
  if min then ok = ok and n >= min else ok = ok and n > 0 end
  if ok then return n end
  local what = whole and "whole number" or "number"
  return nil, min and string.format("a %s >= %s", what, min) or "a positive " .. what
end

function M.parse(name, usage, argv, spec, defaults)
  local o, words, i = defaults or {}, {}, 1
  while i <= #argv do
    local a, s = argv[i], spec[argv[i]]
    if a == "-h" or a == "--help" then
      io.stdout:write(usage)
      os.exit(0)
    elseif s and #s == 1 then
      if s.value == nil then o[s[1]] = true else o[s[1]] = s.value end
    elseif s then
      i = i + 1
      if argv[i] == nil then M.die(name, 2, "option %s needs a value", a) end
      local v, why = convert(s[2], argv[i], s[3])
      if v == nil then M.die(name, 2, "%s needs %s, not '%s'", a, why, argv[i]) end
      o[s[1]] = v
    elseif a:sub(1, 1) == "-" and #a > 1 and not o.source then
      M.die(name, 2, "unknown option '%s' (try -h)", a)
    elseif not o.source then
      o.source = a
    else
      words[#words + 1] = a
    end
    i = i + 1
  end
  if not o.source then
    io.stderr:write(usage)
    os.exit(2)
  end
  o.words = words
  o.filter = #words > 0 and table.concat(words, " ") or nil
  return o
end

return M
