-- GET a random path from a file of request paths (one per line). args: token file
function init(args)
  token = args[1]
  paths = {}
  for line in io.lines(args[2]) do paths[#paths + 1] = line end
  math.randomseed(os.time() + (tid or 0))
end
function request()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer " .. token})
end
