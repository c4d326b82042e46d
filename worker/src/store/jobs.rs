//! Job records, leases and chunk commits in Redis (the shared state of the stack).
//!
//! Keys, for a job `ID`: `synth:job:ID` (hash: request, state, epoch, owner,
//! progress), `synth:job:ID:lease` (string `worker|epoch` with a TTL),
//! `synth:job:ID:chunks` (hash: chunk index -> committed [`ChunkRecord`] JSON),
//! and `synth:jobs:active` (set of jobs still running, scanned for expired leases).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contract::{ChunkRecord, JobRequest, JobState, JobStatus};
use redis::aio::MultiplexedConnection;
use redis::{Script, ScriptInvocation};
use thiserror::Error;
use tokio::sync::Mutex;

use super::lua;

/// Longest wait for one Redis round trip; a partitioned Redis must not hang the worker.
const REDIS_TIMEOUT: Duration = Duration::from_millis(1500);
const ACTIVE_SET: &str = "synth:jobs:active";

/// Why a Redis operation failed.
#[derive(Debug, Error)]
pub enum JobStoreError {
    /// Redis could not be reached or answered with an error.
    #[error("redis at {url}: {source}")]
    Redis {
        /// The configured URL.
        url: String,
        /// Cause.
        source: redis::RedisError,
    },
    /// Redis did not answer in time.
    #[error("redis at {url} did not answer within {timeout_ms} ms")]
    Timeout {
        /// The configured URL.
        url: String,
        /// The limit.
        timeout_ms: u128,
    },
    /// A stored job record could not be read.
    #[error("job {job_id} has a malformed record in redis: {detail}")]
    Malformed {
        /// Job id.
        job_id: String,
        /// What is wrong.
        detail: String,
    },
}

/// Outcome of a lease renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still the owner.
    Renewed,
    /// Another worker took the job (epoch moved on): stop writing.
    Stale,
    /// The job is done or failed.
    Finished,
    /// The job does not exist.
    Missing,
}

/// Outcome of a chunk commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Committed; the job now has this many chunks.
    Committed(u64),
    /// Refused: the writer's epoch is stale (fenced off).
    Stale,
    /// Refused: the job is no longer running.
    NotRunning,
    /// Refused: the job does not exist.
    Missing,
    /// Refused: the chunk index is not the next one.
    OutOfOrder,
}

/// A job's full record as stored in Redis.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// The request that created it.
    pub request: JobRequest,
    /// Status fields.
    pub status: JobStatus,
    /// Frames per chunk.
    pub chunk_frames: u64,
    /// Milliseconds since the Unix epoch when it was created.
    pub created_ms: u64,
}

/// The Redis side of the store.
pub struct JobStore {
    url: String,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    create: Script,
    renew: Script,
    claim: Script,
    mark: Script,
    commit: Script,
    fail: Script,
    release: Script,
}

fn job_key(id: &str) -> String {
    format!("synth:job:{id}")
}
fn lease_key(id: &str) -> String {
    format!("synth:job:{id}:lease")
}
fn chunks_key(id: &str) -> String {
    format!("synth:job:{id}:chunks")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl JobStore {
    /// Prepares a client for `url` (`redis://host:port`), authenticating with
    /// `password` when given; connects lazily. The password goes into the connection settings, never into the URL this
    /// store shows (in errors and `/health`).
    pub fn with_password(url: &str, password: Option<&str>) -> Result<Self, JobStoreError> {
        use redis::IntoConnectionInfo;
        let bad = |source| JobStoreError::Redis {
            url: url.to_string(),
            source,
        };
        let mut info = url.into_connection_info().map_err(bad)?;
        if let Some(password) = password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(bad)?;
        Ok(Self {
            url: url.to_string(),
            client,
            conn: Mutex::new(None),
            create: Script::new(lua::CREATE),
            renew: Script::new(lua::RENEW),
            claim: Script::new(lua::CLAIM),
            mark: Script::new(lua::MARK),
            commit: Script::new(lua::COMMIT),
            fail: Script::new(lua::FAIL),
            release: Script::new(lua::RELEASE),
        })
    }

    /// The configured URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, source: redis::RedisError) -> JobStoreError {
        JobStoreError::Redis {
            url: self.url.clone(),
            source,
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, JobStoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(
            REDIS_TIMEOUT,
            self.client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| self.timeout())?
        .map_err(|e| self.err(e))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn timeout(&self) -> JobStoreError {
        JobStoreError::Timeout {
            url: self.url.clone(),
            timeout_ms: REDIS_TIMEOUT.as_millis(),
        }
    }

    /// Runs one Redis call with a deadline; a broken connection is dropped so the
    /// next call reconnects.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, JobStoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        match tokio::time::timeout(REDIS_TIMEOUT, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    *self.conn.lock().await = None;
                }
                Err(self.err(e))
            }
            Err(_) => {
                *self.conn.lock().await = None;
                Err(self.timeout())
            }
        }
    }

    /// Runs a prepared Lua script (keys and arguments already added) with the
    /// deadline of [`Self::run`] and returns its integer answer.
    async fn invoke(&self, inv: ScriptInvocation<'_>) -> Result<i64, JobStoreError> {
        self.run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await
    }

    /// [`Self::invoke`] for the scripts that answer 1 for done and anything else
    /// for refused.
    async fn invoke_flag(&self, inv: ScriptInvocation<'_>) -> Result<bool, JobStoreError> {
        Ok(self.invoke(inv).await? == 1)
    }

    /// Round trip to Redis, for health checks.
    pub async fn ping(&self) -> Result<(), JobStoreError> {
        self.run(|mut c| async move {
            let _: String = redis::cmd("PING").query_async(&mut c).await?;
            Ok(())
        })
        .await
    }

    /// Creates a job owned by `worker` at epoch 1. Returns false when the id is taken.
    pub async fn create(
        &self,
        id: &str,
        request: &JobRequest,
        frames_total: u64,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, JobStoreError> {
        let chunk_frames = u64::from(request.options.chunk_frames);
        let chunks_total = frames_total.div_ceil(chunk_frames);
        let json = serde_json::to_string(request).expect("job request serializes");
        let mut inv = self.create.prepare_invoke();
        inv.key(job_key(id))
            .key(lease_key(id))
            .key(chunks_key(id))
            .key(ACTIVE_SET)
            .arg(id)
            .arg(json)
            .arg(frames_total)
            .arg(chunks_total)
            .arg(chunk_frames)
            .arg(worker)
            .arg(ttl_ms(ttl))
            .arg(now_ms());
        self.invoke_flag(inv).await
    }

    /// Renews `worker`'s lease at `epoch`.
    pub async fn renew(
        &self,
        id: &str,
        worker: &str,
        epoch: u64,
        ttl: Duration,
    ) -> Result<Renewal, JobStoreError> {
        let mut inv = self.renew.prepare_invoke();
        inv.key(job_key(id))
            .key(lease_key(id))
            .arg(worker)
            .arg(epoch)
            .arg(ttl_ms(ttl));
        Ok(match self.invoke(inv).await? {
            1 => Renewal::Renewed,
            -2 => Renewal::Finished,
            -3 => Renewal::Missing,
            _ => Renewal::Stale,
        })
    }

    /// Claims a running job whose lease expired; returns the new epoch when won.
    pub async fn claim(
        &self,
        id: &str,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, JobStoreError> {
        self.claim_with(id, worker, ttl, None).await
    }

    /// Claims a running job whose lease is still `lease` (`worker|epoch`, as read
    /// by [`Self::lease_holder`]) but whose holder is known to be dead, without
    /// waiting for the lease to expire. A lease renewed or taken since (another
    /// value) is left alone. Returns the new epoch when won.
    pub async fn claim_from_dead(
        &self,
        id: &str,
        worker: &str,
        ttl: Duration,
        lease: &str,
    ) -> Result<Option<u64>, JobStoreError> {
        self.claim_with(id, worker, ttl, Some(lease)).await
    }

    async fn claim_with(
        &self,
        id: &str,
        worker: &str,
        ttl: Duration,
        dead_lease: Option<&str>,
    ) -> Result<Option<u64>, JobStoreError> {
        let mut inv = self.claim.prepare_invoke();
        inv.key(job_key(id))
            .key(lease_key(id))
            .key(chunks_key(id))
            .key(ACTIVE_SET)
            .arg(worker)
            .arg(ttl_ms(ttl))
            .arg(id);
        if let Some(lease) = dead_lease {
            inv.arg(lease);
        }
        let epoch = self.invoke(inv).await?;
        Ok((epoch > 0).then_some(epoch as u64))
    }

    /// The value of a job's lease (`worker|epoch`), `None` when there is none.
    pub async fn lease_holder(&self, id: &str) -> Result<Option<String>, JobStoreError> {
        let key = lease_key(id);
        self.run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
    }

    /// Opens a connection of its own that announces `worker` as alive for as
    /// long as it stays open (see [`super::presence`]).
    pub async fn announce_presence(
        &self,
        worker: &str,
    ) -> Result<MultiplexedConnection, JobStoreError> {
        let connect = async {
            let mut c = self.client.get_multiplexed_async_connection().await?;
            super::presence::announce(&mut c, worker).await?;
            Ok::<_, redis::RedisError>(c)
        };
        tokio::time::timeout(REDIS_TIMEOUT, connect)
            .await
            .map_err(|_| self.timeout())?
            .map_err(|e| self.err(e))
    }

    /// Whether `worker` announced its presence once and its presence connection is
    /// now closed: its process is gone (killed, OOM-killed, exited). A paused or cut-off
    /// worker keeps its connection and is not gone; its lease has to expire.
    pub async fn worker_gone(&self, worker: &str) -> Result<bool, JobStoreError> {
        let worker = worker.to_string();
        self.run(|mut c| async move { super::presence::is_gone(&mut c, &worker).await })
            .await
    }

    /// Publishes how far the owner at `epoch` has synthesized. Returns false when stale.
    pub async fn mark(&self, id: &str, epoch: u64, next_frame: u64) -> Result<bool, JobStoreError> {
        let mut inv = self.mark.prepare_invoke();
        inv.key(job_key(id)).arg(epoch).arg(next_frame);
        self.invoke_flag(inv).await
    }

    /// Commits a chunk already durable on the data directory.
    pub async fn commit(
        &self,
        id: &str,
        record: &ChunkRecord,
        fencing: bool,
    ) -> Result<CommitOutcome, JobStoreError> {
        let json = serde_json::to_string(record).expect("chunk record serializes");
        let mut inv = self.commit.prepare_invoke();
        inv.key(job_key(id))
            .key(lease_key(id))
            .key(chunks_key(id))
            .key(ACTIVE_SET)
            .arg(&record.writer)
            .arg(record.epoch)
            .arg(record.index)
            .arg(json)
            .arg(record.frames)
            .arg(if fencing { "1" } else { "0" })
            .arg(now_ms())
            .arg(id);
        Ok(match self.invoke(inv).await? {
            n if n > 0 => CommitOutcome::Committed(n as u64),
            -1 => CommitOutcome::Stale,
            -2 => CommitOutcome::NotRunning,
            -3 => CommitOutcome::Missing,
            _ => CommitOutcome::OutOfOrder,
        })
    }

    /// Marks a job failed with `error`. Returns false when refused (stale or finished).
    pub async fn fail(
        &self,
        id: &str,
        worker: &str,
        epoch: u64,
        error: &str,
        fencing: bool,
    ) -> Result<bool, JobStoreError> {
        let mut inv = self.fail.prepare_invoke();
        inv.key(job_key(id))
            .key(lease_key(id))
            .key(chunks_key(id))
            .key(ACTIVE_SET)
            .arg(worker)
            .arg(epoch)
            .arg(error)
            .arg(if fencing { "1" } else { "0" })
            .arg(now_ms())
            .arg(id);
        self.invoke_flag(inv).await
    }

    /// Deletes `worker`'s lease at `epoch` so another worker may claim at once.
    pub async fn release(&self, id: &str, worker: &str, epoch: u64) -> Result<bool, JobStoreError> {
        let mut inv = self.release.prepare_invoke();
        inv.key(job_key(id))
            .key(lease_key(id))
            .arg(worker)
            .arg(epoch);
        self.invoke_flag(inv).await
    }

    /// Ids of jobs still running.
    pub async fn active_jobs(&self) -> Result<Vec<String>, JobStoreError> {
        self.run(|mut c| async move {
            redis::cmd("SMEMBERS")
                .arg(ACTIVE_SET)
                .query_async(&mut c)
                .await
        })
        .await
    }

    /// Reads a job's record; `None` when there is no such job.
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>, JobStoreError> {
        let key = job_key(id);
        let map: HashMap<String, String> = self
            .run(|mut c| async move { redis::cmd("HGETALL").arg(key).query_async(&mut c).await })
            .await?;
        if map.is_empty() {
            return Ok(None);
        }
        parse_record(id, &map).map(Some)
    }

    /// Committed chunk records of a job, in index order, `0..chunks_committed`.
    pub async fn chunks(
        &self,
        id: &str,
        committed: u64,
    ) -> Result<Vec<ChunkRecord>, JobStoreError> {
        let key = chunks_key(id);
        let map: HashMap<u64, String> = self
            .run(|mut c| async move { redis::cmd("HGETALL").arg(key).query_async(&mut c).await })
            .await?;
        let mut out = Vec::with_capacity(committed as usize);
        for index in 0..committed {
            let json = map.get(&index).ok_or_else(|| JobStoreError::Malformed {
                job_id: id.to_string(),
                detail: format!("chunk {index} is counted as committed but has no record"),
            })?;
            let rec: ChunkRecord =
                serde_json::from_str(json).map_err(|e| JobStoreError::Malformed {
                    job_id: id.to_string(),
                    detail: format!("chunk {index}: {e}"),
                })?;
            out.push(rec);
        }
        Ok(out)
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    ttl.as_millis().max(1) as u64
}

fn parse_record(id: &str, map: &HashMap<String, String>) -> Result<JobRecord, JobStoreError> {
    let malformed = |detail: String| JobStoreError::Malformed {
        job_id: id.to_string(),
        detail,
    };
    let num = |field: &str| -> Result<u64, JobStoreError> {
        map.get(field)
            .ok_or_else(|| malformed(format!("field {field} is missing")))?
            .parse()
            .map_err(|e| malformed(format!("field {field}: {e}")))
    };
    let request: JobRequest = serde_json::from_str(
        map.get("request")
            .ok_or_else(|| malformed("field request is missing".into()))?,
    )
    .map_err(|e| malformed(format!("request: {e}")))?;
    let state = match map.get("state").map(String::as_str) {
        Some("running") => JobState::Running,
        Some("done") => JobState::Done,
        Some("failed") => JobState::Failed,
        Some("queued") => JobState::Queued,
        other => return Err(malformed(format!("unknown state {other:?}"))),
    };
    let synth_frame = num("synth_frame")?;
    let claim_frame = num("claim_frame")?;
    let status = JobStatus {
        id: id.to_string(),
        state,
        frames_done: num("frames_done")?,
        frames_total: num("frames_total")?,
        chunks_committed: num("chunks_committed")?,
        chunks_total: num("chunks_total")?,
        owner: map.get("owner").cloned(),
        epoch: num("epoch")?,
        frames_synthesized: synth_frame.saturating_sub(claim_frame),
        frames_lost: num("frames_lost")?,
        error: map.get("error").cloned(),
    };
    Ok(JobRecord {
        id: id.to_string(),
        request,
        status,
        chunk_frames: num("chunk_frames")?,
        created_ms: num("created_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_redis::TestRedis;
    use contract::{JobOptions, Script, Turn};

    fn request() -> JobRequest {
        JobRequest {
            script: Script {
                turns: vec![Turn {
                    speaker: "a".into(),
                    text: "one two three".into(),
                }],
                seed: 1,
            },
            options: JobOptions {
                chunk_frames: 4,
                pace_rtf: None,
            },
        }
    }

    fn record(index: u64, epoch: u64, writer: &str) -> ChunkRecord {
        ChunkRecord {
            index,
            first_frame: index * 4,
            frames: 4,
            first_sample: index * 4 * 3200,
            sample_count: 4 * 3200,
            blake3: "00".repeat(32),
            epoch,
            writer: writer.into(),
        }
    }

    #[tokio::test]
    async fn stale_epoch_is_fenced_and_takeover_counts_lost_frames() {
        let redis = TestRedis::start();
        let store = JobStore::with_password(&redis.url, None).unwrap();
        let ttl = Duration::from_millis(200);
        assert!(store.create("j", &request(), 12, "a", ttl).await.unwrap());
        assert!(!store.create("j", &request(), 12, "a", ttl).await.unwrap());
        assert_eq!(
            store.commit("j", &record(0, 1, "a"), true).await.unwrap(),
            CommitOutcome::Committed(1)
        );
        // "a" synthesized up to frame 8 but dies before committing chunk 1.
        assert!(store.mark("j", 1, 8).await.unwrap());
        assert_eq!(
            store.claim("j", "b", ttl).await.unwrap(),
            None,
            "lease still live"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(store.claim("j", "b", ttl).await.unwrap(), Some(2));
        assert_eq!(store.claim("j", "c", ttl).await.unwrap(), None);
        let status = store.job("j").await.unwrap().unwrap().status;
        assert_eq!((status.epoch, status.frames_lost), (2, 4));
        assert_eq!(status.owner.as_deref(), Some("b"));
        // The zombie "a" is refused everywhere; "b" goes on.
        assert_eq!(store.renew("j", "a", 1, ttl).await.unwrap(), Renewal::Stale);
        assert!(!store.mark("j", 1, 12).await.unwrap());
        assert_eq!(
            store.commit("j", &record(1, 1, "a"), true).await.unwrap(),
            CommitOutcome::Stale
        );
        assert!(!store.release("j", "a", 1).await.unwrap());
        assert!(!store.fail("j", "a", 1, "zombie", true).await.unwrap());
        assert_eq!(
            store.renew("j", "b", 2, ttl).await.unwrap(),
            Renewal::Renewed
        );
        assert_eq!(
            store.commit("j", &record(2, 2, "b"), true).await.unwrap(),
            CommitOutcome::OutOfOrder
        );
        for i in 1..3 {
            store.commit("j", &record(i, 2, "b"), true).await.unwrap();
        }
        let rec = store.job("j").await.unwrap().unwrap();
        assert_eq!(rec.status.state, JobState::Done);
        assert_eq!(rec.status.frames_done, 12);
        let chunks = store.chunks("j", 3).await.unwrap();
        assert_eq!(chunks[0].writer, "a");
        assert!(chunks[1..].iter().all(|c| c.writer == "b" && c.epoch == 2));
        assert!(store.active_jobs().await.unwrap().is_empty());
        assert_eq!(
            store.renew("j", "b", 2, ttl).await.unwrap(),
            Renewal::Finished
        );
    }

    #[tokio::test]
    async fn a_holder_whose_presence_closed_is_taken_over_before_its_lease_expires() {
        let redis = TestRedis::start();
        let store = JobStore::with_password(&redis.url, None).unwrap();
        let ttl = Duration::from_secs(30);
        let presence = store.announce_presence("a").await.unwrap();
        assert!(store.create("j", &request(), 12, "a", ttl).await.unwrap());
        let lease = store.lease_holder("j").await.unwrap().unwrap();
        assert_eq!(lease, "a|1");
        // Alive (its connection open): not gone, and its lease holds.
        assert!(!store.worker_gone("a").await.unwrap());
        // A worker that never announced itself is never judged gone.
        assert!(!store.worker_gone("never-announced").await.unwrap());
        drop(presence);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !store.worker_gone("a").await.unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "a's presence never closed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A lease value that is not the current one (renewed or taken since): left alone.
        assert_eq!(
            store.claim_from_dead("j", "b", ttl, "a|0").await.unwrap(),
            None
        );
        assert_eq!(
            store.claim_from_dead("j", "b", ttl, &lease).await.unwrap(),
            Some(2)
        );
        // The dead holder, should it come back, is fenced.
        assert_eq!(store.renew("j", "a", 1, ttl).await.unwrap(), Renewal::Stale);
        assert_eq!(
            store.claim_from_dead("j", "c", ttl, &lease).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn without_fencing_a_zombie_overwrites_committed_chunks() {
        let redis = TestRedis::start();
        let store = JobStore::with_password(&redis.url, None).unwrap();
        let ttl = Duration::from_millis(100);
        store.create("j", &request(), 12, "a", ttl).await.unwrap();
        store.commit("j", &record(0, 1, "a"), false).await.unwrap();
        assert!(store.release("j", "a", 1).await.unwrap());
        assert_eq!(store.claim("j", "b", ttl).await.unwrap(), Some(2));
        store.commit("j", &record(1, 2, "b"), false).await.unwrap();
        // Zombie "a" at epoch 1 writes chunk 1 again: accepted in unsafe mode.
        assert_eq!(
            store.commit("j", &record(1, 1, "a"), false).await.unwrap(),
            CommitOutcome::Committed(2)
        );
        let chunks = store.chunks("j", 2).await.unwrap();
        assert_eq!((chunks[1].writer.as_str(), chunks[1].epoch), ("a", 1));
        // With fencing the same write is refused.
        assert_eq!(
            store.commit("j", &record(1, 1, "a"), true).await.unwrap(),
            CommitOutcome::Stale
        );
    }

    #[tokio::test]
    async fn failing_a_job_records_the_error_and_frees_it() {
        let redis = TestRedis::start();
        let store = JobStore::with_password(&redis.url, None).unwrap();
        let ttl = Duration::from_secs(5);
        store.create("j", &request(), 12, "a", ttl).await.unwrap();
        assert!(store
            .fail("j", "a", 1, "checkpoint corrupted", true)
            .await
            .unwrap());
        let st = store.job("j").await.unwrap().unwrap().status;
        assert_eq!(st.state, JobState::Failed);
        assert_eq!(st.error.as_deref(), Some("checkpoint corrupted"));
        assert_eq!(store.claim("j", "b", ttl).await.unwrap(), None);
        assert!(store.job("nope").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn unreachable_redis_is_an_error_not_a_hang() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = JobStore::with_password(&format!("redis://127.0.0.1:{port}"), None).unwrap();
        let err = store.ping().await.unwrap_err();
        assert!(err.to_string().contains("redis at"), "{err}");
    }
}
