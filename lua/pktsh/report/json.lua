-- json.lua - JSON text for reports (--json) and tests. encode() writes
-- objects with sorted keys so output is stable; decode() reads any JSON.
local M = {}

local escapes = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}

-- The length of the valid UTF-8 sequence at s[i] (a lead byte >= 0xC2),
-- or nil: overlong forms, surrogates and code points past U+10FFFF are not.
local function utf8_len(s, i)
  local b = s:byte(i)
  local n
  local lo, hi = 0x80, 0xBF
  if b >= 0xC2 and b <= 0xDF then n = 2
  elseif b >= 0xE0 and b <= 0xEF then
    n = 3
    if b == 0xE0 then lo = 0xA0 elseif b == 0xED then hi = 0x9F end
  elseif b >= 0xF0 and b <= 0xF4 then
    n = 4
    if b == 0xF0 then lo = 0x90 elseif b == 0xF4 then hi = 0x8F end
  else return nil end
  local c = s:byte(i + 1)
  if not c or c < lo or c > hi then return nil end
  for j = i + 2, i + n - 1 do
    c = s:byte(j)
    if not c or c < 0x80 or c > 0xBF then return nil end
  end
  return n
end

-- Bytes that are not UTF-8 (packet payloads, DNS names) become \u00XX,
-- the code point of the same number, so the text is always valid JSON.
local function fix_utf8(s)
  local out, i, n, from = {}, 1, #s, 1
  while i <= n do
    local b = s:byte(i)
    if b < 0x80 then
      i = i + 1
    else
      local len = utf8_len(s, i)
      if len then
        i = i + len
      else
        out[#out + 1] = s:sub(from, i - 1)
        out[#out + 1] = string.format("\\u%04x", b)
        i = i + 1
        from = i
      end
    end
  end
  out[#out + 1] = s:sub(from)
  return table.concat(out)
end

local function escape_string(s)
  s = s:gsub('[%c"\\]', function(c)
    local e = escapes[c]
    if e then return e end
    return string.format("\\u%04x", c:byte())
  end)
  if s:find("[\128-\255]") then s = fix_utf8(s) end
  return '"' .. s .. '"'
end

-- The shortest decimal that reads back as exactly v (0.1, not
-- 0.10000000000000001).
local function shortest(v)
  for digits = 15, 16 do
    local t = string.format("%." .. digits .. "g", v)
    if tonumber(t) == v then return t end
  end
  return string.format("%.17g", v)
end

-- A table is an array when its keys are exactly 1..n (an empty table is
-- an object unless marked with M.array).
local array_mt = {}
function M.array(t) return setmetatable(t or {}, array_mt) end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local encode_value

local function encode_table(t, out, seen)
  if seen[t] then error("json: cannot encode a cycle") end
  seen[t] = true
  if is_array(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, seen)
    end
    out[#out + 1] = "]"
  else
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = escape_string(k)
      out[#out + 1] = ":"
      local v = t[k]
      if v == nil then v = t[tonumber(k)] end
      encode_value(v, out, seen)
    end
    out[#out + 1] = "}"
  end
  seen[t] = nil
end

function encode_value(v, out, seen)
  local tv = type(v)
  if tv == "table" then
    encode_table(v, out, seen)
  elseif tv == "string" then
    out[#out + 1] = escape_string(v)
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 2^53 then
      out[#out + 1] = string.format("%d", v)
    else
      out[#out + 1] = shortest(v)
    end
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif v == nil then
    out[#out + 1] = "null"
  else
    out[#out + 1] = escape_string(tostring(v))
  end
end

-- JSON text of v: objects with sorted keys; always valid UTF-8 (see
-- escape_string); numbers the shortest decimal that reads back.
function M.encode(v)
  local out = {}
  encode_value(v, out, {})
  return table.concat(out)
end

-- decode ---------------------------------------------------------------
local function decode_error(s, i, what)
  error(string.format("json: %s at character %d", what, i), 0)
end

local decode_value

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then decode_error(s, j, "unterminated string") end
    if c == '"' then return table.concat(out), j + 1 end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      local map = {b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}
      if map[e] then
        out[#out + 1] = map[e]; j = j + 2
      elseif e == "u" then
        local code = tonumber(s:sub(j + 2, j + 5), 16)
        if not code then decode_error(s, j, "bad \\u escape") end
        if code < 0x80 then out[#out + 1] = string.char(code)
        elseif code < 0x800 then
          out[#out + 1] = string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64)
        else
          out[#out + 1] = string.char(0xE0 + math.floor(code / 4096),
                                      0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
        end
        j = j + 6
      else
        decode_error(s, j, "bad escape")
      end
    else
      out[#out + 1] = c; j = j + 1
    end
  end
end

local function decode_list(s, i, close, item)
  local j = skip(s, i + 1)
  if s:sub(j, j) == close then return j + 1 end
  while true do
    j = item(j)
    j = skip(s, j)
    local c = s:sub(j, j)
    if c == close then return j + 1 end
    if c ~= "," then decode_error(s, j, "expected ',' or '" .. close .. "'") end
    j = skip(s, j + 1)
  end
end

function decode_value(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local t = {}
    local j = decode_list(s, i, "}", function(j)
      if s:sub(j, j) ~= '"' then decode_error(s, j, "expected a key") end
      local k, v
      k, j = decode_string(s, j)
      j = skip(s, j)
      if s:sub(j, j) ~= ":" then decode_error(s, j, "expected ':'") end
      v, j = decode_value(s, j + 1)
      t[k] = v
      return j
    end)
    return t, j
  elseif c == "[" then
    local t = M.array()
    local j = decode_list(s, i, "]", function(j)
      local v
      v, j = decode_value(s, j)
      t[#t + 1] = v
      return j
    end)
    return t, j
  elseif c == '"' then
    return decode_string(s, i)
  end
  for word, val in pairs({["true"] = true, ["false"] = false, null = M.null}) do
    if s:sub(i, i + #word - 1) == word then return val, i + #word end
  end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if num and #num > 0 then return tonumber(num), i + #num end
  decode_error(s, i, "unexpected '" .. c .. "'")
end

M.null = setmetatable({}, {__tostring = function() return "null" end})

-- Returns the value, or nil and the reason.
function M.decode(s)
  local ok, v, j = pcall(decode_value, s, 1)
  if not ok then return nil, v end
  if skip(s, j) <= #s then return nil, "json: trailing text at character " .. j end
  return v
end

function M.selftest()
  local t = {a = 1, b = {1, 2, "x"}, c = "q\"\n", d = true}
  local s = M.encode(t)
  assert(s == '{"a":1,"b":[1,2,"x"],"c":"q\\"\\n","d":true}', s)
  local back = assert(M.decode(s))
  assert(back.a == 1 and back.b[3] == "x" and back.c == "q\"\n" and back.d == true)
  assert(M.decode("[1,") == nil)
  return true
end

return M
