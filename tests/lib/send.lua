-- send.lua IFACE: sends SEND_SPEC (Lua: a list of {frame, count}, frames
-- built with b = pktsh.build); with SEND_END=1 then an END marker frame
-- (from an address and to a port no test rule matches). Prints sent=N,
-- the marker not counted. tests/lib/ctl.sh's send runs it.
local b = pktsh.build
local spec = assert(loadstring("local b = ...; return " .. os.getenv("SEND_SPEC")))(b)
local s = assert(pktsh.sender(arg[1]))
local sent = 0
for _, item in ipairs(spec) do
  local n, first, e = s:send(item[1], item[2] or 1)
  if n ~= (item[2] or 1) then io.stderr:write("send: ", tostring(e or first), "\n"); os.exit(1) end
  sent = sent + n
end
if os.getenv("SEND_END") == "1" then
  pktsh.sleep(0.05)
  s:send(b.udp4{src = "198.19.0.9", dport = 9, payload = "pktsh-END"}, 1)
end
print("sent=" .. sent)
