-- test_fields.lua - `dump.lua -T fields` against `tshark -T fields`: every
-- field pktsh knows, on every capture in tests/pcaps, must print what
-- tshark prints, column for column, except where NOT_COMPARED says why.
local T = require "t"
local pktsh = require "pktsh"
local fields = require "pktsh.proto.fields"

local DIR = "tests/pcaps/"

-- Fields whose values differ on a capture, and why (prefix match).
local NOT_COMPARED = {
  -- an IPv4 total length of 0 (TSO): tshark shows the length it computed
  ["gen__dns-offload.pcap"] = {"ip.len", "dns."},
  ["tcpdump__bigtcp-ipv4.pcap"] = {"ip.len"}, ["tcpdump__ipv4_tcp_http_xml_tso.pcap"] = {"ip.len"},
  -- TCP gaps and a mid-flow start: tshark's relative numbers and its
  -- reassembly differ from a per-packet reading (dnsflow resynchronises)
  ["gen__dns-tcp-gap.pcap"] = {"tcp."}, ["gen__dns-tcp-midflow.pcap"] = {"tcp.", "dns."},
  -- segments cut by the snaplen: tshark's relative numbers, and the DNS
  -- fields of every message it could dissect in a segment (or of bytes
  -- inside a message, read as one)
  ["gen__dns-tcp-snaplen.pcap"] = {"tcp.", "dns."},
  ["gen__dns-tcp-snaplen-span.pcap"] = {"tcp.", "dns."},
  -- a cut message: tshark shows the fields of what it could dissect
  ["gen__dns-truncated-ip.pcap"] = {"dns."}, ["gen__dns-short.pcap"] = {"dns."},
  -- tshark reassembles IP fragments: the UDP fields are on the fragment
  -- that completes the datagram; pktsh's are the first fragment's (its
  -- DNS fields are the datagram's, on the last: pktsh.dnsflow rebuilds it)
  ["dnscap__frags.pcap"] = {"udp."},
  ["pcap-thread__v4_frag_order_udp.pcap"] = {"udp."},
  ["zeek__ipv4-fragmented-1.pcap"] = {"udp."},
  ["zeek__ipv6-fragmented-dns.pcap"] = {"udp."},
  ["ndpi__dns_fragmented.pcap"] = {"udp.", "dns.resp.type"},
  -- (and a cut first IPv4 fragment, whose DNS tshark shows as far as
  -- it goes)
  ["gen__dns-cut-fragments.pcap"] = {"udp.", "dns."},
  -- (and ICMP on the wrong IP version, which tshark decodes and pktsh's
  -- pkt:icmp() and pkt:icmp6() refuse, as tcpdump does)
  ["gen__udp-apps.pcap"] = {"udp.", "tcp.", "icmp"},
  -- the merged file this test reads holds dnscap's other TCP captures,
  -- whose segments share this flow's addresses and ports: tshark's
  -- reassembly joins them (alone, the capture's DNS fields are equal)
  ["dnscap__dnsotcp-manyopkts.pcap"] = {"dns."},
  -- tshark adds the types of an NSEC record's bitmap to dns.resp.type
  ["dnscap__sll2.pcap"] = {"dns.resp.type"},
  ["zeek__dns-sshfp-trunc.pcap"] = {"dns.resp.type"},
  -- headers pktsh's decoders refuse (IHL 4; a UDP header cut by the
  -- capture; IPv4 and IPv6 headers cut by the capture) that tshark shows
  -- in part
  ["tcpdump__ipv4_invalid_hdr_length.pcap"] = {"ip.hdr_len"},
  ["tcpdump__udp-length-heapoverflow.pcap"] = {"udp."},
  ["zeek__trunc-ip4-trunc.pcap"] = {"ip."},
  ["zeek__trunc-ip6-trunc.pcap"] = {"ipv6."},
  ["zeek__trunc-mpls-6in6-6in6-4in6-trunc.pcap"] = {"ip."},
  -- a TCP data offset under 5 words: tshark shows its ports, pktsh's
  -- decoders refuse the header
  ["gen__tcp-options.pcap"] = {"tcp."},
  -- port 8053: tshark decodes it as DNS in the merged file this test
  -- reads (not in the capture alone); pktsh's DNS ports are 53, 5353, 5355
  ["tcpdump__dns_udp_8053.pcap"] = {"dns."},
  ["tcpdump__dns_tcp_8053.pcap"] = {"dns."},
  -- fuzzed names: tshark prints a placeholder ("<Name too long>", "<Name
  -- contains a pointer that loops>") and goes on where pktsh.dns refuses
  -- the message at the bad name (the header fields still compare)
  ["tcpdump__dns-badlabel.pcap"] = {"dns.qry", "dns.resp"},
  ["tcpdump__dns_fwdptr.pcap"] = {"dns.qry", "dns.resp"},
  ["ndpi__malformed_dns.pcap"] = {"dns.qry", "dns.resp", "dns.a", "dns.cname"},
  ["zeek__dns-dns-invalid-names.pcap"] = {"dns.qry"},
  -- records that do not fit the message (and a pointer loop's
  -- placeholder): tshark lists the records before the one it throws on,
  -- pktsh.dns refuses the message there (the header and question compare)
  ["gen__dns-bad-records.pcap"] = {"dns.resp", "dns.a"},
  -- an OPT record whose option lengths overrun it: tshark lists the record,
  -- pktsh.dns stops at it (malformed)
  ["zeek__dns-dns-edns-bad-length.pcap"] = {"dns.resp"},
  -- GRE in UDP (RFC 8086, udp/4754) is not one of the encapsulations the
  -- walker knows (issue 12's list; tcpdump does not decode it either)
  ["zeek__gre-over-udp-4754.pcap"] = {"ip.", "udp.", "tcp.", "dns."},
}

-- Frames carrying an ICMP error: tshark dissects the datagram it quotes
-- as further layers (a second ip.src, the quoted ports and DNS); pktsh's
-- fields stop at the ICMP header (pkt:inner() gives the quoted one).
local QUOTED = {"ip.", "ipv6.", "udp.", "tcp.", "dns."}

local function have(tool) return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == 0 end

local function skipped(file, name, quoted)
  for _, prefix in ipairs(NOT_COMPARED[file] or {}) do
    if name:sub(1, #prefix) == prefix then return true end
  end
  if quoted then
    for _, prefix in ipairs(QUOTED) do
      if name:sub(1, #prefix) == prefix then return true end
    end
  end
  return false
end

local captures = require("manifest").captures

local function split(line, sep)
  local t = {}
  for v in (line .. sep):gmatch("([^" .. sep .. "]*)" .. sep) do t[#t + 1] = v end
  return t
end

local names = {}
for i, f in ipairs(fields.list()) do names[i] = f.name end

local function tshark_rows(path)
  local args = {}
  for _, n in ipairs(names) do args[#args + 1] = "-e " .. n end
  local f = io.popen("tshark -r '" .. path .. "' -T fields " .. table.concat(args, " ") .. " 2>/dev/null")
  local rows = {}
  for line in f:lines() do rows[#rows + 1] = split(line, "\t") end
  f:close()
  return rows
end

-- Our rows of every capture, in order, from one extractor (as tshark
-- reads them merged into one file: frame numbers and times run on).
local function our_rows(files)
  local ex = assert(fields.extractor(names))
  local rows = {}
  for _, file in ipairs(files) do
    local src = assert(pktsh.open(DIR .. file))
    local t = {}
    for p in src:packets() do
      local row = split(fields.format(ex:values(p), {}, #names), "\t")
      row.quoted = p:inner() ~= nil
      t[#t + 1] = row
    end
    src:close()
    rows[file] = t
  end
  return rows
end

local function short(s)
  s = tostring(s)
  return #s > 120 and (s:sub(1, 120) .. "...") or s
end

if have("tshark") and have("mergecap") then
  -- One tshark run over all captures merged (tshark starts slowly).
  local files = captures()
  local merged = os.tmpname()
  local paths = {}
  for i, f in ipairs(files) do paths[i] = "'" .. DIR .. f .. "'" end
  assert(os.execute("mergecap -a -F pcapng -w " .. merged .. " " .. table.concat(paths, " ")) == 0)
  local theirs, ours = tshark_rows(merged), our_rows(files)
  os.remove(merged)
  local at = 0
  for _, file in ipairs(files) do
    local rows = ours[file]
    T.test(file .. ": every field as tshark prints it", function()
      for i, row in ipairs(rows) do
        local want = theirs[at + i] or {}
        for j, name in ipairs(names) do
          if not skipped(file, name, row.quoted) and row[j] ~= want[j] then
            error(string.format("packet %d %s: got %s, want %s", i, name, short(row[j]), short(want[j])))
          end
        end
      end
    end)
    at = at + #rows
  end
  T.test("tshark and pktsh read as many packets", function() T.eq(at, #theirs, "rows") end)
else
  T.skip("fields against tshark", "tshark or mergecap is not installed")
end

T.test("-E options: separator, quote, occurrence, aggregator", function()
  local v = {"a", {"b", "c"}, nil, "d"}
  T.eq(fields.format(v, {}, 4), "a\tb,c\t\td", "defaults")
  T.eq(fields.format(v, {separator = ",", quote = "d"}, 4), '"a","b,c",,"d"', "quote")
  T.eq(fields.format(v, {occurrence = "f"}, 4), "a\tb\t\td", "first")
  T.eq(fields.format(v, {occurrence = "l"}, 4), "a\tc\t\td", "last")
  T.eq(fields.format(v, {aggregator = " "}, 4), "a\tb c\t\td", "aggregator")
  local o = {}
  T.ok(fields.option("separator=/s", o) and o.separator == " ", "/s")
  T.ok(fields.option("header=y", o) and o.header == true, "header")
  T.eq(select(2, fields.option("quote=x", o)), "quote must be d, s or n", "bad quote")
  T.eq(select(2, fields.option("colour=red", o)),
       "unknown option 'colour' (header, separator, occurrence, aggregator, quote)", "bad option")
end)

T.test("an unknown field is named", function()
  local ex, err = fields.extractor{"ip.src", "ip.nope"}
  T.eq(ex, nil, "extractor")
  T.eq(err, "unknown field 'ip.nope' (dump.lua --fields lists them)", "error")
end)

T.test("the list covers what the issue names", function()
  local set = {}
  for _, n in ipairs(names) do set[n] = true end
  for _, n in ipairs{"ip.src", "ip.dst", "ipv6.src", "udp.srcport", "tcp.dstport", "frame.len",
                     "frame.time_epoch", "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.id"} do
    T.ok(set[n], n)
  end
end)

T.done()
