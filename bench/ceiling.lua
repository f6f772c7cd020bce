-- The same request shape against the constant-answer ceiling app.
package.path = package.path .. ";" .. os.getenv("BENCH_DIR") .. "/?.lua"
require "summary"

wrk.method = "POST"
wrk.path = "/v1/check"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer gvk_000000000000_ceiling"
wrk.body = '{"model": "chat-standard", "capability": "generate"}'

done = write_summary
