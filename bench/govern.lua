-- govern's decision API: each demo key (one per tier) asks each question of the mix in turn, one per
-- POST /v1/check; with $BENCH_BATCH set, $BENCH_BATCH per POST /v1/check/batch instead.
package.path = package.path .. ";" .. os.getenv("BENCH_DIR") .. "/?.lua"
require "summary"
local mix = require "mix"

local requests = {}

local function check(q)
  return string.format('{"model": "%s", "capability": "%s"}', q.model, q.capability)
end

function init(args)
  local size = mix.batch_size()
  for _, key in ipairs(mix.keys()) do
    local headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
    for _, batch in ipairs(mix.batches(size or 1)) do
      if size == nil then
        requests[#requests + 1] = wrk.format("POST", "/v1/check", headers, check(batch[1]))
      else
        local checks = {}
        for _, q in ipairs(batch) do checks[#checks + 1] = check(q) end
        requests[#requests + 1] = wrk.format("POST", "/v1/check/batch", headers,
          '{"checks": [' .. table.concat(checks, ", ") .. ']}')
      end
    end
  end
end

-- Defined here, not in init: wrk looks for it before init runs.
local n = 0
function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end

done = write_summary
