-- The messages API at work: 80% reads of a 20-message page, 20% writes.
local n = 0
request = function()
  n = n + 1
  if n % 5 == 0 then
    return wrk.format("POST", "/api/messages",
      {["Content-Type"] = "application/json"}, '{"text": "hello from wrk"}')
  end
  return wrk.format("GET", "/api/messages?limit=20")
end
