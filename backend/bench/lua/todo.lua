-- wrk script for the Todo API benchmark (driven by bench/run.py).
--
-- Environment (read when the script loads, because wrk decides whether a script has
-- delay() and response() before it calls init()):
--   BENCH_DATA      file with one line per user: "<user id>\t<token>\t<task id>,<task id>,..."
--   BENCH_MODE      "list" (the default page only), "mix" (70/10/10/8/2; of the 70% lists,
--                   40 the default page and 30 filtered, searched or sorted) or "writes"
--                   (the mix's writes alone, in its proportions: 10/8/2 of every 20)
--   BENCH_THINK_MS  mean think time between a connection's requests; 0 = closed loop
--
-- wrk's Lua API has no per-connection state, so every request draws one of the users
-- (as many users as connections), each with its own token.

local data_path = os.getenv("BENCH_DATA")
local mode = os.getenv("BENCH_MODE") or "list"
local think_ms = tonumber(os.getenv("BENCH_THINK_MS") or "0")

local users = {}
local users_by_id = {}
local created = {}     -- {user, task id} from this thread's 201 responses, deleted later

local json = { ["Content-Type"] = "application/json" }

local function load_users()
  for line in io.lines(data_path) do
    local id, token, tasks = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    local ids = {}
    for task in tasks:gmatch("[^,]+") do ids[#ids + 1] = task end
    local user = {
      id = id,
      auth = "Bearer " .. token,
      tasks = ids,
      base = "/api/v1/" .. id .. "/tasks",
    }
    users[#users + 1] = user
    users_by_id[id] = user
  end
end

function init(args)
  -- Distinct Lua states get distinct table addresses: a cheap per-thread seed.
  local address = tonumber(tostring({}):match("0x(%x+)"), 16) or 0
  math.randomseed(os.time() + address)
  statuses = {}  -- global: status code -> count (mix and writes), read back by done()
  load_users()
end

local function headers_for(user, with_body)
  if with_body then
    return { ["Authorization"] = user.auth, ["Content-Type"] = "application/json" }
  end
  return { ["Authorization"] = user.auth }
end

local function list(user)
  return wrk.format("GET", user.base, headers_for(user, false))
end

-- What people search for in the seeded titles (bench/database.py): a few words, the last
-- one still being typed.
local searches = { "buy%20mi", "call", "report", "pay%20re", "fix%20c", "book%20t", "mint" }

-- The list as people use it: mostly the default page, some filtered, searched or sorted
-- (dice 1..70 of the mix's 70% lists).
local function list_of_mix(user, dice)
  local query
  if dice <= 40 then
    return list(user)
  elseif dice <= 46 then
    query = "?sort=due_at"
  elseif dice <= 50 then
    query = "?priority=medium,high"
  elseif dice <= 55 then
    query = "?tag=work"
  elseif dice <= 61 then
    query = "?q=" .. searches[math.random(#searches)]
  elseif dice <= 65 then
    query = "?overdue=true&sort=due_at"
  elseif dice <= 68 then
    query = "?sort=title"
  else
    query = "?completed=false&tag=home&sort=-priority"
  end
  return wrk.format("GET", user.base .. query, headers_for(user, false))
end

local function a_task(user)
  return user.base .. "/" .. user.tasks[math.random(#user.tasks)]
end

local function create(user)
  return wrk.format("POST", user.base, headers_for(user, true),
    '{"title":"Benchmark task","description":"created under load"}')
end

-- The mix's writes, dice 81..100 of its 100: 10 creates, 4 PATCH of the title or `completed`,
-- 4 PATCH /complete, 2 deletes. A delete takes a task this thread created, so no request ever
-- races for the same task; until there is one, `otherwise` makes the request.
local function write_of_mix(user, dice, otherwise)
  if dice <= 90 then
    return create(user)
  elseif dice <= 94 then
    local body = (dice % 2 == 0) and '{"title":"Renamed under load"}' or '{"completed":true}'
    return wrk.format("PATCH", a_task(user), headers_for(user, true), body)
  elseif dice <= 98 then
    return wrk.format("PATCH", a_task(user) .. "/complete", headers_for(user, false))
  end
  local victim = table.remove(created)
  if victim == nil then
    return otherwise(user)
  end
  return wrk.format("DELETE", victim[1].base .. "/" .. victim[2], headers_for(victim[1], false))
end

local function mixed(user)
  local dice = math.random(100)
  if dice <= 70 then
    return list_of_mix(user, dice)
  elseif dice <= 80 then
    return wrk.format("GET", a_task(user), headers_for(user, false))
  end
  return write_of_mix(user, dice, list)
end

if mode == "mix" or mode == "writes" then
  if mode == "mix" then
    request = function()
      return mixed(users[math.random(#users)])
    end
  else
    -- No read at all: a delete with nothing of this thread's to delete yet creates instead.
    request = function()
      return write_of_mix(users[math.random(#users)], 80 + math.random(20), create)
    end
  end

  response = function(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status == 201 then
      local task = body:match('"id":"([^"]+)"')
      local owner = users_by_id[body:match('"owner_id":"([^"]+)"')]
      if task and owner then
        created[#created + 1] = { owner, task }
      end
    end
  end
else
  request = function()
    return list(users[math.random(#users)])
  end
end

if think_ms > 0 then
  local low, high = math.floor(think_ms * 0.8), math.floor(think_ms * 1.2)
  -- wrk calls delay() before a connection's first request too, and connects every connection
  -- at once: with the think time alone, 1,000 people would all send their first request
  -- within the same 0.4 s (2.5 times their steady rate) and move in waves for the next ten
  -- seconds or so. People arrive at random moments: each connection's first wait is drawn
  -- from the time left until a person's next request at a random instant of their cycle
  -- (the renewal process's equilibrium: uniform below `low`, then falling linearly to zero
  -- at `high`), so the load is steady from the first second. The first calls of a thread
  -- are its connections' first waits (they all connect before any answer can come back).
  local first_waits = tonumber(os.getenv("BENCH_CONNECTIONS_PER_THREAD") or "0")
  local share_below_low = low / think_ms
  delay = function()
    if first_waits > 0 then
      first_waits = first_waits - 1
      if math.random() < share_below_low then
        return math.random(0, low)
      end
      return math.floor(low + (high - low) * (1 - math.sqrt(math.random())))
    end
    return math.random(low, high)
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local codes = {}
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses")
    if counted then
      for code, count in pairs(counted) do
        codes[#codes + 1] = string.format('"%d":%d', code, count)
      end
    end
  end
  local e = summary.errors
  -- The latency below which all but 1% of the 2xx answers fall, whatever the others' latency:
  -- the percentile of all responses that leaves out 1% of the answered count (with no refusals,
  -- the p99 itself). wrk keeps one histogram for every status.
  local answered = summary.requests - e.status
  local p99_answered = 0
  if answered > 0 then
    p99_answered = latency:percentile(100 - answered / summary.requests)
  end
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"p99_answered":%d},' ..
    '"statuses":[{%s}]}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, p99_answered, table.concat(codes, "},{")))
end
