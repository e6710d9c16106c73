-- Loaded by bench/appointments.py as `wrk --script ... -- PLAN_FILE CONFIRM`: every thread is
-- one client on one connection, walking its own list of free starts: it holds a start
-- (POST /api/v1/appointments/holds) and, when CONFIRM is "1", confirms the hold as a
-- signed-in citizen (POST …/holds/{id}/confirm with the item's bearer token), then takes the
-- next start. A refused hold skips to the next start. The figures come out as one JSON line.
--
-- PLAN_FILE has one item per line: thread number (1-based), service id, branch id, start,
-- access token ("-" when there is none), separated by tabs.

local threads = {}
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("number", next_thread)
  table.insert(threads, thread)
end

local items = {}
local position = 1
local hold_id = nil
local confirm = false
holds = 0
holds_refused = 0
confirmed = 0
confirms_refused = 0
exhausted = 0
consumed = 0

function init(args)
  local number = wrk.thread:get("number")
  confirm = args[2] == "1"
  for line in io.lines(args[1]) do
    local thread, service, branch, start, token = line:match("^(%d+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)$")
    if tonumber(thread) == number then
      table.insert(items, {service = service, branch = branch, start = start, token = token})
    end
  end
end

local function hold_request(item)
  local body = string.format(
    '{"service_id": "%s", "branch_id": "%s", "start": "%s", "persons": 1}',
    item.service, item.branch, item.start)
  return wrk.format("POST", "/api/v1/appointments/holds",
    {["Content-Type"] = "application/json", ["Accept"] = "application/json"}, body)
end

local function confirm_request(item, id)
  return wrk.format("POST", "/api/v1/appointments/holds/" .. id .. "/confirm",
    {["Content-Type"] = "application/json", ["Accept"] = "application/json",
     ["Authorization"] = "Bearer " .. item.token}, "{}")
end

function request()
  local item = items[position]
  if item == nil then
    -- Out of starts: the bench prepared too few; it reports this and the row is worthless.
    exhausted = exhausted + 1
    return wrk.format("GET", "/healthz")
  end
  if hold_id ~= nil then
    return confirm_request(item, hold_id)
  end
  return hold_request(item)
end

local function next_item()
  hold_id = nil
  position = position + 1
  consumed = consumed + 1
end

function response(status, headers, body)
  if items[position] == nil then
    return
  end
  if hold_id ~= nil then
    if status == 200 then
      confirmed = confirmed + 1
    else
      confirms_refused = confirms_refused + 1
    end
    next_item()
    return
  end
  if status ~= 201 then
    holds_refused = holds_refused + 1
    next_item()
    return
  end
  holds = holds + 1
  if not confirm then
    next_item()
    return
  end
  hold_id = body:match('"id"%s*:%s*"([^"]+)"')
  if hold_id == nil then
    holds_refused = holds_refused + 1
    next_item()
  end
end

function done(summary, latency, requests)
  local totals = {holds = 0, holds_refused = 0, confirmed = 0, confirms_refused = 0,
                  exhausted = 0}
  local consumed_per_thread = {}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
    table.insert(consumed_per_thread, tostring(thread:get("consumed")))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_WRK_HOLDS {"requests": %d, "duration_us": %d, "holds": %d, "holds_refused": %d, ' ..
    '"confirmed": %d, "confirms_refused": %d, "exhausted": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "consumed": [%s]}\n',
    summary.requests, summary.duration, totals.holds, totals.holds_refused, totals.confirmed,
    totals.confirms_refused, totals.exhausted,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(consumed_per_thread, ", ")))
end
