-- wrk: create simple scripts in scenario SCENARIO.
local scenario = os.getenv("SCENARIO") or "1"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"simple_script": {"scenario_id": %s, "name": "bench %d", "path": "api.example.com/items", "scheme": "https", "http_method": "post", "rps": "100", "steps": "5", "duration": "5m", "max_v_us": "50", "headers": {"Content-Type": "application/json"}, "is_static_ammo": true, "static_ammo": "{\\"a\\": 1}"}}', scenario, n)
  return wrk.format("POST", "/v1/simple-script/create", {["Content-Type"] = "application/json"}, body)
end
