//! A worker's presence in Redis: one connection of its own, named after the
//! worker (`CLIENT SETNAME`), held open for the life of the process. When the
//! process dies (SIGKILL, OOM kill, exit) the kernel closes the socket and
//! Redis drops the name at once, so a standby learns of the death in one scan
//! instead of waiting for the lease to expire. A paused or cut-off worker
//! keeps its connection: for those only the lease's TTL tells.
//!
//! A worker is only judged gone once it announced itself (its id is in the set
//! `synth:workers:presence`): a worker that never did (an older build, presence
//! off) is waited for by its lease, as before. A wrong judgement (a live worker
//! whose connection dropped) costs a needless takeover, never a torn job: the
//! epoch fences the old holder's writes.

use redis::aio::MultiplexedConnection;
use redis::RedisResult;

/// The set of workers that announce their presence.
pub const ANNOUNCED_SET: &str = "synth:workers:presence";
/// Prefix of the name each presence connection carries.
pub const NAME_PREFIX: &str = "synth-presence:";

/// The connection name of `worker` (Redis names take no spaces or newlines:
/// those become `_`).
pub fn connection_name(worker: &str) -> String {
    let clean: String = worker
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    format!("{NAME_PREFIX}{clean}")
}

/// Names this connection after `worker` and adds the worker to [`ANNOUNCED_SET`].
pub async fn announce(conn: &mut MultiplexedConnection, worker: &str) -> RedisResult<()> {
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(connection_name(worker))
        .query_async::<()>(conn)
        .await?;
    redis::cmd("SADD")
        .arg(ANNOUNCED_SET)
        .arg(worker)
        .query_async::<()>(conn)
        .await
}

/// Whether `worker` announced itself and no connection carries its name now.
pub async fn is_gone(conn: &mut MultiplexedConnection, worker: &str) -> RedisResult<bool> {
    let announced: bool = redis::cmd("SISMEMBER")
        .arg(ANNOUNCED_SET)
        .arg(worker)
        .query_async(conn)
        .await?;
    if !announced {
        return Ok(false);
    }
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("normal")
        .query_async(conn)
        .await?;
    let name = connection_name(worker);
    let connected = names_in_client_list(&list).any(|n| n == name);
    Ok(!connected)
}

/// The `name=` field of each line of `CLIENT LIST`.
fn names_in_client_list(list: &str) -> impl Iterator<Item = &str> {
    list.lines().filter_map(|line| {
        line.split(' ')
            .find_map(|field| field.strip_prefix("name="))
            .filter(|name| !name.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_client_list_lines() {
        let list =
            "id=3 addr=127.0.0.1:5 laddr=127.0.0.1:6379 fd=8 name=synth-presence:primary age=1\n\
                    id=4 addr=127.0.0.1:6 laddr=127.0.0.1:6379 fd=9 name= age=1\n";
        let names: Vec<&str> = names_in_client_list(list).collect();
        assert_eq!(names, ["synth-presence:primary"]);
        assert_eq!(connection_name("gpu 0\n"), "synth-presence:gpu_0_");
    }
}
