-- fits.lua - the width check of the report tests (issue 16 item 3: a
-- table rendered for W columns is no wider than W; the top-k rows were 3
-- wider once):
--   require("fits")(renders)   -- renders: {name = function(w) -> text}
-- Each is rendered for 60, 80, 100 and 133 columns; the widest line, in
-- terminal cells (pktsh.term.width), must fit. Raises at the first that
-- does not, naming it, the width and the widest line.
local WIDTHS = {60, 80, 100, 133}

return function(renders)
  for _, w in ipairs(WIDTHS) do
    for what, render in pairs(renders) do
      local widest = 0
      for line in render(w):gmatch("[^\n]*") do widest = math.max(widest, pktsh.term.width(line)) end
      if widest > w then
        error(what .. " at " .. w .. " columns: widest line " .. widest, 2)
      end
    end
  end
end
