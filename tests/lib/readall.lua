-- readall.lua FILE... - opens every capture and runs every decoder and
-- printer on every packet; prints "FILE packets" or "FILE error: ..." per
-- file. Run under valgrind by tests/sh/test_malformed.sh.
local decoders = {"eth", "vlan", "ip4", "ip6", "ip", "proto", "tcp", "udp",
                  "icmp", "icmp6", "payload", "ports", "dns"}

local function exercise(p)
  for _, d in ipairs(decoders) do p[d](p) end
  local q = p:inner()
  if q then
    for _, d in ipairs(decoders) do q[d](q) end
    q:summary()
  end
  p:summary(); p:show(); p:hex()
  p:copy():summary()
end

for _, path in ipairs(arg) do
  local src, err = pktsh.open(path)
  if not src then
    print(path .. " error: " .. err)
  else
    local n = 0
    local ok, e = src:each(function(p) n = n + 1; exercise(p) end)
    print(path .. " " .. n .. (ok and "" or " error: " .. e))
    src:close()
  end
end
