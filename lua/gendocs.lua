-- gendocs.lua FILE... - the help texts of the library's functions, read
-- from its sources at build time (the library is compiled in as bytecode,
-- without its comments): the module pktsh.docs, a table from
-- "pktsh/path.lua:LINE" (where a function is defined, as debug.getinfo
-- gives it) to "signature\n  the comment above it". help(fn) shows that,
-- so every public function documents itself where it is written.
--   luajit lua/gendocs.lua lua/pktsh/**/*.lua > build/gen/pktsh_docs.lua

-- Module name from the path: lua/pktsh/a/b.lua -> pktsh.a.b,
-- lua/pktsh/a/init.lua -> pktsh.a.
local function module_of(path)
  local m = path:match("(pktsh/.-)%.lua$"):gsub("/init$", ""):gsub("/", ".")
  return m
end

-- The short names users type for modules (pktsh.hist for
-- pktsh.report.hist): the `lazy` table of lua/pktsh/init.lua.
local function short_names(init_text)
  local short = {}
  for line in init_text:gmatch("[^\n]+") do
    if line:match("^local lazy = {") then
      for k, m in line:gmatch("([%w_]+) = \"(pktsh[%w_.]*)\"") do short[m] = "pktsh." .. k end
    elseif line:match("^lazy%.") then
      local lhs, rhs = line:match("^(.-)=(.*)$")
      local names, mods = {}, {}
      for k in lhs:gmatch("lazy%.([%w_]+)") do names[#names + 1] = k end
      for m in rhs:gmatch("\"(pktsh[%w_.]*)\"") do mods[#mods + 1] = m end
      for i, k in ipairs(names) do if mods[i] then short[mods[i]] = "pktsh." .. k end end
    end
  end
  return short
end

-- The comment block right above line i (separator lines of dashes end
-- it); one-line definitions in between (a group under one comment, such
-- as pktsh.jobs and pktsh.worker) are skipped.
local function comment_above(lines, i)
  local out = {}
  local j = i - 1
  for _ = 1, 3 do
    if j >= 1 and (lines[j]:match("^function .* end$") or lines[j]:match("^local function .* end$")
                   or lines[j]:match("^local [%w_, ]+ = ") or lines[j]:match("^local [%w_, ]+$")) then
      j = j - 1
    end
  end
  while j >= 1 do
    local c = lines[j]:match("^%s*%-%-(.*)$")
    if not c or c:match("^%-+%s*$") then break end
    table.insert(out, 1, "  " .. c:gsub("^ ", ""))
    j = j - 1
  end
  return out
end

-- The module's opening comment (its synopsis).
local function header_of(lines)
  local out = {}
  for _, line in ipairs(lines) do
    local c = line:match("^%-%-(.*)$")
    if not c then break end
    out[#out + 1] = c
  end
  return out
end

-- For a function with no comment of its own: the synopsis lines naming
-- it (".name(" or ":name{"...), each with the lines that continue it
-- (indented deeper than where the call begins).
local function from_header(header, name)
  local out = {}
  local i = 1
  while i <= #header do
    local at = header[i]:find("[.:]" .. name .. "[%s({\"]") or header[i]:find("[.:]" .. name .. "$")
    if at then
      out[#out + 1] = "  " .. header[i]:gsub("^%s+", "")
      local indent = #header[i]:match("^%s*")
      i = i + 1
      while i <= #header and #header[i]:match("^%s*") > indent + 2 and header[i]:match("%S") do
        out[#out + 1] = "    " .. header[i]:gsub("^%s+", "")
        i = i + 1
      end
    else
      i = i + 1
    end
  end
  return out
end

-- The name a user calls a function by: M.x in a module is MODULE.x,
-- T:x (a class table) is t:x.
local function public_name(owner, sep, name, module, short)
  if owner == "P" and module == "pktsh.proto.packet" then return "pkt:" .. name end
  if owner == "M" or owner == "pktsh" then
    local m = owner == "pktsh" and "pktsh" or (short[module] or module)
    return m .. "." .. name
  end
  return owner:sub(1, 1):lower() .. owner:sub(2) .. sep .. name
end

-- Public names given to local functions: `M.x = f`, `M.a, M.b = a, b`
-- (line numbers of the assignments are not where the functions are).
local function aliases(lines)
  local map = {}
  for _, line in ipairs(lines) do
    local lhs, rhs = line:match("^(M%.[%w_.,%s M]-)%s*=%s*([%a_][%w_,%s]*)$")
    if lhs then
      local names, values = {}, {}
      for k in lhs:gmatch("M%.([%w_]+)") do names[#names + 1] = k end
      for v in rhs:gmatch("[%a_][%w_]*") do values[#values + 1] = v end
      for i, k in ipairs(names) do if values[i] then map[values[i]] = map[values[i]] or k end end
    end
  end
  return map
end

local function scan(path, text, short, out)
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local module = module_of(path)
  local key_base = path:match("(pktsh/.*)$")
  local header = header_of(lines)
  local alias = aliases(lines)
  for i, line in ipairs(lines) do
    local owner, sep, name, args = line:match("^function ([%a_][%w_]*)([.:])([%a_][%w_]*)%s*%((.-)%)")
    if not owner then
      owner, sep, name, args = line:match("^([%a_][%w_]*)(%.)([%a_][%w_]*)%s*=%s*function%s*%((.-)%)")
    end
    if not owner then
      local lname, largs = line:match("^local function ([%a_][%w_]*)%s*%((.-)%)")
      if lname and alias[lname] then owner, sep, name, args = "M", ".", alias[lname], largs end
    end
    local made, maker, margs = line:match("^M%.([%a_][%w_]*)%s*=%s*([%a_][%w_.]*)%((.*)%)%s*$")
    if made then
      -- a function made by a call (namer(...), with_source(...)): keyed by
      -- its public name, described by the comment above the line or
      -- above the maker
      local text_lines = comment_above(lines, i)
      if #text_lines == 0 then
        for j, l in ipairs(lines) do
          if l:match("^local function " .. maker .. "%(") then text_lines = comment_above(lines, j) end
        end
      end
      if #text_lines > 0 then
        local pub = (short[module] or module) .. "." .. made
        table.insert(text_lines, 1, pub .. "(...)  (made by " .. maker .. "(" .. margs .. "))")
        out[#out + 1] = string.format("[%q] = %q,", pub, table.concat(text_lines, "\n"))
      end
    end
    if owner and name:sub(1, 1) ~= "_" then
      local text_lines = comment_above(lines, i)
      if #text_lines == 0 then text_lines = from_header(header, name) end
      if #text_lines == 0 and name == "selftest" then
        text_lines = {"  runs the module's own tests (make test runs them all); raises on a failure"}
      end
      local pub = public_name(owner, sep, name, module, short)
      if pub:sub(1, 4) == "pkt:" then args = args:gsub("^p,? ?", "") end
      table.insert(text_lines, 1, pub .. "(" .. args .. ")")
      out[#out + 1] = string.format("[%q] = %q,", key_base .. ":" .. i, table.concat(text_lines, "\n"))
    end
  end
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local short = {}
for _, path in ipairs(arg) do
  if path:match("pktsh/init%.lua$") then short = short_names(slurp(path)) end
end
local out = {"-- generated by lua/gendocs.lua from the library's sources: do not edit", "return {"}
for _, path in ipairs(arg) do scan(path, slurp(path), short, out) end
out[#out + 1] = "}"
io.write(table.concat(out, "\n"), "\n")
