-- pktsh.repl - the Lua half of the REPL (src/repl.c is the other half):
-- the pretty printer, completion candidates, and help texts.
--
-- Other modules describe their objects here; requiring this module has no
-- side effects, so library code and worker states may do it freely:
--
--   local repl = require "pktsh.host.repl"
--   repl.doc(fn_or_table_or_metatable, "text")       -- help(x) shows text
--   repl.register(ctype, {name = "packet",           -- FFI cdata objects
--     fields = {"len", "caplen", ...},               -- completed after '.'
--     methods = methods_table_or_name_list,          -- completed after ':'
--     doc = "text"})
--
-- Tables with a metatable need nothing: completion reads their own keys,
-- the __index chain (while it is made of tables), and optional
-- `__fields` / `__methods` lists (or functions of the object returning one)
-- on the metatable.
local M = {}

local ffi = require "ffi"

local MAX_DEPTH = 4     -- nested tables deeper than this print as {...}
local MAX_ITEMS = 100   -- entries shown per table
local WIDTH = 78        -- a table that fits on one line stays on one line

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in
  local nil not or repeat return then true until while]]):gmatch("%a+") do
  keywords[w] = true
end

local function is_ident(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not keywords[s]
end

------------------------------------------------------------------------
-- types: what an object is and what it offers

local ctypes = {}                          -- normalised ctype name -> info
local docs = setmetatable({}, {__mode = "k"})  -- object -> text

-- "ctype<const struct pktsh_pkt *>" -> "struct pktsh_pkt": a packet, a
-- pointer to one and a reference to one share their description.
local function ctype_name(ct)
  local s = tostring(ct):match("^ctype<(.*)>$") or tostring(ct)
  s = s:gsub("^const ", ""):gsub("%s*[%*&]$", ""):gsub("%s+const$", "")
  return s
end

-- Describes FFI objects of type ct (a ctype or a C type name).
function M.register(ct, info)
  if type(ct) == "string" then ct = ffi.typeof(ct) end
  ctypes[ctype_name(ct)] = info
  if info.doc then docs[info] = info.doc end
end

-- Registers help text for a function, a table or a metatable.
function M.doc(obj, text)
  docs[obj] = text
  return obj
end

local function cdata_info(v)
  if type(v) ~= "cdata" then return nil end
  return ctypes[ctype_name(ffi.typeof(v))]
end

-- A list, or a function of the object returning one; anything else is {}.
local function list_of(x, obj)
  if type(x) == "function" then
    local ok, r = pcall(x, obj)
    x = ok and r or nil
  end
  return type(x) == "table" and x or {}
end

------------------------------------------------------------------------
-- members: names after '.' and ':'

-- Adds the identifier keys of table t; methods only wants functions.
local function add_keys(out, t, methods_only)
  for k, v in pairs(t) do
    if is_ident(k) and (not methods_only or type(v) == "function") then
      out[k] = true
    end
  end
end

local function add_list(out, t)
  for _, k in ipairs(t) do if is_ident(k) then out[k] = true end end
  -- a methods table rather than a list of names
  if #t == 0 then add_keys(out, t, false) end
end

-- Names an object offers: fields and methods (after '.'), or methods only.
local function members(v, methods_only)
  local out = {}
  if type(v) == "table" then add_keys(out, v, methods_only) end
  local info = cdata_info(v)
  if info then
    if not methods_only then add_list(out, list_of(info.fields, v)) end
    add_list(out, list_of(info.methods, v))
  end
  local mt = debug.getmetatable(v)
  if type(mt) == "table" and type(v) ~= "cdata" then
    if not methods_only then add_list(out, list_of(rawget(mt, "__fields"), v)) end
    add_list(out, list_of(rawget(mt, "__methods"), v))
    local idx, n = rawget(mt, "__index"), 0
    while type(idx) == "table" and n < 8 do  -- inheritance, bounded
      add_keys(out, idx, methods_only)
      local imt = debug.getmetatable(idx)
      idx, n = type(imt) == "table" and rawget(imt, "__index") or nil, n + 1
    end
  end
  return out
end

-- v[k] without running arbitrary code where avoidable; nil on error.
local function field(v, k)
  if type(v) == "table" then
    local x = rawget(v, k)
    if x ~= nil then return x end
  elseif type(v) ~= "cdata" and type(v) ~= "userdata" then
    return nil
  end
  local ok, x = pcall(function() return v[k] end)
  if ok then return x end
  return nil
end

------------------------------------------------------------------------
-- completion

-- Inside a string literal, the word is a file name (or nothing of ours).
local function in_string(line)
  local quote, i = nil, 1
  while i <= #line do
    local c = line:sub(i, i)
    if quote then
      if c == "\\" then i = i + 1 elseif c == quote then quote = nil end
    elseif c == '"' or c == "'" then
      quote = c
    elseif line:sub(i, i + 1) == "--" then
      return true                            -- a comment: nothing to complete
    end
    i = i + 1
  end
  return quote ~= nil
end

local function sorted_keys(set)
  local t = {}
  for k in pairs(set) do t[#t + 1] = k end
  table.sort(t)
  return t
end

-- Resolves "a.b.c" from the globals; nil if any step is missing.
local function resolve(path)
  local v = _G
  for name in path:gmatch("[^.]+") do
    v = field(v, name)
    if v == nil then return nil end
  end
  return v
end

-- Called by repl.c: line is the text before the cursor, word the text
-- being completed. Returns the words that may replace it, or nil to let
-- readline complete a file name.
function M.complete(line, word)
  if in_string(line) then return nil end
  local path, sep, part = word:match("^([%a_][%w_.]*)([.:])([%w_]*)$")
  local names
  if path then
    if path:find("%.%.") or path:sub(-1) == "." then return {} end
    local v = resolve(path)
    if v == nil then return {} end
    names = members(v, sep == ":")
  elseif word:match("^[%a_]?[%w_]*$") then
    path, sep, part = "", "", word
    names = members(_G, false)
    for k in pairs(keywords) do names[k] = true end
  else
    return {}
  end
  local out = {}
  local private = part:sub(1, 1) == "_"   -- _names only when asked for
  for _, name in ipairs(sorted_keys(names)) do
    if name:sub(1, #part) == part and (private or name:sub(1, 1) ~= "_") then
      out[#out + 1] = path .. sep .. name .. (sep == ":" and "(" or "")
    end
  end
  return out
end

------------------------------------------------------------------------
-- the pretty printer

local escapes = {["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r",
  ['"'] = '\\"', ["\\"] = "\\\\"}

local function quote(s)
  return '"' .. s:gsub('[%c"\\\128-\255]', function(c)
    return escapes[c] or ("\\%03d"):format(c:byte())
  end) .. '"'
end

local function number(n)
  if n == math.floor(n) and math.abs(n) < 2^53 then
    return ("%d"):format(n)
  end
  return tostring(n)
end

-- Values that say how they print: cdata (metatypes give packets their
-- __tostring) and tables or userdata whose metatable has __tostring.
local function self_printing(v)
  local t = type(v)
  if t == "cdata" then return true end
  if t ~= "table" and t ~= "userdata" then return false end
  local mt = debug.getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  return ok and tostring(s) or ("<tostring failed: " .. tostring(s) .. ">")
end

local function scalar(v)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" then return number(v) end
  return safe_tostring(v)
end

local type_order = {number = 1, string = 2, boolean = 3}

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_order[ta] or 9) < (type_order[tb] or 9) or
    ((type_order[ta] or 9) == (type_order[tb] or 9) and ta < tb) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local render

-- The entries of a table as "k = v" strings: the array part in order,
-- then the other keys sorted; at most MAX_ITEMS of them.
local function entries(t, depth, seen, indent)
  local items, n = {}, 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  local keys = {}
  for k in pairs(t) do
    if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, key_less)
  local total = n + #keys
  for i = 1, math.min(n, MAX_ITEMS) do
    items[#items + 1] = render(rawget(t, i), depth + 1, seen, indent)
  end
  for i = 1, math.min(#keys, MAX_ITEMS - #items) do
    local k = keys[i]
    local ks = is_ident(k) and k or ("[" .. scalar(k) .. "]")
    items[#items + 1] = ks .. " = " .. render(rawget(t, k), depth + 1, seen, indent)
  end
  if total > #items then
    items[#items + 1] = ("... (%d more)"):format(total - #items)
  end
  return items
end

-- One line when it fits, else one entry per line, indented.
local function layout(items, indent)
  if #items == 0 then return "{}" end
  local one = "{" .. table.concat(items, ", ") .. "}"
  if #one + #indent <= WIDTH and not one:find("\n") then return one end
  local pad = indent .. "  "
  local lines, cur, short = {}, nil, false
  for i, item in ipairs(items) do
    item = item .. (i < #items and "," or "")
    -- short entries share lines: long arrays of numbers stay readable
    local is_short = #item <= 16 and not item:find("\n")
    if cur and short and is_short and #pad + #cur + 1 + #item <= WIDTH then
      cur = cur .. " " .. item
    else
      lines[#lines + 1] = cur
      cur, short = item, is_short
    end
  end
  lines[#lines + 1] = cur
  return "{\n" .. pad .. table.concat(lines, "\n" .. pad) .. "\n" .. indent .. "}"
end

function render(v, depth, seen, indent)
  if type(v) ~= "table" or self_printing(v) then return scalar(v) end
  if seen[v] then return "<cycle: " .. safe_tostring(v):gsub("^table: ", "") .. ">" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true             -- only the ancestors: shared subtables print twice
  local items = entries(v, depth, seen, indent .. "  ")
  seen[v] = nil
  return layout(items, indent)
end

-- Bytes rather than text (pkt:raw(), pkt:bytes()): control bytes other
-- than tab and line ends.
local function binary(s)
  return s:find("[%z\1-\8\11\12\14-\31\127]") ~= nil
end

-- Bytes as the REPL shows them: their count and a hex dump.
local function hexdump(s)
  local bytes = {data = ffi.cast("const uint8_t *", s), caplen = #s}
  local text = require("pktsh.proto.decodetext").hex(bytes)
  return string.format("%d bytes:\n%s", #s, text)
end

-- The text of a value as the REPL shows it. A string on its own prints
-- raw, as lua.c's print() would; inside tables strings are quoted.
function M.show(v)
  if type(v) == "string" then return binary(v) and hexdump(v) or v end
  return render(v, 0, {}, "")
end

-- Called by repl.c with an evaluation's results.
function M.print_results(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = M.show((select(i, ...))) end
  io.stdout:write(table.concat(parts, "\t"), "\n")
  io.stdout:flush()
end

------------------------------------------------------------------------
-- help

local topics = {}

topics.overview = [[
pktsh - a Lua-scriptable packet inspection shell        help(x) describes x

Sources (one shape for every receiver; help"source"):
  src = pktsh.open(path)            a pcap/pcapng file ("-" = stdin); open() too
  src = open("eth0", {filter = "udp port 53", duration = 10})   live capture
  src:each(fn)  src:packets()  src:next([timeout])  src:stats()  src:close()
  opts: filter snaplen promisc direction immediate duration workers fanout

Packets (valid until their batch is released; pkt:copy() keeps one;
help"packet"):
  pkt.len pkt.caplen pkt.ts (ns) pkt:eth() pkt:ip() pkt:tcp() pkt:udp() ...
  pkt:summary() pkt:show() pkt:hex() pkt:raw() pkt:dns()

Charts (help(hist), help(by)):
  hist(src, by.len)  top(src, by.src)  rate(src)     drawn in place
  pktsh.hist / pktsh.topk / pktsh.rate objects: :add :render :json :csv :svg

XDP rules (root; help(pktsh.xdp)):
  fw = pktsh.xdp("eth0", {mode = "skb"})  fw:add{proto = "udp", dport = 53,
  action = "drop"}  fw:rules()  fw:stats()   open{xdp = "eth0", rules = ...}

DNS (help(pktsh.dns)):
  pkt:dns()  pktsh.dns.parse(s)  pktsh.dnsflow.new(...)  scripts/dnsstats.lua

Sending and building frames (help(pktsh.build)):
  s = pktsh.sender("eth0")  s:send(pktsh.build.udp4{src =, dst =, dport =,
  payload =})  build: eth udp4 udp6 tcp4 tcp6 icmp4_echo icmp6_echo ip4 ip6

Parallel workers (help(pktsh.parallel)):
  pktsh.parallel("eth0", {workers = 4}, M.work)   M.work(src) -> table;
  results merged; the script ends with return pktsh.main(M); pktsh -j N

Outputs:
  w = pcap_writer(path [, {linktype=, snaplen=, flush=}])  w:write(pkt)
  pktsh.json.encode(v)   x:csv()  x:svg(path)   print(pkt:summary())

Time: pktsh.now() pktsh.mono() pktsh.sleep(s) pktsh.stopping()

REPL:
  an expression prints its value (1+1 shows 2); `=expr` works too
  Tab completes globals, fields (pktsh.op<Tab>), methods (src:<Tab>) and
  file names inside strings; Ctrl-C clears the line or stops what runs
  (twice within 1 s exits); Ctrl-D exits; help"keys"
]]

topics.source = [[
a source: packets from a capture file, an interface or XDP rules
  src:next()      -> batch or nil at end      (lower level)
  src:each(fn)    -> calls fn(pkt) per packet until the end, Ctrl-C or fn returns false
  src:packets()   -> iterator: for pkt in src:packets() do ... end
  src:stats()     -> {packets=, bytes=, received=, filtered=, batches=, drops=}
  src:error()     -> the error that ended the input (torn file), or nil
  src:close()
  fields: name kind linktype snaplen filter format nsec]]

topics.packet = [[
a packet: a view of one captured frame, valid until its batch is released
  fields:   len (wire length) caplen data (const uint8_t*, read it below
            caplen only) ts (ns since the epoch, int64) tsrc ifindex linktype
  decoders: eth vlan ip4 ip6 ip tcp udp icmp icmp6 inner (pkt:udp() ... nil
            when the packet is too short or malformed)
  proto() ports() payload()   transport protocol; ports; payload offset, length
  u8(off) u16(off) u32(off) bytes(off, n)   checked reads, nil when short
  pkt:copy()      keeps the packet beyond its batch
  pkt:summary()   one line; tostring(pkt) too
  pkt:show()      layered tree and hex dump; pkt:hex() the hex dump]]

topics.keys = [[
REPL keys
  Tab        complete a global, a field after '.', a method after ':',
             a file name inside a string
  Ctrl-C     clear the line; while code runs: stop it (twice within 1 s: exit)
  Ctrl-D     exit (on an empty line)
  Up/Down    history (saved in ~/.pktsh_history, or $PKTSH_HISTORY)
  Ctrl-R     search the history]]

topics.pcap_writer = [[
pktsh.pcap_writer(path [, opts]) -> a pcap writer (nanosecond timestamps)
  path: a new file replaces what is there (never through a symbolic link);
        "-" is standard output; FIFOs and devices are written as they are
  opts: linktype (number or name: EN10MB, RAW, LINUX_SLL, ...; default
        EN10MB), snaplen (default 262144); or pass a source to copy both
  w:write(pkt)          appends a packet
  w:write(bytes, ts)    appends bytes with a timestamp in ns
  w:count()             packets written
  w:close()             flushes and closes (also on exit, Ctrl-C, SIGTERM)]]

topics["pktsh.open"] = [[
pktsh.open(spec [, opts]) -> source, or nil, err
  spec: a pcap or pcapng file ("-" reads standard input), an interface
        (live capture: root or CAP_NET_RAW), or {xdp = ifname, rules = ...}
  opts: filter (tcpdump syntax, run in C before Lua sees a packet),
        duration (seconds: capture time for files, the clock for
        interfaces), batch (files); live: snaplen promisc direction
        immediate tstamp block_size block_count workers fanout
  see help"source" for what a source does]]
topics.open = topics["pktsh.open"]

topics["pktsh.pcap_writer"] = topics.pcap_writer

-- Where v lives in the globals ("pktsh.open", "print"), at most two deep.
local function path_of(v)
  for k, x in pairs(_G) do
    if x == v and type(k) == "string" then return k end
  end
  for k, t in pairs(_G) do
    if type(t) == "table" and type(k) == "string" and t ~= _G then
      for k2, x in pairs(t) do
        if x == v and type(k2) == "string" then return k .. "." .. k2 end
      end
    end
  end
  return nil
end

local source_methods = {"next", "each", "packets", "stats", "close"}

local function looks_like_source(v)
  local m = members(v, true)
  for _, name in ipairs(source_methods) do
    if not m[name] then return false end
  end
  return true
end

local function names_line(title, set)
  local names = sorted_keys(set)
  if #names == 0 then return nil end
  return "  " .. title .. ": " .. table.concat(names, " ")
end

-- What we can say about an object nobody documented.
local function generic(v)
  local s = safe_tostring(v)
  local lines = {s:find("^" .. type(v)) and s or (type(v) .. ": " .. s)}
  if type(v) == "function" then
    local info = debug.getinfo(v, "S")
    lines[#lines + 1] = "  defined at " .. (info.what == "C" and "[C]" or
      (info.short_src .. ":" .. info.linedefined))
  else
    local methods, fields = members(v, true), members(v, false)
    for k in pairs(methods) do fields[k] = nil end
    lines[#lines + 1] = names_line("fields", fields)
    lines[#lines + 1] = names_line("methods", methods)
  end
  return table.concat(lines, "\n")
end

-- A library function's signature and the comment above its definition
-- (pktsh.docs, generated from the sources by lua/gendocs.lua), or nil.
local function generated(fn)
  local ok, gen = pcall(require, "pktsh.docs")
  if not ok then return nil end
  local info = debug.getinfo(fn, "S")
  local file = info.source:match("(pktsh/.*)$")
  local text = file and gen[file .. ":" .. info.linedefined]
  if text then return text end
  -- a function made by another (a closure): by its name in a module
  for k, m in pairs(pktsh) do
    if type(m) == "table" then
      for k2, x in pairs(m) do
        if x == fn and type(k2) == "string" and gen["pktsh." .. k .. "." .. k2] then
          return gen["pktsh." .. k .. "." .. k2]
        end
      end
    end
  end
end

-- The help text for v: registered docs, then built-in topics by name.
function M.describe(v)
  if v == nil then return topics.overview end
  if type(v) == "string" then
    return topics[v] or docs[v] or ("no help for " .. quote(v) .. "; try help()")
  end
  if docs[v] then return docs[v] end
  local info = cdata_info(v)
  if info then return info.doc or topics[info.name or ""] or generic(v) end
  local mt = debug.getmetatable(v)
  if type(v) ~= "cdata" and mt and docs[mt] then return docs[mt] end
  local path = path_of(v)
  if path and topics[path] then return topics[path] end
  if type(v) == "function" then
    local text = generated(v)
    if text then return text end
  end
  if type(v) ~= "function" and looks_like_source(v) then return topics.source end
  local text = generic(v)
  return path and (path .. " - " .. text) or text
end

-- Prints what help knows about v: the overview without v; a topic by
-- name (help"source"); a function's signature and description.
function M.help(v)
  local text = M.describe(v)
  io.stdout:write(text, text:sub(-1) == "\n" and "" or "\n")
  io.stdout:flush()
end

-- Packets are cdata: their methods are only found through a registration.
M.register("struct pktsh_pkt", {
  name = "packet",
  fields = {"len", "caplen", "data", "ts", "tsrc", "ifindex", "linktype"},
  methods = require("pktsh.proto.packet").methods,
})

-- Called once by repl.c; help() is a global unless the library made one.
function M.start(g)
  if rawget(g, "help") == nil then rawset(g, "help", M.help) end
end

return M
