-- Upload Asset (step 1) under load: every request is a valid create with its own fileHash.
-- Arguments (after `--`): site id, API token, a run salt (8 hex digits, so hashes differ
-- between runs against the same database too).
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
require "report"

local path, headers, salt
local counter = 0

function init(args)
   path = "/v2/sites/" .. args[1] .. "/assets"
   headers = {
      ["Authorization"] = "Bearer " .. args[2],
      ["Content-Type"] = "application/json",
   }
   salt = args[3]
end

function request()
   counter = counter + 1
   -- 32 hex digits: salt (8) + thread (8) + counter (16); distinct per request across threads.
   local hash = string.format("%s%08x%016x", salt, thread_id, counter)
   local body = '{"fileName":"bench.png","fileHash":"' .. hash .. '"}'
   return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non_2xx = non_2xx + 1
   end
end
