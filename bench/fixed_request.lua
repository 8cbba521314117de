-- wrk script: every request is METHOD PATH [BODY]; headers come from wrk's -H options.
-- Usage: wrk ... -s fixed_request.lua http://127.0.0.1:PORT/ -- METHOD PATH [BODY]
local req

function init(args)
  -- nil headers: wrk.format uses wrk.headers (the -H ones) and adds Host and Content-Length.
  req = wrk.format(args[1], args[2], nil, args[3])
end

function request()
  return req
end
