//! Lua scripts run atomically inside Redis: every change of a job's lease or
//! chunk list is a compare-and-set on the job's epoch (the fencing token).
//!
//! Keys: `KEYS[1]` job hash, `KEYS[2]` lease, `KEYS[3]` chunk hash, `KEYS[4]` active set.

/// Create a job owned by its creator at epoch 1.
/// ARGV: id, request JSON, frames_total, chunks_total, chunk_frames, worker, ttl_ms, now_ms.
/// Returns 1, or 0 when the id exists.
pub const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'request', ARGV[2], 'state', 'running',
  'frames_total', ARGV[3], 'chunks_total', ARGV[4], 'chunk_frames', ARGV[5],
  'epoch', 1, 'owner', ARGV[6], 'chunks_committed', 0, 'frames_done', 0,
  'synth_frame', 0, 'claim_frame', 0, 'frames_lost', 0, 'created_ms', ARGV[8])
redis.call('SET', KEYS[2], ARGV[6] .. '|1', 'PX', ARGV[7])
redis.call('SADD', KEYS[4], ARGV[1])
return 1
"#;

/// Renew the lease of the owner at its epoch.
/// ARGV: worker, epoch, ttl_ms. Returns 1 renewed, -1 stale epoch or lease held
/// by another, -2 job no longer running, -3 no such job.
pub const RENEW: &str = r#"
local st = redis.call('HMGET', KEYS[1], 'state', 'epoch')
if not st[1] then return -3 end
if st[1] ~= 'running' then return -2 end
if tonumber(st[2]) ~= tonumber(ARGV[2]) then return -1 end
local me = ARGV[1] .. '|' .. ARGV[2]
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= me then return -1 end
redis.call('SET', KEYS[2], me, 'PX', ARGV[3])
return 1
"#;

/// Claim a running job whose lease has expired: epoch + 1, the claimer owns it.
/// Frames the previous owner synthesized but never committed are added to
/// `frames_lost`. ARGV: worker, ttl_ms, id, and optionally the lease value
/// (`worker|epoch`) of a holder known to be dead: a lease still holding exactly
/// that value is dropped first. Returns the new epoch, or 0.
pub const CLAIM: &str = r#"
local st = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'synth_frame', 'frames_done', 'frames_lost')
if not st[1] then redis.call('SREM', KEYS[4], ARGV[3]) return 0 end
if st[1] ~= 'running' then redis.call('SREM', KEYS[4], ARGV[3]) return 0 end
if ARGV[4] and redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local epoch = tonumber(st[2]) + 1
local lost = tonumber(st[3]) - tonumber(st[4])
if lost < 0 then lost = 0 end
redis.call('HSET', KEYS[1], 'epoch', epoch, 'owner', ARGV[1], 'synth_frame', st[4],
  'claim_frame', st[4], 'frames_lost', tonumber(st[5]) + lost)
redis.call('SET', KEYS[2], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
return epoch
"#;

/// Publish how far the owner has synthesized (committed or not).
/// ARGV: epoch, next frame. Returns 1, or -1 when the epoch is stale.
pub const MARK: &str = r#"
local st = redis.call('HMGET', KEYS[1], 'state', 'epoch')
if st[1] ~= 'running' or tonumber(st[2]) ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'synth_frame', ARGV[2])
return 1
"#;

/// Commit one chunk written to the data directory.
/// ARGV: worker, epoch, index, record JSON, frames in chunk, fencing ('1'/'0'), now_ms, id.
/// Returns chunks committed (>= 1), -1 stale epoch, -2 job not running, -3 no such
/// job, -4 index out of order. Without fencing the epoch and state are not checked
/// and an already committed index is overwritten (the unsafe mode of split-brain drills).
pub const COMMIT: &str = r#"
local st = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'chunks_committed', 'chunks_total', 'frames_done')
if not st[1] then return -3 end
local fencing = ARGV[6] == '1'
local idx = tonumber(ARGV[3])
local committed = tonumber(st[3])
if fencing then
  if st[1] ~= 'running' then return -2 end
  if tonumber(st[2]) ~= tonumber(ARGV[2]) then return -1 end
  if idx ~= committed then return -4 end
end
if idx > committed then return -4 end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
if idx == committed then
  committed = committed + 1
  redis.call('HSET', KEYS[1], 'chunks_committed', committed,
    'frames_done', tonumber(st[5]) + tonumber(ARGV[5]))
end
if committed == tonumber(st[4]) and st[1] == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'finished_ms', ARGV[7])
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[4], ARGV[8])
end
return committed
"#;

/// Fail a job for good. ARGV: worker, epoch, error, fencing, now_ms, id.
/// Returns 1, -1 stale epoch, -2 not running, -3 no such job.
pub const FAIL: &str = r#"
local st = redis.call('HMGET', KEYS[1], 'state', 'epoch')
if not st[1] then return -3 end
if st[1] ~= 'running' then return -2 end
if ARGV[4] == '1' and tonumber(st[2]) ~= tonumber(ARGV[2]) then return -1 end
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[3], 'finished_ms', ARGV[5])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[6])
return 1
"#;

/// Give a lease up so another worker can claim the job at once.
/// ARGV: worker, epoch. Returns 1 when deleted, 0 when it was not ours.
pub const RELEASE: &str = r#"
if redis.call('GET', KEYS[2]) == ARGV[1] .. '|' .. ARGV[2] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"#;
