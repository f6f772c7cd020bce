-- Cerbos's check API with the equivalent tier policy: the same tier × model × capability mix.
package.path = package.path .. ";" .. os.getenv("BENCH_DIR") .. "/?.lua"
require "summary"

local tiers = {"free", "verified", "trusted", "internal"}
local models = {{"open-7b", "open"}, {"chat-standard", "standard"}, {"frontier-1", "frontier"},
                {"research-preview", "research"}}
local capabilities = {"generate", "fine_tune", "tools"}
local requests = {}

function init(args)
  for i, tier in ipairs(tiers) do
    for _, model in ipairs(models) do
      for _, capability in ipairs(capabilities) do
        local body = string.format(
          '{"requestId": "bench", "principal": {"id": "demo-%s", "roles": ["%s"]}, ' ..
          '"resources": [{"actions": ["%s"], "resource": {"kind": "model", "id": "%s", ' ..
          '"attr": {"group": "%s"}}}]}', tier, tier, capability, model[1], model[2])
        requests[#requests + 1] = wrk.format("POST", "/api/check/resources",
          {["Content-Type"] = "application/json"}, body)
      end
    end
  end
end

local n = 0
function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end

done = write_summary
