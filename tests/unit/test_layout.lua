-- The FFI contract: every struct in src/pktsh.h must have the same size
-- and field offsets in LuaJIT as in the C compiler that built the host.
local T = require "t"
local ffi = require "ffi"
require "pktsh.cdef"

local header = assert(T.slurp("src/pktsh.h"))

-- struct name -> list of field names, read from the header text.
local function structs(text)
  local out = {}
  for name, body in text:gmatch("struct%s+(pktsh_[%w_]+)%s*(%b{})%s*;") do
    local fields = {}
    for decl in body:sub(2, -2):gsub("/%*.-%*/", ""):gmatch("([^;]+);") do
      local field = decl:match("([%w_]+)%s*%[[^%]]*%]%s*$") or decl:match("([%w_]+)%s*$")
      fields[#fields + 1] = field
    end
    out[#out + 1] = {name = name, fields = fields}
  end
  return out
end

local list = structs(header)

T.test("header declares structs", function()
  T.ok(#list >= 5, "found only " .. #list .. " structs")
end)

-- One C program prints "struct size" and "struct.field offset" lines.
local function c_layout()
  local src = {'#include <stdio.h>', '#include <stddef.h>', '#include "pktsh.h"', 'int main(void) {'}
  for _, s in ipairs(list) do
    src[#src + 1] = string.format('printf("%s %%zu\\n", sizeof(struct %s));', s.name, s.name)
    for _, f in ipairs(s.fields) do
      src[#src + 1] = string.format('printf("%s.%s %%zu\\n", offsetof(struct %s, %s));',
                                    s.name, f, s.name, f)
    end
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
    local k, v = line:match("^(%S+) (%d+)$")
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

for _, s in ipairs(list) do
  T.test("layout of struct " .. s.name, function()
    local ct = "struct " .. s.name
    T.eq(ffi.sizeof(ct), c[s.name], "sizeof " .. ct)
    for _, f in ipairs(s.fields) do
      T.eq(ffi.offsetof(ct, f), c[s.name .. "." .. f], "offsetof " .. ct .. "." .. f)
    end
  end)
end

T.done()
