-- Cerbos's CheckResources with the equivalent tier policy: a principal per tier (its role the tier)
-- asks each question of the mix in turn, one resource entry with one action per request, as
-- govern.lua asks /v1/check; with $BENCH_BATCH set, $BENCH_BATCH resource entries per request (one
-- per question, each with its one action), as govern.lua asks /v1/check/batch.
package.path = package.path .. ";" .. os.getenv("BENCH_DIR") .. "/?.lua"
require "summary"
local mix = require "mix"

local requests = {}

local function check_resources(tier, questions)
  local resources = {}
  for _, q in ipairs(questions) do
    resources[#resources + 1] = string.format(
      '{"actions": ["%s"], "resource": {"kind": "model", "id": "%s", "attr": {"group": "%s"}}}',
      q.capability, q.model, q.group)
  end
  local body = string.format(
    '{"requestId": "bench", "principal": {"id": "demo-%s", "roles": ["%s"]}, "resources": [%s]}',
    tier, tier, table.concat(resources, ", "))
  return wrk.format("POST", "/api/check/resources", {["Content-Type"] = "application/json"}, body)
end

function init(args)
  for _, tier in ipairs(mix.tiers) do
    for _, batch in ipairs(mix.batches(mix.batch_size() or 1)) do
      requests[#requests + 1] = check_resources(tier, batch)
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
