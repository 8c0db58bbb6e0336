-- serial.lua - plain Lua values to a string and back, for handing results
-- and arguments between the Lua states of fanout workers (parallel.lua).
--
-- Plain means nil (at the top only), booleans, numbers (including inf and
-- nan), strings and tables of those, nested; keys are booleans, numbers or
-- strings. Anything else (a function, cdata, userdata, a coroutine, a
-- table that contains itself) is refused with an error naming where it is:
--   cannot serialise a function at result.by_proto.udp
-- Metatables are not kept. A table reached twice is written twice.
--
-- The text is a small tagged format read by a hand-written parser, never
-- by load(): decode() of any string returns a value or nil, err.
--   Z nil   T true   F false   n<%.17g>;   s<len>:<bytes>   {<k><v>...}
local M = {}

local type, tostring, tonumber, pairs = type, tostring, tonumber, pairs
local byte, sub, find, format = string.byte, string.sub, string.find, string.format
local concat = table.concat

local MAX_DEPTH = 200

-- "result.a[3]['x y']": where a value sits, for error messages.
local function keytext(path, k)
  if type(k) == "string" and find(k, "^[%a_][%w_]*$") then
    return path == "" and k or path .. "." .. k
  elseif type(k) == "string" then
    return path .. "[" .. format("%q", k) .. "]"
  end
  return path .. "[" .. tostring(k) .. "]"
end
M.keytext = keytext

local function number(n)
  if n ~= n then return "nnan;" end
  if n == 1 / 0 then return "ninf;" end
  if n == -1 / 0 then return "n-inf;" end
  return format("n%.17g;", n)
end

local encode_value

local function encode_key(out, k, path, parent)
  local t = type(k)
  if t == "string" then
    out[#out + 1] = "s" .. #k .. ":"
    out[#out + 1] = k
  elseif t == "number" then
    out[#out + 1] = number(k)
  elseif t == "boolean" then
    out[#out + 1] = k and "T" or "F"
  else
    error(format("cannot serialise a %s used as a key in %s", t, parent), 0)
  end
end

function encode_value(out, v, path, open)
  local t = type(v)
  if t == "number" then
    out[#out + 1] = number(v)
  elseif t == "string" then
    out[#out + 1] = "s" .. #v .. ":"
    out[#out + 1] = v
  elseif t == "boolean" then
    out[#out + 1] = v and "T" or "F"
  elseif t == "table" then
    if open[v] then
      error(format("cannot serialise a table that contains itself at %s", path), 0)
    end
    if #open >= MAX_DEPTH then
      error(format("cannot serialise tables nested more than %d deep at %s", MAX_DEPTH, path), 0)
    end
    open[v] = true
    open[#open + 1] = v
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      local p = keytext(path, k)
      encode_key(out, k, p, path)
      encode_value(out, x, p, open)
    end
    out[#out + 1] = "}"
    open[#open] = nil
    open[v] = nil
  elseif t == "nil" then
    error(format("cannot serialise nil at %s", path), 0)
  else
    local what = t
    if t == "cdata" then what = "cdata value (" .. tostring(v) .. "; use tonumber or tostring)" end
    error(format("cannot serialise a %s at %s", what, path), 0)
  end
end

-- The string for v. Raises "cannot serialise a function at NAME.k1.k2"
-- (NAME defaults to "value") for anything that is not plain.
function M.encode(v, name)
  if v == nil then return "Z" end
  local out = {}
  encode_value(out, v, name or "value", {})
  return concat(out)
end

-- Whether v is plain: true, or nil and the same message encode raises.
function M.check(v, name)
  local ok, err = pcall(M.encode, v, name)
  if ok then return true end
  return nil, err
end

local decode_value

local function corrupt(pos, what)
  return format("serialised data is corrupt at byte %d: %s", pos, what)
end

-- Returns value, next position; or nil, nil, err.
function decode_value(s, pos, depth)
  local tag = byte(s, pos)
  if tag == 110 then                                    -- n
    local e = find(s, ";", pos + 1, true)
    if not e then return nil, nil, corrupt(pos, "unterminated number") end
    local n = tonumber(sub(s, pos + 1, e - 1))
    if not n then return nil, nil, corrupt(pos, "not a number") end
    return n, e + 1
  elseif tag == 115 then                                -- s
    local c = find(s, ":", pos + 1, true)
    local len = c and tonumber(sub(s, pos + 1, c - 1))
    if not len or len < 0 or len % 1 ~= 0 or c + len > #s then
      return nil, nil, corrupt(pos, "bad string length")
    end
    return sub(s, c + 1, c + len), c + len + 1
  elseif tag == 84 then return true, pos + 1            -- T
  elseif tag == 70 then return false, pos + 1           -- F
  elseif tag == 123 then                                -- {
    if depth >= MAX_DEPTH then return nil, nil, corrupt(pos, "nested too deep") end
    local t = {}
    pos = pos + 1
    while true do
      if byte(s, pos) == 125 then return t, pos + 1 end -- }
      if pos > #s then return nil, nil, corrupt(pos, "unterminated table") end
      local k, v, err
      k, pos, err = decode_value(s, pos, depth + 1)
      if err then return nil, nil, err end
      if type(k) == "table" or k ~= k then
        return nil, nil, corrupt(pos, "a key that cannot be a key")
      end
      v, pos, err = decode_value(s, pos, depth + 1)
      if err then return nil, nil, err end
      t[k] = v
    end
  end
  return nil, nil, corrupt(pos, tag and "unknown tag" or "truncated")
end

-- The value s encodes, or nil, err (never raises for bad input).
function M.decode(s)
  if type(s) ~= "string" then return nil, "serialised data must be a string" end
  if s == "Z" then return nil end
  local v, pos, err = decode_value(s, 1, 0)
  if err then return nil, err end
  if pos ~= #s + 1 then return nil, corrupt(pos, "trailing bytes") end
  return v
end

return M
