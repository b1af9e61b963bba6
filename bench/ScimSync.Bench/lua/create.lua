-- POST /Users with unique users for the run's duration
-- (userNames embed round and thread, so successive rounds never collide). args: token round [rate threads]
-- (with a rate: that many requests per second in all, paced by pace.lua; threads is wrk's -t)
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "pace.lua")
local nextid = 0
function setup(thread)
  nextid = nextid + 1
  thread:set("tid", nextid)
end
function init(args)
  token = args[1]
  round = args[2]
  counter = 0
  if args[3] then pace(tonumber(args[3]), tonumber(args[4])) end
end
function request()
  counter = counter + 1
  local i = round .. string.format("%d%07d", tid, counter)
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],'
    .. '"userName":"user' .. i .. '@example.com","externalId":"ext-' .. i .. '","displayName":"User ' .. i .. '","active":true,'
    .. '"name":{"givenName":"Given' .. i .. '","familyName":"Family' .. (counter % 977) .. '","formatted":"Given' .. i .. ' Family"},'
    .. '"emails":[{"value":"user' .. i .. '@example.com","type":"work","primary":true},{"value":"user' .. i .. '@home.example","type":"home"}],'
    .. '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"' .. i .. '","costCenter":"cc' .. (counter % 50)
    .. '","department":"dept' .. (counter % 40) .. '","manager":{"value":"mgr-' .. (counter % 1000) .. '"}}}'
  return wrk.format("POST", "/scim/v2/Users", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/scim+json"}, body)
end
