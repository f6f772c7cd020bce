-- POST /v1/check with a realistic mix: a key per tier, four models, three capabilities (about half
-- of the combinations are allowed by the default policy). Keys come from $GOVERN_BENCH_KEYS
-- (comma-separated), made by run.sh with `govern demo`.
package.path = package.path .. ";" .. os.getenv("BENCH_DIR") .. "/?.lua"
require "summary"

local models = {"open-7b", "chat-standard", "frontier-1", "research-preview"}
local capabilities = {"generate", "fine_tune", "tools"}
local requests = {}

function init(args)
  local keys = {}
  for key in string.gmatch(os.getenv("GOVERN_BENCH_KEYS"), "[^,]+") do keys[#keys + 1] = key end
  for _, key in ipairs(keys) do
    for _, model in ipairs(models) do
      for _, capability in ipairs(capabilities) do
        local body = string.format('{"model": "%s", "capability": "%s"}', model, capability)
        requests[#requests + 1] = wrk.format("POST", "/v1/check",
          {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
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
