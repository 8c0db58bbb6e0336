-- merge.lua - the one merge of worker results (module pktsh.host.merge):
-- what pktsh.parallel does with the tables its workers return, what the
-- hist/top/rate one-liners do with theirs, and what scripts call to
-- combine their own partial results.
local errors = require "pktsh.host.errors"
local serial = require "pktsh.host.serial"

local M = {}
local format, type, pairs = string.format, type, pairs

-- The report states that merge by their own module's rule.
local kinds = {hist = "pktsh.report.hist", topk = "pktsh.report.topk", rate = "pktsh.report.rate",
               metrics = "pktsh.report.metrics"}

-- A readable key path for messages: "result.by_src['198.18.0.1']".
local function pathtext(path)
  if not path then return "result" end
  return serial.keytext(pathtext(path.up), path.k)
end

local function describe(v)
  if type(v) == "string" then return format("%q", v) end
  return type(v) == "table" and "a table" or tostring(v)
end

local rule_fns = {
  sum = function(a, b) return a + b end,
  min = function(a, b) return a < b and a or b end,
  max = function(a, b) return a > b and a or b end,
  keep = function(a) return a end,
  concat = function(a, b)
    for i = 1, #b do a[#a + 1] = b[i] end
    return a
  end,
}

local function deep(a, b, rules, path)
  if a == nil then return b end
  if b == nil then return a end
  if rules and path then
    local r = rules[path.k]
    if r then return r(a, b, path.k) end
  end
  local ta, tb = type(a), type(b)
  if ta == "number" and tb == "number" then return a + b end
  if ta == "table" and tb == "table" then
    local kind = kinds[a.chart]
    if kind and b.chart == a.chart then return require(kind).merge(a, b) end
    for k, v in pairs(b) do
      a[k] = deep(a[k], v, rules, {up = path, k = k})
    end
    return a
  end
  if ta == tb and ta ~= "table" and a == b then return a end
  error(format("cannot merge %s and %s at %s: give opts.merge a function, "
               .. "or a rule for key %s", describe(a), describe(b), pathtext(path),
               path and describe(path.k) or "(the result)"), 0)
end

-- The default merge: numbers add; states of pktsh.hist, pktsh.topk,
-- pktsh.rate and pktsh.metrics (tables whose `chart` field names their kind) merge by their
-- module's rule; other tables merge key by key (a key in only one side is
-- taken as it is); equal strings and booleans stay; anything else is an
-- error naming the key path. Changes and returns a.
function M.merge(a, b)
  return deep(a, b, nil, nil)
end

-- A merge function that is the default one except for the keys named in
-- rules, at any depth: "sum", "min", "max", "keep" (the first value),
-- "concat" (lists), or function(a, b, key) returning the merged value.
function M.merge_with(rules)
  errors.argcheck(type(rules) == "table", 1, "merge_with", "table")
  local fns = {}
  for k, r in pairs(rules) do
    local f = type(r) == "function" and r or rule_fns[r]
    if not f then
      error(format("merge rule for %s must be a function or one of "
                   .. "sum, min, max, keep, concat, not %s", describe(k), describe(r)), 2)
    end
    fns[k] = f
  end
  return function(a, b) return deep(a, b, fns, nil) end
end

-- Merges b into the result so far (nil before the first).
function M.combine(merge, a, b)
  if a == nil then return true, b end
  if b == nil then return true, a end
  return pcall(merge, a, b)
end

function M.merger(m)
  if m == nil then return M.merge end
  if type(m) == "function" then return m end
  if type(m) == "table" then return M.merge_with(m) end
  error("opts.merge must be a function or a table of rules", 3)
end

-- The k largest entries of a map of numbers (or of tables, compared by
-- their field `by`), as a list of {key = k, value = v}, largest first,
-- ties in key order. Compute rankings after the merge, from full counts:
-- per-worker top-k lists cannot be merged exactly.
function M.top(map, k, by)
  local list = {}
  for key, v in pairs(map or {}) do
    list[#list + 1] = {key = key, value = v, n = by and v[by] or v}
  end
  table.sort(list, function(x, y)
    if x.n ~= y.n then return x.n > y.n end
    return tostring(x.key) < tostring(y.key)
  end)
  local out = {}
  for i = 1, math.min(k or #list, #list) do
    out[i] = {key = list[i].key, value = list[i].value}
  end
  return out
end

return M
