-- The FFI contract: every struct in src/pktsh.h must have the same size
-- and field offsets in LuaJIT as in the C compiler that built the host,
-- and every enum constant the same value. Fields are read from the
-- header text, every name of a comma-separated declaration
-- (`uint16_t id, cport;`) included; the C side also gives each field's
-- size and alignment, so a field the reader missed shows up as a gap
-- that is more than padding.
local T = require "t"
local ffi = require "ffi"
require "pktsh.cdef"

local header = assert(T.slurp("src/pktsh.h"))
local text = header:gsub("/%*.-%*/", " ")

-- The names a declaration declares: "uint8_t client[16], server[16]" ->
-- {"client", "server"}; "const struct pktsh_pkt *pkt" -> {"pkt"}.
local function declared(decl)
  local names = {}
  for part in decl:gmatch("[^,]+") do
    part = part:gsub("%b[]", ""):gsub("%s+$", "")
    names[#names + 1] = part:match("([%a_][%w_]*)$")
  end
  return names
end

-- {name =, members =} for each `KIND pktsh_NAME { ... };` in src;
-- members(body) lists the names the body declares.
local function blocks(src, kind, members)
  local out = {}
  for name, body in src:gmatch(kind .. "%s+(pktsh_[%w_]+)%s*(%b{})%s*;") do
    out[#out + 1] = {name = name, members = members(body:sub(2, -2))}
  end
  return out
end

local function fields(body)
  local out = {}
  for decl in body:gmatch("([^;]+);") do
    for _, f in ipairs(declared(decl)) do out[#out + 1] = f end
  end
  return out
end

local function constants(body)
  local out = {}
  for c in body:gmatch("([%a_][%w_]*)%s*=") do out[#out + 1] = c end
  return out
end

local list, elist = blocks(text, "struct", fields), blocks(text, "enum", constants)

T.test("the field reader takes every name of a declaration", function()
  T.deq(declared(" uint16_t id, cport, sport, ipver"), {"id", "cport", "sport", "ipver"}, "list")
  T.deq(declared(" uint8_t client[16], server[16]"), {"client", "server"}, "arrays")
  T.deq(declared(" const struct pktsh_pkt *pkt"), {"pkt"}, "pointer")
  T.deq(declared(" struct pktsh_ring *const *rings"), {"rings"}, "const pointer")
end)

T.test("header declares structs and enums", function()
  T.ok(#list >= 20, "found only " .. #list .. " structs")
  T.ok(#elist >= 20, "found only " .. #elist .. " enums")
end)

-- One C program prints "key number" lines: struct sizes, and per field
-- its offset, size and alignment; enum sizes and constants.
local function c_layout()
  local src = {'#include <stdio.h>', '#include <stddef.h>', '#include "pktsh.h"',
               '#define F(s, f) ((struct s *)0)->f', 'int main(void) {'}
  local function out(key, expr, fmt)
    src[#src + 1] = string.format('printf("%s %s\\n", %s);', key, fmt or "%zu", expr)
  end
  for _, s in ipairs(list) do
    out(s.name, "sizeof(struct " .. s.name .. ")")
    for _, f in ipairs(s.members) do
      local k = s.name .. "." .. f
      out(k, string.format("offsetof(struct %s, %s)", s.name, f))
      out(k .. ":size", string.format("sizeof(F(%s, %s))", s.name, f))
      out(k .. ":align", string.format("_Alignof(__typeof__(F(%s, %s)))", s.name, f))
    end
  end
  for _, e in ipairs(elist) do
    out("enum " .. e.name, "sizeof(enum " .. e.name .. ")")
    for _, c in ipairs(e.members) do out(c, "(long long)" .. c, "%lld") end
  end
  src[#src + 1] = "return 0; }"
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir) == 0)
  local cfile = io.open(dir .. "/layout.c", "w")
  cfile:write(table.concat(src, "\n"))
  cfile:close()
  local cc = os.getenv("CC") or "cc"
  local rc = os.execute(string.format("%s -Isrc -o %s/layout %s/layout.c", cc, dir, dir))
  if rc ~= 0 then return nil, "cannot compile the layout program" end
  local p = io.popen(dir .. "/layout")
  local res = {}
  for line in p:lines() do
    local k, v = line:match("^(.+) (%-?%d+)$")
    res[k] = tonumber(v)
  end
  p:close()
  os.execute("rm -rf " .. dir)
  return res
end

local c, err = c_layout()
if not c then
  T.test("compile layout program", function() error(err) end)
  T.done()
end

local nfields, nconsts = 0, 0
for _, s in ipairs(list) do
  T.test("layout of struct " .. s.name, function()
    local ct = "struct " .. s.name
    T.eq(ffi.sizeof(ct), c[s.name], "sizeof " .. ct)
    local at, maxalign = 0, 1
    for _, f in ipairs(s.members) do
      local k = s.name .. "." .. f
      T.eq(ffi.offsetof(ct, f), c[k], "offsetof " .. ct .. "." .. f)
      local align = c[k .. ":align"]
      T.ok(c[k] >= at and c[k] - at < align, ct .. ": bytes " .. at .. ".." .. c[k] ..
           " before " .. f .. " are more than padding: a field the reader missed?")
      at, maxalign = c[k] + c[k .. ":size"], math.max(maxalign, align)
      nfields = nfields + 1
    end
    T.ok(c[s.name] - at < maxalign, ct .. ": bytes after the last field are more than padding")
  end)
end

for _, e in ipairs(elist) do
  T.test("values of enum " .. e.name, function()
    T.eq(ffi.sizeof("enum " .. e.name), c["enum " .. e.name], "sizeof enum " .. e.name)
    for _, k in ipairs(e.members) do
      T.eq(tonumber(ffi.C[k]), c[k], k)
      nconsts = nconsts + 1
    end
  end)
end

print(string.format("# %d structs, %d fields; %d enums, %d constants", #list, nfields, #elist, nconsts))
T.done()
