-- GET a random path from a file of request paths (one per line). args: token file [rate threads]
-- (with a rate: that many requests per second in all, paced by pace.lua; threads is wrk's -t)
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "pace.lua")
function init(args)
  token = args[1]
  if args[3] then pace(tonumber(args[3]), tonumber(args[4])) end
  paths = {}
  for line in io.lines(args[2]) do paths[#paths + 1] = line end
  math.randomseed(os.time() + (tid or 0))
end
function request()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer " .. token})
end
