-- manifest.lua - the captures in tests/pcaps/MANIFEST.tsv, for tests that
-- compare pktsh with tcpdump or tshark on every capture:
--
--   local manifest = require "manifest"
--   for _, file in ipairs(manifest.captures()) do ... end    -- readable ones
--   manifest.captures(function(row) return row.tags:find("dns") end)
--
--   manifest.oracle("oracle/x.dns.tsv")   -- tshark's rows by frame number
--   manifest.split("a,b", ",")               -- {"a", "b"}; "" gives {}
--
-- A row is a table keyed by the header's column names. captures() leaves
-- out the files marked FILE-LEVEL malformed (no reader opens them) unless
-- a predicate decides; names come sorted.
local M = {}

M.DIR = "tests/pcaps/"

-- The fields of s between the separators sep (a plain character).
function M.split(s, sep)
  local t = {}
  if s == nil or s == "" then return t end
  for x in (s .. sep):gmatch("(.-)" .. sep) do t[#t + 1] = x end
  return t
end

-- The rows of the TSV file at path (below DIR), each a table keyed by the
-- header's column names ("" for a missing field), in the file's order.
-- (The rows this reads come from tshark and tests/pcaps/gen/oracle.sh.)
local function tsv(path)
  local rows, names = {}, nil
  for line in io.lines(M.DIR .. path) do
    local cols = M.split(line, "\t")
    if line == "" then                    -- a blank line is no row
    elseif not names then
      names = cols
    else
      local row = {}
      for i, name in ipairs(names) do row[name] = cols[i] or "" end
      rows[#rows + 1] = row
    end
  end
  return rows
end

function M.rows() return tsv("MANIFEST.tsv") end

-- An oracle TSV made by tshark (tests/pcaps/oracle/, its column
-- frame.number first): the rows by frame number.
function M.oracle(path)
  local rows = {}
  for _, r in ipairs(tsv(path)) do rows[tonumber(r["frame.number"])] = r end
  return rows
end

local function readable(row) return not row.malformed:find("FILE%-LEVEL") end

function M.captures(pred)
  local t = {}
  for _, row in ipairs(M.rows()) do
    if (pred or readable)(row) then t[#t + 1] = row.file end
  end
  table.sort(t)
  return t
end

return M
