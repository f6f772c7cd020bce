-- The question mix every load script shares: a caller per tier (a demo key for govern, a principal
-- with that role for Cerbos) asks about four models in their groups and three capabilities; the
-- default policy allows about half of the combinations.
local mix = {}

mix.tiers = {"free", "verified", "trusted", "internal"}

local models = {{"open-7b", "open"}, {"chat-standard", "standard"}, {"frontier-1", "frontier"},
                {"research-preview", "research"}}
local capabilities = {"generate", "fine_tune", "tools"}

-- Every {model, group, capability}, in a fixed order.
mix.questions = {}
for _, model in ipairs(models) do
  for _, capability in ipairs(capabilities) do
    mix.questions[#mix.questions + 1] = {model = model[1], group = model[2], capability = capability}
  end
end

-- Batches of `size` consecutive questions, one starting at each question in turn (wrapping round).
function mix.batches(size)
  local batches = {}
  for start = 1, #mix.questions do
    local batch = {}
    for i = 0, size - 1 do batch[#batch + 1] = mix.questions[(start + i - 1) % #mix.questions + 1] end
    batches[#batches + 1] = batch
  end
  return batches
end

-- The keys `govern demo` made, one per tier in tier order ($GOVERN_BENCH_KEYS, comma-separated).
function mix.keys()
  local keys = {}
  for key in string.gmatch(os.getenv("GOVERN_BENCH_KEYS"), "[^,]+") do keys[#keys + 1] = key end
  return keys
end

-- The batch size $BENCH_BATCH, or nil when unset: then each request asks one question.
function mix.batch_size()
  local size = os.getenv("BENCH_BATCH")
  if size == nil or size == "" then return nil end
  return assert(tonumber(size), "BENCH_BATCH must be a number")
end

return mix
