-- fed(path, opts): a dnsstats engine (pktsh.app.dnsstats.new(opts)) fed
-- every batch of the capture at path, not finished: queries still wait
-- in its pending table, for tests that read its tables as they stand.
local dnsstats = require "pktsh.app.dnsstats"

return function(path, opts)
  local eng = assert(dnsstats.new(opts))
  local src = assert(pktsh.open(path))
  while true do
    local b = src:next()
    if not b then break end
    eng:feed(b)
  end
  src:close()
  return eng
end
