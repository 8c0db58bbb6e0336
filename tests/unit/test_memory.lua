-- test_memory.lua - where pktsh's memory comes from (src/host/memory.c):
-- the C heap asked for transparent huge pages, large blocks from it
-- rather than a mapping each, and the Lua state's memory from it.
local T = require "t"
local ffi = require "ffi"

ffi.cdef [[
void *malloc(size_t);
void free(void *);
]]

-- The [heap] mappings of this process: {lo, hi, flags} each.
local function heap_maps()
  local f = assert(io.open("/proc/self/smaps"))
  local s = f:read("*a")
  f:close()
  local out = {}
  for lo, hi, body in s:gmatch("(%x+)%-(%x+) [^\n]*%[heap%]\n(.-VmFlags:[^\n]*)") do
    out[#out + 1] = {lo = tonumber(lo, 16), hi = tonumber(hi, 16), flags = body:match("VmFlags:([^\n]*)")}
  end
  return out
end

local function in_heap(addr)
  for _, m in ipairs(heap_maps()) do
    if addr >= m.lo and addr < m.hi then return true end
  end
  return false
end

local function thp_mode()
  local f = io.open("/sys/kernel/mm/transparent_hugepage/enabled")
  if not f then return nil end
  local s = f:read("*l")
  f:close()
  return s:match("%[(%a+)%]")
end

local mode = thp_mode()
if not mode or mode == "never" then
  T.skip("the heap on huge pages", "transparent huge pages are off (" .. tostring(mode) .. ")")
else
  T.test("the heap is asked for huge pages", function()
    local hg = false
    for _, m in ipairs(heap_maps()) do
      if m.flags:find(" hg") then hg = true end
    end
    T.ok(hg, "a [heap] mapping with the hg flag (MADV_HUGEPAGE)")
  end)
end

T.test("a block of 8 MiB comes from the heap, not a mapping of its own", function()
  local p = ffi.C.malloc(8 * 1048576)
  T.ok(p ~= nil, "malloc")
  local addr = tonumber(ffi.cast("uintptr_t", p))
  ffi.C.free(p)
  T.ok(in_heap(addr), string.format("%x in [heap]", addr))
end)

T.test("Lua's memory comes from the heap", function()
  -- a 1 MiB string: LuaJIT's own allocator would map it apart
  local s = string.rep("x", 1048576)
  local addr = tonumber(ffi.cast("uintptr_t", ffi.cast("const char *", s)))
  T.ok(in_heap(addr), string.format("%x in [heap]", addr))
end)

T.done()
