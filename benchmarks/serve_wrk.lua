-- wrk script for benchmarks/serve_load.py --client wrk: POST /v1/recommend with the request
-- bodies of the file named by the BODIES environment variable (one JSON body per line), each
-- connection starting at its own line. Non-2xx answers are counted by wrk itself.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 97)
end

function init(args)
  position = offset or 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  position = position + 1
  return wrk.format(nil, "/v1/recommend", nil, bodies[(position % #bodies) + 1])
end
