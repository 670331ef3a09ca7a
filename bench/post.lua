-- wrk script: POST the file named by BENCH_BODY to BENCH_PATH (default /v1/messages) with
-- Anthropic's headers.
-- BENCH_API_KEY (x-api-key) and BENCH_ANTHROPIC_BETA (anthropic-beta) are sent when not empty.
-- There is no request() or response() function, so wrk builds the request once and runs no Lua
-- per request: the client costs the same for every target.

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/messages"
wrk.body = read_file(assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"

local api_key = os.getenv("BENCH_API_KEY")
if api_key and api_key ~= "" then
  wrk.headers["x-api-key"] = api_key
end

local beta = os.getenv("BENCH_ANTHROPIC_BETA")
if beta and beta ~= "" then
  wrk.headers["anthropic-beta"] = beta
end
