-- cli.lua - the command line shared by the tools in scripts/: options,
-- then SOURCE, then the words of a tcpdump FILTER (joined, as tcpdump
-- does). Usage mistakes exit 2 with one line naming the problem.
--
--   local o = require("pktsh.host.cli").parse("dump", usage, arg, {
--     ["-v"] = {"verbose"},                   -- a flag: o.verbose = true
--     ["-p"] = {"promisc", value = false},    -- a flag with its value
--     ["-t"] = {"tstamp", count = true},      -- counted: -ttt -> o.tstamp = 3
--     ["-w"] = {"write", "string"},           -- o.write = the next word
--     ["-c"] = {"count", "whole", 1},         -- a whole number >= 1
--     ["--seconds"] = {"seconds", "number"},  -- a number > 0 (or >= min)
--     ["-Q"] = {"direction", {"in", "out", "both"}},  -- one of these words
--     ["--ports"] = {"ports", function(v) ... return x or nil, why end},
--     ["-E"] = {"opts", "string", list = true},  -- repeatable: a list
--     ["-r"] = {"source", "string"},          -- names SOURCE: every other
--                                             -- word is then a FILTER word
--     ["-D"] = {"list", standalone = true},   -- needs no SOURCE
--     ["-e"] = function(o) return ... end,    -- the entry to use, from
--   }, {top = 10})                            -- what is parsed so far
--   -> o with o.source, o.words (the words after it, a list) and o.filter
--      (those words joined; nil without any)
--
-- Words are read as getopt reads them, so tcpdump habits work: one-letter
-- options may be bundled (-nn, -vvX, -tttt) and take their value attached
-- (-c1, -s0, -wout.pcap) or as the next word; long options take it as the
-- next word or after '=' (--seconds=5). Before SOURCE an unknown option
-- is an error; after it, a word that is not an option is a FILTER word.
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

-- The spec entry for option name now (an entry may be a function of o).
local function entry(spec, o, name)
  local s = spec[name]
  if type(s) == "function" then s = s(o) end
  return s
end

local function takes_value(s) return s[2] ~= nil end

local function set_flag(o, s)
  if s.count then o[s[1]] = (o[s[1]] or 0) + 1
  elseif s.value == nil then o[s[1]] = true
  else o[s[1]] = s.value end
end

local function set_value(name, o, s, opt, v)
  local x, why = convert(s[2], v, s[3])
  if x == nil then M.die(name, 2, "%s needs %s, not '%s'", opt, why, v) end
  if s.list then
    o[s[1]] = o[s[1]] or {}
    table.insert(o[s[1]], x)
  else
    o[s[1]] = x
  end
  if s[1] == "source" then o.source_option = true end
end

-- A bundle of one-letter options ("-nnvX", "-c1"): whether every letter
-- up to a value is an option (nothing is set otherwise).
local function bundle_ok(spec, o, a)
  for j = 2, #a do
    local s = entry(spec, o, "-" .. a:sub(j, j))
    if not s then return false end
    if takes_value(s) then return true end
  end
  return true
end

-- Parses the bundle a; returns how many extra words of argv it used.
local function bundle(name, spec, o, a, nextword)
  for j = 2, #a do
    local opt = "-" .. a:sub(j, j)
    local s = entry(spec, o, opt)
    if takes_value(s) then
      local v = a:sub(j + 1)
      if v ~= "" then set_value(name, o, s, opt, v); return 0 end
      if nextword == nil then M.die(name, 2, "option %s needs a value", opt) end
      set_value(name, o, s, opt, nextword)
      return 1
    end
    set_flag(o, s)
  end
  return 0
end

-- One option word at argv[i] (known to be an option); returns the next i.
local function option(name, spec, o, argv, i)
  local a = argv[i]
  local s = entry(spec, o, a)
  if s and not takes_value(s) then set_flag(o, s); return i + 1 end
  if s then
    if argv[i + 1] == nil then M.die(name, 2, "option %s needs a value", a) end
    set_value(name, o, s, a, argv[i + 1])
    return i + 2
  end
  local long, v = a:match("^(%-%-[^=]+)=(.*)$")
  if long then
    set_value(name, o, entry(spec, o, long), long, v)
    return i + 1
  end
  return i + 1 + bundle(name, spec, o, a, argv[i + 1])
end

local function is_option(spec, o, a)
  if a:sub(1, 1) ~= "-" or #a < 2 then return false end
  if entry(spec, o, a) then return true end
  local long = a:match("^(%-%-[^=]+)=")
  if long then
    local s = entry(spec, o, long)
    return s ~= nil and takes_value(s)
  end
  return a:sub(2, 2) ~= "-" and bundle_ok(spec, o, a)
end

local function standalone(spec, o)
  for k, s in pairs(spec) do
    if type(s) == "function" then s = s(o) end
    if type(s) == "table" and s.standalone and o[s[1]] ~= nil then return k end
  end
end

function M.parse(name, usage, argv, spec, defaults)
  local o, positional, i = defaults or {}, {}, 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      io.stdout:write(usage)
      os.exit(0)
    elseif is_option(spec, o, a) then
      i = option(name, spec, o, argv, i)
    else
      if a:sub(1, 1) == "-" and #a > 1 and #positional == 0 and not o.source_option then
        M.die(name, 2, "unknown option '%s' (try -h)", a)
      end
      positional[#positional + 1] = a
      i = i + 1
    end
  end
  if not o.source_option then o.source = table.remove(positional, 1) end
  if not o.source and not standalone(spec, o) then
    io.stderr:write(usage)
    os.exit(2)
  end
  o.source_option = nil
  o.words = positional
  o.filter = #positional > 0 and table.concat(positional, " ") or nil
  return o
end

return M
