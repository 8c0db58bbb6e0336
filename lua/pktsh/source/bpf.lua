-- bpf.lua - filters given as classic BPF programs rather than tcpdump
-- expressions: a Lua list of {code, jt, jf, k} (or {code=, jt=, jf=, k=}),
-- or the text `tcpdump -dd` prints ("{ 0x28, 0, 0, 0x0000000c },"
-- lines) or `tcpdump -ddd` prints (a count, then "code jt jf k" lines).
--
--   local prog, n = bpf.program(filter)   -- struct pktsh_bpf_insn[n], n
--   -- nil, nil when filter is an expression (or nil); nil, err when a
--   -- program is malformed
--
-- The kernel (SO_ATTACH_FILTER) or bpf_validate (files) checks what the
-- program does; this only checks that it is well formed.
local ffi = require "ffi"
local C = ffi.C

local M = {}
local insns_t = ffi.typeof("struct pktsh_bpf_insn[?]")
local MAX = C.PKTSH_BPF_MAXINSNS
local limits = {0xffff, 0xff, 0xff, 0xffffffff}
local names = {"code", "jt", "jf", "k"}

local function field(v, i, n)
  if type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v > limits[i] then
    return nil, string.format("filter program instruction %d: %s must be a whole number "
                              .. "from 0 to %d, not %s", n, names[i], limits[i], tostring(v))
  end
  return v
end

local function build(list)
  if #list == 0 then return nil, "filter program has no instructions" end
  if #list > MAX then
    return nil, string.format("filter program has %d instructions; the kernel takes %d at most",
                              #list, MAX)
  end
  local prog = insns_t(#list)
  for n, ins in ipairs(list) do
    if type(ins) ~= "table" then
      return nil, string.format("filter program instruction %d is not a table", n)
    end
    local vals = {}
    for i, name in ipairs(names) do
      local v, err = field(ins[i] == nil and ins[name] or ins[i], i, n)
      if not v then return nil, err end
      vals[i] = v
    end
    local p = prog[n - 1]
    p.code, p.jt, p.jf, p.k = vals[1], vals[2], vals[3], vals[4]
  end
  return prog, #list
end

-- "{ 0x28, 0, 0, 0x0000000c }," lines (tcpdump -dd).
local function dd_text(s)
  local list = {}
  for body in s:gmatch("%b{}") do
    local ins = {}
    for num in body:sub(2, -2):gmatch("[^,%s]+") do
      local v = tonumber(num)
      if not v then return nil, "filter program: '" .. num .. "' is not a number" end
      ins[#ins + 1] = v
    end
    if #ins ~= 4 then
      return nil, "filter program: '" .. body .. "' is not {code, jt, jf, k}"
    end
    list[#list + 1] = ins
  end
  local rest = s:gsub("%b{}", ""):gsub("[,%s]", "")
  if rest ~= "" then return nil, "filter program: unexpected text '" .. rest:sub(1, 40) .. "'" end
  return list
end

-- "N" then N lines of "code jt jf k" (tcpdump -ddd).
local function ddd_text(s)
  local lines = {}
  for line in s:gmatch("[^\n]+") do
    if line:find("%S") then lines[#lines + 1] = line end
  end
  local n = tonumber(lines[1])
  if not n or n ~= #lines - 1 then
    return nil, "filter program: tcpdump -ddd text starts with its instruction count"
  end
  local list = {}
  for i = 2, #lines do
    local a, b, c, d = lines[i]:match("^%s*(%d+)%s+(%d+)%s+(%d+)%s+(%d+)%s*$")
    if not a then return nil, "filter program: bad line '" .. lines[i] .. "'" end
    list[#list + 1] = {tonumber(a), tonumber(b), tonumber(c), tonumber(d)}
  end
  return list
end

-- Whether a string is program text rather than a tcpdump expression: -dd
-- text starts with "{", -ddd text is digits and blanks only (no
-- expression is).
local function is_text(s)
  return s:find("^%s*{") ~= nil or s:find("^[%d%s]+$") ~= nil and s:find("\n") ~= nil
end

-- The program in filter: struct pktsh_bpf_insn[n], n; nil, nil for a
-- tcpdump expression or nil; nil, err for a malformed program.
function M.program(filter)
  if filter == nil then return nil, nil end
  if type(filter) == "table" then return build(filter) end
  if type(filter) ~= "string" then
    return nil, "filter must be a tcpdump expression, a list of {code, jt, jf, k} "
                .. "or tcpdump -dd text, not a " .. type(filter)
  end
  if not is_text(filter) then return nil, nil end
  local list, err
  if filter:find("^%s*{") then list, err = dd_text(filter) else list, err = ddd_text(filter) end
  if not list then return nil, err end
  return build(list)
end

-- What a source shows as its filter: the expression, or "(N instructions)".
function M.describe(filter, n)
  if n then return string.format("(classic BPF, %d instructions)", n) end
  return filter
end

function M.selftest()
  local p, n = M.program("{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0, 0x00040000 },\n")
  assert(n == 2 and p[0].code == 0x28 and p[0].k == 12 and p[1].code == 6 and p[1].k == 0x40000)
  p, n = M.program("2\n40 0 0 12\n6 0 0 65535\n")
  assert(n == 2 and p[1].k == 65535)
  p, n = M.program({{0x6, 0, 0, 0}})
  assert(n == 1 and p[0].code == 6)
  assert(M.program("udp port 53") == nil)
  assert(select(2, M.program({{0x6, 0, 0, -1}})):find("k must be"))
  assert(select(2, M.program("{ 0x6, 0, 0 }")):find("not {code"))
  return true
end

return M
