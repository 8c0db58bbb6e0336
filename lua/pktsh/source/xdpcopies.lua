-- xdpcopies.lua - the packets XDP rules copy, as a source (module
-- pktsh.source.xdpcopies): records consumed in place from the rule set's
-- BPF ring buffer (src/source/xdpcopy.c). fw:copies() makes one over a
-- rule set; pktsh.open{xdp = ifname, ...} makes the rule set too.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"
local source = require "pktsh.source"

local M = {}

local Copies = source.kind()

local function fetch_copies(self, ms)
  return C.pktsh_xdp_copies_next(self.fw.handle, self.box, ms, self.errbuf)
end

function Copies:_next(timeout)
  if not self.fw.handle then return nil end
  return self:_fetch(fetch_copies, timeout)
end

function Copies:_release()
  if self.fw.handle then C.pktsh_xdp_copies_release(self.fw.handle) end
end

function Copies:_stats()
  if self.fw.handle then C.pktsh_xdp_copies_stats(self.fw.handle, self.statbuf) end
  return self.statbuf
end

function Copies:_close()
  local fw = self.fw
  if fw.handle then C.pktsh_xdp_copies_release(fw.handle) end
  if fw.copies_src == self then fw.copies_src = nil end
  if self.owns_fw then fw:close() end       -- pktsh.open{xdp = ...}
end

-- The packets fw's rules copy, as a source ({duration = seconds} to stop
-- on its own): fw:copies(opts). One reader per rule set: the ring has one
-- consumer position.
function M.open(fw, opts)
  local self = fw
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "duration" then return nil, string.format("unknown option '%s' for copies", tostring(k)) end
  end
  local _, derr = require("pktsh.source").duration(opts)
  if derr then return nil, derr end
  if self.copies_src and not self.copies_src.closed then
    return nil, "this rule set's copies are already being read (close that source first)"
  end
  local info = self:info()
  local src = setmetatable({
    fw = self, box = ffi.new("struct pktsh_batch *[1]"), errbuf = errors.new(),
    statbuf = ffi.new("struct pktsh_src_stats"),
    name = "xdp:" .. (self.ifname or "-"), kind = "xdp",
    linktype = C.PKTSH_DLT_EN10MB, snaplen = info.copy_max, ifindex = info.ifindex,
  }, Copies)
  src:_limit(opts.duration)
  self.copies_src = src
  return src
end


local source_keys = {xdp = true, rules = true, snaplen = true, duration = true}
local xdp_keys = {"mode", "engine", "attach", "default", "ring_size", "class_words",
                  "wakeup_every"}
for _, k in ipairs(xdp_keys) do source_keys[k] = true end

-- pktsh.open{xdp = ifname [, rules = {...}] [, snaplen = N] [, duration = S],
-- and pktsh.xdp's options} -> a source of the packets the XDP program
-- copies, owning its rule set (src.fw): closing the source detaches it.
-- Without rules every packet is copied and passed (as xdpdump does); a
-- rule (a table as fw:add takes, or "key=value,..." text) without `copy`
-- copies the packets it matches, snaplen bytes of each (default: whole,
-- up to 4096). opts, if given, adds to spec.
function M.source(spec, opts)
  errors.argcheck(type(spec) == "table" and type(spec.xdp) == "string", 1, "open",
                  "string or {xdp = ifname, ...}")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "open", "table or nil")
  local o, keys = require("pktsh.source").options(spec, opts)
  for _, k in ipairs(keys) do
    if k == "filter" then
      return nil, "filter: an XDP source is filtered by its rules (rules = {...}), " ..
                  "not by a tcpdump expression"
    elseif k == "workers" then
      return nil, "workers: an XDP source has one reader (its copy ring); use a " ..
                  "live interface for fanout workers"
    elseif not source_keys[k] then
      return nil, string.format("unknown option '%s' for an XDP source", k)
    end
  end
  local copy = true
  if o.snaplen ~= nil then
    if type(o.snaplen) ~= "number" or o.snaplen % 1 ~= 0 or o.snaplen < 1 then
      return nil, "snaplen must be a whole number of bytes (1 or more)"
    end
    copy = o.snaplen < 65535 and o.snaplen or true
  end
  local _, derr = require("pktsh.source").duration(o)
  if derr then return nil, derr end
  local specs = {}
  if o.rules == nil then
    specs[1] = {copy = copy}
  elseif type(o.rules) ~= "table" then
    return nil, "rules must be a list of rules"
  else
    for i, r in ipairs(o.rules) do
      local t = r
      if type(r) == "string" then
        local err
        t, err = require("pktsh.xdp.rules").parse_rule_text(r)
        if not t then return nil, string.format("rule %d: %s", i, err) end
      elseif type(r) ~= "table" then
        return nil, string.format("rule %d: a table or key=value text, not %s", i, type(r))
      end
      local c = {}
      for k, v in pairs(t) do c[k] = v end
      if c.copy == nil then c.copy = copy end
      specs[i] = c
    end
    if #specs == 0 then return nil, "rules is empty (leave it out to copy every packet)" end
  end
  local xo = {}
  for _, k in ipairs(xdp_keys) do xo[k] = o[k] end
  local fw, err = require("pktsh.xdp").open(o.xdp, xo)
  if not fw then return nil, err end
  local ok
  ok, err = fw:add(specs)
  if not ok then fw:close(); return nil, err end
  local src
  src, err = fw:copies{duration = o.duration}
  if not src then fw:close(); return nil, err end
  src.owns_fw = true
  return src
end

local help_source = [[
an XDP source: the packets XDP rules copy (pktsh.open{xdp = ifname, ...} or fw:copies())
  src:next() src:each(fn) src:packets() src:stats() src:close()
  src.fw          the rule set (pktsh.open{xdp=...} owns it: closing the
                  source detaches the program)
  pkt.tsrc == 3 (xdp); timestamps are the kernel's, on the wall clock
  src:stats().drops: copies lost because the ring was full]]

require("pktsh.host.repl").doc(Copies, help_source)

M.Copies = Copies
return M
