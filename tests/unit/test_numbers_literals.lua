-- The numbers C, the BPF program and Lua share are enums in src/pktsh.h
-- (and bpf/xdp_rules.h), used by name on every side: this lint fails
-- where library code spells one of them out again. It reads lua/pktsh,
-- scripts, src and bpf as text, without comments and Lua long strings
-- (help texts), lower-cased, and looks for each family's tell-tale
-- shapes: a comparison, an assignment or a name table with a bare
-- number where a name belongs. The definitions themselves (pktsh.h,
-- xdp_rules.h, src/contract.c which ties them to the system's, and
-- pktsh.proto.numbers) are not read. Every shape is first checked
-- against a line it must catch (taken from the code before the names),
-- so a shape that rots fails here too.
local T = require "t"

-- family -> {shapes (Lua patterns over lower-cased code), lines they must catch}
local families = {
  {"ethertypes (enum pktsh_ethertype)",
   {"0x0800%f[^%w]", "0x0806%f[^%w]", "0x86dd%f[^%w]", "0x8100%f[^%w]", "0x88a8%f[^%w]",
    "0x9100%f[^%w]"},
   {"if (et == 0x0800) {", "local ipver = p.ethertype == 0x0800 and 4 or 6",
    "return t == bpf_htons(0x8100) || t == bpf_htons(0x88a8) ||", "t == bpf_htons(0x9100);",
    "elseif et == 0x86dd then s = ip6_text(p)", "elseif et == 0x0806 then"}},
  {"link types (enum pktsh_dlt)",
   {"linktype%s*[=~!]=%s*%d", "%f[%w_]lt%s*[=~!]=%s*%d", "linktype%s*=%s*%d", "linktype or %d",
    "en10mb%s*=%s*%d", "linux_sll2?%s*=%s*%d", "%[%d+%]%s*=%s*\"ether\"", "%[%d+%]%s*=%s*\"sll",
    "%[%d+%]%s*=%s*\"raw\"", "%f[%w_]lt%s*=[^=].-and%s+%d+%s+or%s+%d"},
   {"if (p->linktype != 1)", "elseif lt == 12 or lt == 101 or lt == 14 then",
    "linktype = 1, snaplen = info.copy_max,",
    "return make(s, #s, wirelen or #s, linktype or 1, ts or 0, 0, 0, nil)",
    "NULL = 0, EN10MB = 1, RAW = 12, LOOP = 108, LINUX_SLL = 113,",
    "local link_names = {[0] = \"NULL\", [1] = \"ether\", [12] = \"raw\",",
    "local lt = p.ethertype == ETH_IP4 and 228 or 229"}},
  {"IP protocols (enum pktsh_ipproto)",
   {"%f[%w_]proto%s*[=~!]=%s*%d", "l4proto%s*[=~!]=%s*%d", "%f[%w_]nh%s*[=~!]=%s*%d",
    "nexthdr%s*[=~!]=%s*%d", "%f[%w_]l4%(p,%s*%d", "ip_frame%([^,]*,[^,]*,%s*%d",
    "%[%d+%]%s*=%s*\"icmp", "%[%d+%]%s*=%s*\"tcp\"", "%[%d+%]%s*=%s*\"udp\"",
    "%[%d+%]%s*=%s*\"hbh\"", "%[%d+%]%s*=%s*\"%[|hbhopt", "%[%d+%]%s*=%s*\"ipv6 ",
    "%f[%w_]tcp%s*=%s*[1-9]", "%f[%w_]udp%s*=%s*[1-9]", "%f[%w_]icmpv?6?%s*=%s*[1-9]",
    "%f[%w_]sctp%s*=%s*[1-9]", "%[%d+%]%s*=%s*true,%s*%[%d+%]%s*=%s*true,%s*%[132%]"},
   {"if (proto != 17 && proto != 6)", "if r.family == 4 and r.proto == 58 then",
    "if p.l4proto == 6 then", "elseif nh == 44 then", "local off = l4(p, 6, 20)",
    "return ip_frame(o, v6, 17, seg, 6, true)", "local proto_names = {[1] = \"ICMP\",",
    "local ext6_names = {[0] = \"HBH\", [43] = \"RT\",", "local ext6_trunc = {[0] = \"[|hbhopt]\",",
    "M.protocols = {icmp = 1, igmp = 2, ipip = 4, tcp = 6, udp = 17, ipv6 = 41,",
    "local PORT_PROTOS = {[6] = true, [17] = true, [132] = true, [136] = true}",
    "local PROTO_NAMES = {[1] = \"icmp\", [2] = \"igmp\", [6] = \"tcp\","}},
  {"decode states (enum pktsh_pkt_state)",
   {"l[23]state%s*[=~!]=%s*%d", "l[23]state%s*=%s*%d", "l3state,[^=]*=%s*%d"},
   {"if p.l3state ~= 1 then return 0 end", "w.l2state = 2",
    "w.l3state, w.l4off, w.fragment, w.l4proto, w.l3end = 2, 0, 0, 0, 0"}},
  {"fragments (enum pktsh_frag)",
   {"fragment%s*[=~!]=%s*%d", "fragment%s*=%s*%d", "fragment%s*=.*%f[%w]and%s+%d"},
   {"if p.fragment ~= 0 then", "w.fragment = 2",
    "w.fragment = band(fo, 0x2000) ~= 0 and 1 or 0"}},
  {"timestamp sources (enum pktsh_tsrc)",
   {"tsrc%s*[=~!]=%s*%d", "tsrc%s*=%s*%d", "\"file\",%s*\"sw\""},
   {"({[0] = \"file\", \"sw\", \"hw\", \"xdp\"})[p.tsrc]", "p->tsrc = 0;"}},
  {"VLAN id mask (PKTSH_VLAN_ID_MASK)",
   {"%f[%w]0x0?fff%f[^%w]", "%f[%d]4095%f[%D]"},
   {"local id = band(bor(lshift(d[off], 8), d[off + 1]), 0x0fff)",
    "r->vlan = (uint16_t)(in->vlan & 0xfff);", "or v < 0 or v > 4095 then"}},
  {"default snaplen (PKTSH_SNAPLEN_DEFAULT)",
   {"%f[%d]262144%f[%D]"},
   {"#define DEFAULT_SNAPLEN 262144", "local snaplen = opts.snaplen or 262144"}},
  {"XDP rule flags (enum pktsh_xdp_rule_flags, xr_flags)",
   {"bor%(r%.flags,%s*%d", "bor%(r%.flags,.-and %d+ or %d", "flags%s*&%s*0x%x%x?%f[^%w]",
    "xr_f_%w+,%s*%d"},
   {"r.flags = bit.bor(r.flags, 16)", "r.flags = bit.bor(r.flags, i == 1 and 4 or 8)",
    "r->flags = in->flags & 0x3f;", "{ XR_F_SPORT, 65536, XR_PORT_VALUES, 1, XR_DIM_SPORT },"}},
  {"XDP sentinels and actions (PKTSH_XDP_NO_RULE, _COPY_WHOLE, enum pktsh_xdp_action)",
   {"no_rule%s*=%s*%d", "copy_whole%s*=%s*%d", "rule_id%s*[=~!]=%s*%d",
    "%[%d%]%s*=%s*\"pass\"", "%[%d%]%s*=%s*\"drop\"", "verdict%s*=%s*%d", "_v%s+%d$",
    "wakeup_every%s*=%s*%d", "default_wakeup%s+%d"},
   {"local NO_RULE = 0xffffffff", "M.COPY_WHOLE = 0xffffffff",
    "local xdp_actions = {[0] = \"aborted\", [1] = \"drop\", [2] = \"pass\",",
    "#define XDP_PASS_V 2", "const volatile __u32 wakeup_every = 4096;",
    "#define DEFAULT_WAKEUP 4096"}},
  {"the DNS scan (enum pktsh_dns_ports, kinds, slots)",
   {"%->stop%s*=%s*%d", "why%s*[=~]=%s*%d", "scan%.stop%s*[=~]=%s*%d", "used%s*%+%s*256",
    "arena%s*%-%s*256", "%[8192%]", "kind%s*[=~!]?=%s*%d", "[qr]slot%s*[=~!]?=%s*%d",
    "qtype%s*>=?%s*512"},
   {"s->stop = 2;", "if why == 1 then drain()", "if (s->nmsgs >= s->cap || s->used + 256 > s->arena_cap) {",
    "if scan.nmsgs >= QUEUE or scan.used > ARENA - 256 then drain() end",
    "local portmap = ffi.new(\"uint8_t[8192]\")", "m->kind = 1;", "m->qslot = 513;"}},
}

-- The definitions, and the code that ties them to the system's.
local skip = {["src/pktsh.h"] = true, ["bpf/xdp_rules.h"] = true, ["src/contract.c"] = true,
              ["lua/pktsh/proto/numbers.lua"] = true}

local function files()
  local out = {}
  local p = io.popen("find lua/pktsh scripts -name '*.lua'; " ..
                     "find src bpf -name '*.c' -o -name '*.h'")
  for f in p:lines() do
    if not skip[f] then out[#out + 1] = f end
  end
  p:close()
  table.sort(out)
  return out
end

-- The code of a file, comments (and Lua long strings) blanked out so
-- that line numbers stay.
local function code_of(path, text)
  local function blank(s) return (s:gsub("[^\n]", " ")) end
  if path:match("%.lua$") then
    -- the whole match is the first capture: blank() gets it, not the ='s
    text = text:gsub("(%-%-%[(=*)%[.-%]%2%])", blank)
    text = text:gsub("(%[(=*)%[.-%]%2%])", blank)
    text = text:gsub("%-%-[^\n]*", "")
  else
    text = text:gsub("/%*.-%*/", blank)
    text = text:gsub("//[^\n]*", "")
  end
  return text:lower()
end

local function hits(line, shapes)
  for _, s in ipairs(shapes) do
    if line:find(s) then return s end
  end
end

T.test("every shape catches the line it was made for", function()
  for _, fam in ipairs(families) do
    for _, bad in ipairs(fam[3]) do
      T.ok(hits(code_of("x.c", bad), fam[2]), fam[1] .. ": not caught: " .. bad)
    end
  end
end)

T.test("comments and long strings go, their lines stay", function()
  local text = "a = 1\n--[==[ 0x0800\n]==] x = [[\n0x86dd]]\nif et == 0x0800 then -- 0x0806\n"
  local code = code_of("x.lua", text)
  T.eq(select(2, code:gsub("\n", "")), 5)
  T.ok(not code:find("0x86dd") and not code:find("0x0806"), code)
  T.eq(select(2, code:gsub("0x0800", "")), 1)
  T.ok(code:match("([^\n]*)\n$"):find("0x0800"), code)
end)

T.test("code that uses the names passes", function()
  for _, good in ipairs{
    "if (p->linktype != PKTSH_DLT_EN10MB)", "if p.l3state ~= OK then return 0 end",
    "w.fragment = band(fo, 0x2000) ~= 0 and FRAG_FIRST or FRAG_NONE",
    "meta.ts, meta.fragmented = ts, false", "local c = {udp = 0, tcp = 0, fragmented = 0}",
    "if band(fo, 0xfff8) ~= 0 then", "s->stop = PKTSH_DNS_SCAN_END;",
    "if r.family == 4 and r.proto == IP.ICMPV6 then"} do
    for _, fam in ipairs(families) do
      T.ok(not hits(code_of("x.lua", good), fam[2]), fam[1] .. ": caught: " .. good)
    end
  end
end)

local list = files()
T.test("library files found", function() T.ok(#list > 40, "only " .. #list .. " files") end)

local found = {}
for _, path in ipairs(list) do
  local n = 0
  for line in (code_of(path, assert(T.slurp(path))) .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    for i, fam in ipairs(families) do
      if hits(line, fam[2]) then
        found[i] = found[i] or {}
        table.insert(found[i], string.format("%s:%d: %s", path, n, line:match("^%s*(.-)%s*$")))
      end
    end
  end
end

for i, fam in ipairs(families) do
  T.test("no bare " .. fam[1] .. " in " .. #list .. " files", function()
    if found[i] then error("spelt out:\n  " .. table.concat(found[i], "\n  ")) end
  end)
end

T.done()
