-- apply: one atomic batch. Checks every precondition first (a Lua error
-- after a write would leave the write in place), then applies.
-- ARGV: prefix, rev, nops, then 8 per op (kind, id, del, expect, terms,
-- keys, refs, value), then nmsg, then 3 per message (subject, msgid, data),
-- then the batch's change-log tag and how many revisions the log keeps.
-- Index lists are space-separated. Returns {'OK'}, {'REV'} when rev is not
-- above the committed high-water mark, or {'ERR', code, opindex, detail}.
local P = ARGV[1]
local rev = tonumber(ARGV[2])
local n = tonumber(ARGV[3])

local hwm = tonumber(redis.call('GET', P .. 'hwm') or '0')
if rev <= hwm then
  return {'REV'}
end

local function split(s)
  local t = {}
  if s == nil or s == '' then return t end
  for w in string.gmatch(s, '[^ ]+') do t[#t + 1] = w end
  return t
end

-- A record is one string: "rev\nterms\nkeys\nrefs\nvalue" (the value may
-- hold newlines; nothing before it does). parse returns rev and the lists.
local function parse(x)
  if not x then return nil, {}, {}, {} end
  local a = string.find(x, '\n', 1, true)
  local b = string.find(x, '\n', a + 1, true)
  local c = string.find(x, '\n', b + 1, true)
  local d = string.find(x, '\n', c + 1, true)
  return tonumber(string.sub(x, 1, a - 1)), split(string.sub(x, a + 1, b - 1)),
    split(string.sub(x, b + 1, c - 1)), split(string.sub(x, c + 1, d - 1))
end

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Overlays make each op see the effects of the ops before it in the batch.
local will = {}   -- record key -> true (exists after earlier ops) / false (deleted)
local keyown = {} -- kind..'\0'..key -> owner id, or false once released
local refd = {}   -- target ref -> {referrer -> true (added) / false (removed)}

-- Unique-key entries hold "id\nrefs" so that resolve needs no script.
local function idof(v)
  if not v then return v end
  local i = string.find(v, '\n', 1, true)
  if i then return string.sub(v, 1, i - 1) end
  return v
end

local function owner(kind, k)
  local v = keyown[kind .. '\0' .. k]
  if v ~= nil then return v end
  return idof(redis.call('HGET', P .. 'u:' .. kind, k))
end

local function refchange(target, who, v)
  refd[target] = refd[target] or {}
  refd[target][who] = v
end

local function referenced(target)
  local fk = P .. 'f:' .. target
  local n = redis.call('SCARD', fk)
  for who, v in pairs(refd[target] or {}) do
    local m = redis.call('SISMEMBER', fk, who) == 1
    if v and not m then n = n + 1 elseif (not v) and m then n = n - 1 end
  end
  return n > 0
end

local ops = {}
local base = 4
for i = 1, n do
  local o = {
    kind = ARGV[base], id = ARGV[base + 1], del = ARGV[base + 2] == '1',
    expect = tonumber(ARGV[base + 3]), terms = ARGV[base + 4], keys = ARGV[base + 5],
    refs = ARGV[base + 6], value = ARGV[base + 7],
  }
  base = base + 8
  o.rk = P .. o.kind .. ':' .. o.id
  o.self = o.kind .. ':' .. o.id
  local currev
  currev, o.ot, o.ok, o.orf = parse(redis.call('GET', o.rk))
  local exists = currev ~= nil
  if o.expect == -1 then
    if o.del and not exists then return {'ERR', 'NOTFOUND', i, ''} end
  elseif o.expect == 0 then
    if exists then return {'ERR', 'EXISTS', i, ''} end
  else
    if not exists then return {'ERR', 'NOTFOUND', i, ''} end
    if currev ~= o.expect then return {'ERR', 'CONFLICT', i, ''} end
  end
  if o.del then
    if referenced(o.self) then return {'ERR', 'REFERENCED', i, ''} end
    o.nt, o.nk, o.nrf = {}, {}, {}
  else
    o.nt, o.nk, o.nrf = split(o.terms), split(o.keys), split(o.refs)
    for j, k in ipairs(o.nk) do
      local own = owner(o.kind, k)
      if own and own ~= o.id then return {'ERR', 'DUPKEY', i, tostring(j)} end
    end
    for _, r in ipairs(o.nrf) do
      local w = will[P .. r]
      if w == false or (w == nil and redis.call('EXISTS', P .. r) == 0) then
        return {'ERR', 'MISSINGREF', i, r}
      end
    end
  end
  local nk, nrf = set(o.nk), set(o.nrf)
  for _, k in ipairs(o.ok) do
    if not nk[k] and owner(o.kind, k) == o.id then keyown[o.kind .. '\0' .. k] = false end
  end
  for _, k in ipairs(o.nk) do keyown[o.kind .. '\0' .. k] = o.id end
  for _, r in ipairs(o.orf) do
    if not nrf[r] then refchange(r, o.self, false) end
  end
  for _, r in ipairs(o.nrf) do refchange(r, o.self, true) end
  will[o.rk] = not o.del
  ops[i] = o
end

-- The change log (entry id "rev-0", t = tag, r = refs of the records
-- written): the first write, so that if Redis refuses the id (a log ahead
-- of hwm) nothing else has been written. Entries more than keep revisions
-- old are trimmed (MINID ~ never drops a younger one).
local changed = {}
for i, o in ipairs(ops) do changed[i] = o.self end
local mb = base + 1 + 3 * tonumber(ARGV[base])
local tag, keep = ARGV[mb], tonumber(ARGV[mb + 1])
local ok
if keep > 0 and rev > keep then
  ok = redis.pcall('XADD', P .. 'cl', 'MINID', '~', tostring(rev - keep), rev .. '-0', 't', tag, 'r', table.concat(changed, ' '))
else
  ok = redis.pcall('XADD', P .. 'cl', rev .. '-0', 't', tag, 'r', table.concat(changed, ' '))
end
if type(ok) == 'table' and ok.err then
  return {'ERR', 'LOG', 0, ''}
end

for _, o in ipairs(ops) do
  local ix = P .. 'x:' .. o.kind .. ':'
  local uk = P .. 'u:' .. o.kind
  local nt, nk, nrf = set(o.nt), set(o.nk), set(o.nrf)
  for _, t in ipairs(o.ot) do
    if not nt[t] then redis.call('ZREM', ix .. t, o.id) end
  end
  for _, k in ipairs(o.ok) do
    if not nk[k] and idof(redis.call('HGET', uk, k)) == o.id then redis.call('HDEL', uk, k) end
  end
  for _, r in ipairs(o.orf) do
    if not nrf[r] then redis.call('SREM', P .. 'f:' .. r, o.self) end
  end
  if o.del then
    redis.call('ZREM', ix, o.id)
    redis.call('DEL', o.rk)
  else
    redis.call('ZADD', ix, 0, o.id)
    for _, t in ipairs(o.nt) do redis.call('ZADD', ix .. t, 0, o.id) end
    for _, k in ipairs(o.nk) do redis.call('HSET', uk, k, o.id .. '\n' .. o.refs) end
    for _, r in ipairs(o.nrf) do redis.call('SADD', P .. 'f:' .. r, o.self) end
    redis.call('SET', o.rk, rev .. '\n' .. o.terms .. '\n' .. o.keys .. '\n' .. o.refs .. '\n' .. o.value)
  end
end

local nmsg = tonumber(ARGV[base])
base = base + 1
for _ = 1, nmsg do
  redis.call('XADD', P .. 'ob', '*', 's', ARGV[base], 'm', ARGV[base + 1], 'd', ARGV[base + 2])
  base = base + 3
end
redis.call('SET', P .. 'hwm', rev)
-- The log's head, so that a reader whose cursor is current learns it
-- from two short strings instead of re-reading the (possibly long) entry.
redis.call('SET', P .. 'clh', rev .. ' ' .. tag)
return {'OK'}
