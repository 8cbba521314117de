-- wrk script: each request GETs PREFIX .. <random line of IDS_FILE> .. SUFFIX.
-- Usage: wrk ... -s random_path.lua http://127.0.0.1:PORT/ -- IDS_FILE PREFIX [SUFFIX]
local ids, prefix, suffix = {}, "", ""
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
  math.randomseed(thread_seed or 1)
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)] .. suffix)
end
