-- ctlserve.lua - the script's side of tests/lib/ctl.sh: reads commands
-- from a fifo, a line each ("NAME REST"), and answers each on standard
-- output as "R<n> REPLY" (n counts the lines; an error is "err WHY").
--   local ctl = require "ctlserve"
--   local st = {rules = {}}          -- st.fw: the rule set, once opened
--   local cmds = ctl.rule_commands(st)   -- add RULE-TEXT, del N
--   function cmds.NAME(rest) ... return reply end
--   ctl.serve(cmds, arg[#arg])       -- until "quit" or the fifo's end
local M = {}

-- The commands every rule test has: "add RULE-TEXT" parses the text
-- (pktsh.xdp.parse_rule_text) and adds it to st.fw ("ok N", N its number
-- in st.rules); "del N" removes rule N.
function M.rule_commands(st)
  local cmds = {}
  function cmds.add(rest)
    local spec, e = pktsh.xdp.parse_rule_text(rest)
    if not spec then return "err " .. e end
    local r
    r, e = st.fw:add(spec)
    if not r then return "err " .. e end
    st.rules[#st.rules + 1] = r
    return "ok " .. #st.rules
  end
  function cmds.del(rest)
    local ok, e = st.rules[tonumber(rest)]:remove()
    return ok and "ok" or ("err " .. tostring(e))
  end
  return cmds
end

function M.serve(cmds, fifo)
  local n = 0
  for line in io.lines(fifo) do
    local cmd, rest = line:match("^(%S+)%s*(.*)$")
    if cmd == "quit" then break end
    local ok, res = pcall(cmds[cmd], rest)
    n = n + 1
    io.stdout:write("R", n, " ", ok and res or ("err " .. tostring(res)), "\n")
    io.stdout:flush()
  end
end

return M
