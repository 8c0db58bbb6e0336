-- numbers.lua - the numbers C, the BPF program and Lua share (module
-- pktsh.proto.numbers): src/pktsh.h's enums as tables by name, built
-- once from ffi.C, so that no Lua module spells one out again
-- (tests/unit/test_numbers_literals.lua checks that none does).
--
--   numbers.DLT.EN10MB      numbers.ETH.IP6      numbers.IPPROTO.UDP
--
-- Hot paths copy what they need into locals at load: a never-assigned
-- local is a constant to the JIT.
local ffi = require "ffi"
require "pktsh.cdef"
local C = ffi.C

local M = {}

-- {NAME = C[prefix .. NAME]} for each NAME in the space-separated list;
-- a name pktsh.h does not declare is an error at load.
function M.enum(prefix, names)
  local t = {}
  for name in names:gmatch("%S+") do t[name] = C[prefix .. name] end
  return t
end

M.DLT = M.enum("PKTSH_DLT_", "NULL EN10MB RAW RAW_BSD RAW_LT LOOP LINUX_SLL IPV4 IPV6 NFLOG LINUX_SLL2")
M.ETH = M.enum("PKTSH_ETH_", "IP4 ARP VLAN IP6 QINQ QINQ_OLD")
M.IPPROTO = M.enum("PKTSH_IPPROTO_", "HOPOPTS ICMP IGMP IPIP TCP UDP IPV6 ROUTING FRAGMENT " ..
                   "GRE ESP AH ICMPV6 NONE DSTOPTS SCTP UDPLITE")
M.PKT = M.enum("PKTSH_PKT_", "NEW OK BAD STALE")       -- pkt.l2state, pkt.l3state
M.FRAG = M.enum("PKTSH_FRAG_", "NONE FIRST LATER")     -- pkt.fragment
M.TSRC = M.enum("PKTSH_TSRC_", "FILE SW HW XDP")       -- pkt.tsrc
M.VLAN_ID_MASK = C.PKTSH_VLAN_ID_MASK
M.SNAPLEN_DEFAULT = C.PKTSH_SNAPLEN_DEFAULT

function M.selftest()
  assert(M.DLT.EN10MB == 1 and M.ETH.IP6 == 0x86dd and M.IPPROTO.UDP == 17)
  assert(M.TSRC.XDP == 3 and M.FRAG.LATER == 2 and M.PKT.STALE == 3)
  for _, t in ipairs{M.DLT, M.ETH, M.IPPROTO, M.PKT, M.FRAG, M.TSRC} do
    local seen = {}
    for name, v in pairs(t) do
      assert(type(v) == "number", name)
      assert(not seen[v], "two names for " .. v)
      seen[v] = true
    end
  end
  assert(not pcall(M.enum, "PKTSH_DLT_", "NOSUCH"), "an unknown name is an error")
end

return M
