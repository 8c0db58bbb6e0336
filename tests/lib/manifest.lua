-- manifest.lua - the captures in tests/pcaps/MANIFEST.tsv, for tests that
-- compare pktsh with tcpdump or tshark on every capture:
--
--   local manifest = require "manifest"
--   for _, file in ipairs(manifest.captures()) do ... end    -- readable ones
--   manifest.captures(function(row) return row.tags:find("dns") end)
--
-- A row is a table keyed by the header's column names. captures() leaves
-- out the files marked FILE-LEVEL malformed (no reader opens them) unless
-- a predicate decides; names come sorted.
local M = {}

M.DIR = "tests/pcaps/"

local function split(line)
  local t = {}
  for v in (line .. "\t"):gmatch("([^\t]*)\t") do t[#t + 1] = v end
  return t
end

function M.rows()
  local rows, names = {}, nil
  for line in io.lines(M.DIR .. "MANIFEST.tsv") do
    local cols = split(line)
    if not names then
      names = cols
    else
      local row = {}
      for i, name in ipairs(names) do row[name] = cols[i] or "" end
      rows[#rows + 1] = row
    end
  end
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
