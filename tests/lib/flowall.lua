-- flowall.lua FILE...: every DNS message pktsh.dnsflow finds in each
-- capture (UDP in place, TCP and fragments reassembled, small batches so
-- that flows cross them) goes through the DNS parser, and its addresses
-- are read; prints "messages N". A capture that does not open is passed
-- over. Used by tests/sh/test_fuzz_regress.sh and, in the guard-page
-- mode, tests/sh/test_packet_memory.sh.
local dns, dnsflow = pktsh.dns, pktsh.dnsflow
local n = 0
for _, path in ipairs(arg) do
  local src = pktsh.open(path, {batch = 3})
  if src then
    local fe = dnsflow.new{ports = {53, 5353}, max_flows = 8, max_frags = 8}
    src:each(function(p)
      fe:feed(p, function(ptr, len, meta)
        n = n + 1
        dns.question(ptr, len); dns.parse(ptr, len)
        local _ = meta.src, meta.dst, meta.srcraw, meta.dstraw
      end)
    end)
    fe:flush()
    src:close()
  end
end
print("messages " .. n)
