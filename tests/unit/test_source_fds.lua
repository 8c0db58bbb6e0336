-- A failed open never closes standard input (issue 9, item 1): every
-- handle's descriptor starts at -1, so an error path that closes "its"
-- descriptor cannot close fd 0. Standard input is pointed at a file of
-- our own; after each failed open it must still be that file, and the
-- next capture opened must not land on fd 0.
local T = require "t"
local ffi = require "ffi"

ffi.cdef [[
int open(const char *path, int flags, ...);
int dup(int fd);
int dup2(int from, int to);
int close(int fd);
long readlink(const char *path, char *buf, size_t len);
long pread(int fd, void *buf, size_t n, long off);
]]
local C = ffi.C
local O_RDONLY = 0

local function fd0()
  local buf = ffi.new("char[4096]")
  local n = C.readlink("/proc/self/fd/0", buf, 4096)
  if n < 0 then return nil end
  return ffi.string(buf, n)
end

local function fd0_text()
  local buf = ffi.new("char[64]")
  local n = C.pread(0, buf, 64, 0)
  return n >= 0 and ffi.string(buf, n) or nil
end

local marker = os.tmpname()
do
  local f = assert(io.open(marker, "wb"))
  f:write("standard input of the test\n")
  f:close()
end
local saved = C.dup(0)

-- Points fd 0 at the marker file (again: each case on its own).
local function set_stdin()
  local fd = C.open(marker, O_RDONLY)
  assert(fd >= 0 and C.dup2(fd, 0) == 0, "cannot point fd 0 at the marker file")
  if fd ~= 0 then C.close(fd) end   -- fd 0 was free (closed by the last case)
end

local notpcap = os.tmpname()
do
  local f = assert(io.open(notpcap, "wb"))
  f:write(string.rep("this is not a capture file\n", 20))
  f:close()
end

local function still_stdin(what)
  T.eq(fd0(), marker, what .. ": fd 0 is still the test's standard input")
  T.eq(fd0_text(), "standard input of the test\n", what .. ": fd 0 reads the same bytes")
end

local failures = {
  {"a file libpcap refuses", function() return pktsh.open(notpcap) end},
  {"the README as a capture", function() return pktsh.open("README.md") end},
  {"a bad filter on a capture", function()
    return pktsh.open("tests/pcaps/dnscap__dns.pcap", {filter = "port banana"}) end, "banana"},
  {"a bad filter on a pcapng", function()
    return pktsh.open("tests/pcaps/ndpi__dns-google-nsid.pcapng", {filter = "port banana"}) end, "banana"},
  {"a writer into a missing directory", function()
    return pktsh.pcap_writer("/nonexistent-dir/x.pcap") end},
  {"a sender on a missing interface", function() return pktsh.sender("pktshnope0") end},
  {"a capture on a missing interface", function() return pktsh.open("pktshnope0") end},
  {"XDP on a missing interface", function() return pktsh.xdp("pktshnope0") end},
}

for _, case in ipairs(failures) do
  T.test("failed open leaves fd 0 alone: " .. case[1], function()
    set_stdin()
    local ok, r, err = pcall(case[2])
    T.ok(ok, "raised: " .. tostring(r))
    T.eq(r, nil, "the open failed")
    T.ok(type(err) == "string" and #err > 0, "with a reason")
    if case[3] then T.ok(err:find(case[3]), "the reason: " .. err) end
    collectgarbage()
    still_stdin(case[1])
  end)
end

T.test("after a failed open a capture does not land on fd 0", function()
  set_stdin()
  T.eq(pktsh.open(notpcap), nil)
  local src = assert(pktsh.open("tests/pcaps/dnscap__dns.pcap"))
  still_stdin("a capture opened after the failure")
  local n = 0
  src:each(function() n = n + 1 end)
  T.eq(n, 133, "packets")
  src:close()
  still_stdin("the capture closed")
end)

C.dup2(saved, 0)
C.close(saved)
os.remove(marker)
os.remove(notpcap)
T.done()
