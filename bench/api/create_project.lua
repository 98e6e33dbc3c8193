-- wrk: create projects with distinct titles.
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"project": {"title": "bench %d-%d", "descrip": "created by wrk"}}', math.random(1, 1e9), n)
  return wrk.format("POST", "/v1/project/create", {["Content-Type"] = "application/json"}, body)
end
