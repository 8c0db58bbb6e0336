-- owners.lua - owner records of XDP programs (module pktsh.xdp.owners):
-- a program attached through libxdp's dispatcher outlives a killed pktsh,
-- so each has a record (src/xdp/xdpowner.c) naming the process that
-- attached it; cleanup() detaches those whose owner has died.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}


local owner_actions = {[0] = "kept", "detached", "gone", "failed"}

local function owners(clean)
  local e = errors.new()
  local n = ffi.new("uint32_t[1]")
  if C.pktsh_xdp_owners(nil, 0, n, 0, e) ~= 0 then return nil, errors.message(e) end
  local cap = n[0] + 16         -- records may appear meanwhile
  local buf = ffi.new("struct pktsh_xdp_owner[?]", cap)
  if C.pktsh_xdp_owners(buf, cap, n, clean and 1 or 0, e) ~= 0 then
    return nil, errors.message(e)
  end
  local out = {}
  for i = 0, math.min(n[0], cap) - 1 do
    local o = buf[i]
    out[#out + 1] = {pid = o.pid, alive = o.alive ~= 0, here = o.here ~= 0,
                     start = tonumber(o.start), netns = tonumber(o.netns),
                     ifindex = o.ifindex, prog_id = o.prog_id, name = ffi.string(o.name),
                     action = owner_actions[tonumber(o.action)],
                     note = o.note[0] ~= 0 and ffi.string(o.note) or nil}
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

-- Programs attached through libxdp's dispatcher outlive a killed pktsh;
-- each has an owner record (<bpffs>/pktsh/, bpffs being $LIBXDP_BPFFS or
-- /sys/fs/bpf). cleanup() detaches those whose owner has died and removes
-- their records ({dry_run = true}: only lists them). Every record comes
-- back as {pid=, alive=, here=, ifindex=, prog_id=, action=, note=}:
-- action "kept" (owner alive, another network namespace, or a dry run),
-- "detached", "gone" (no longer attached) or "failed" (note says why).
function M.cleanup(opts)
  errors.argcheck(opts == nil or type(opts) == "table", 1, "cleanup", "table or nil")
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "dry_run" then return nil, string.format("unknown option '%s' for cleanup", tostring(k)) end
  end
  return owners(not opts.dry_run)
end

return M
