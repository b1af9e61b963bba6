-- Pacing for wrk scripts: pace(rate) defines wrk's delay() so that each thread sends rate / threads requests
-- per second on a fixed schedule (open loop while connections are free), whatever the server's latency.
-- Every delay() call claims the thread's next slot; a thread that has fallen behind does not burst to catch up.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } scimsync_timespec;
int clock_gettime(int clk, scimsync_timespec *tp);
]]
local ts = ffi.new("scimsync_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

function pace(rate, threads)
  local interval = 1000 * threads / rate
  local next_slot = nil
  delay = function()
    local now = now_ms()
    if next_slot == nil or next_slot < now then next_slot = now end
    local wait = next_slot - now
    next_slot = next_slot + interval
    return math.floor(wait + 0.5)
  end
end
