-- wrk script: each request is METHOD PREFIX .. <random line of IDS_FILE> .. SUFFIX [BODY] (default: GET, no body).
-- Usage: wrk ... -s random_path.lua http://127.0.0.1:PORT/ -- IDS_FILE PREFIX [SUFFIX [METHOD [BODY]]]
-- Headers come from wrk's -H options; wrk.format adds Host and, with a body, Content-Length.
local ids, prefix, suffix, method, body = {}, "", "", "GET", nil
local threads = 0

function setup(thread)
  -- Runs in wrk's main Lua state: hand each thread its own random seed.
  threads = threads + 1
  thread:set("thread_seed", threads)
end

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  prefix, suffix = args[2], args[3] or ""
  method, body = args[4] or "GET", args[5]
  math.randomseed(thread_seed or 1)
end

function request()
  return wrk.format(method, prefix .. ids[math.random(#ids)] .. suffix, nil, body)
end
