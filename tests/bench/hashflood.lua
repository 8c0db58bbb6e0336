-- hashflood.lua DIR [N] - writes DIR/crafted.pcap: N DNS queries (default
-- 100000) whose pending-table keys all had one hash under the unkeyed
-- hash dnsstats used before it was keyed, and DIR/random.pcap: N queries
-- with random ids, ports and clients. Time dnsstats on both:
--   LUA_PATH='tests/lib/?.lua;;' build/pktsh tests/bench/hashflood.lua /tmp/flood
--   time build/pktsh scripts/dnsstats.lua --json /tmp/flood/crafted.pcap
--   time build/pktsh scripts/dnsstats.lua --json /tmp/flood/random.pcap
local flood = require "hostile"
local dir, n = arg[1], tonumber(arg[2] or 100000)
if not dir then io.stderr:write("usage: hashflood.lua DIR [N]\n"); os.exit(2) end
os.execute("mkdir -p '" .. dir .. "'")
os.remove(dir .. "/crafted.pcap"); os.remove(dir .. "/random.pcap")
math.randomseed(1)
flood.capture(dir .. "/crafted.pcap", n, true)
flood.capture(dir .. "/random.pcap", n, false)
print(string.format("wrote %s/crafted.pcap and %s/random.pcap, %d queries each", dir, dir, n))
