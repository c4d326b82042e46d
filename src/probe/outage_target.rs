//! A loopback HTTP target whose outages the harness controls to the
//! microsecond: the ground truth `takeover bench calibrate` measures probes
//! against.
//!
//! It answers `200 ok` to every request, except while an outage scheduled
//! with [`OutageTarget::schedule`] is in force: then it answers `503` or
//! closes the connection without an answer. Whether a request falls inside an
//! outage is decided on the monotonic clock when its request head has been
//! read, which is the instant the service "saw" the probe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How the target refuses requests during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageMode {
    /// Answer `503 Service Unavailable`.
    Status503,
    /// Close the connection without answering.
    Close,
}

/// One outage window, `[from, until)` on the monotonic clock.
#[derive(Debug, Clone, Copy)]
struct Outage {
    from: Instant,
    until: Instant,
    mode: OutageMode,
}

#[derive(Default)]
struct TargetState {
    outages: Mutex<Vec<Outage>>,
    served_ok: AtomicU64,
    refused: AtomicU64,
}

impl TargetState {
    fn outage_at(&self, at: Instant) -> Option<OutageMode> {
        let outages = self.outages.lock().unwrap_or_else(|p| p.into_inner());
        outages
            .iter()
            .find(|o| o.from <= at && at < o.until)
            .map(|o| o.mode)
    }
}

/// A running loopback target; it stops when dropped.
pub struct OutageTarget {
    addr: SocketAddr,
    state: Arc<TargetState>,
    accept: JoinHandle<()>,
}

impl OutageTarget {
    /// Binds a free port on 127.0.0.1 and starts serving on the current runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(TargetState::default());
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(Self {
            addr,
            state,
            accept,
        })
    }

    /// The URL to probe (`http://127.0.0.1:<port>/`).
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Refuses every request whose head is read in `[from, from + length)`.
    pub fn schedule(&self, from: Instant, length: Duration, mode: OutageMode) {
        let mut outages = self.state.outages.lock().unwrap_or_else(|p| p.into_inner());
        outages.push(Outage {
            from,
            until: from + length,
            mode,
        });
    }

    /// Forgets every scheduled outage.
    pub fn clear(&self) {
        self.state
            .outages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Requests answered `200` so far.
    pub fn served_ok(&self) -> u64 {
        self.state.served_ok.load(Ordering::Relaxed)
    }

    /// Requests refused (503 or closed) so far.
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::Relaxed)
    }
}

impl Drop for OutageTarget {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<TargetState>) {
    // Owned here so that aborting this task also ends every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, state.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(mut stream: TcpStream, state: Arc<TargetState>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // Read one request head (probes are GETs without a body).
        let head_end = loop {
            if let Some(pos) = find_head_end(&buf) {
                break pos;
            }
            if buf.len() > 16 * 1024 {
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let seen = Instant::now();
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let client_closes = head.contains("connection: close");
        buf.drain(..head_end);
        match state.outage_at(seen) {
            Some(OutageMode::Close) => {
                state.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(OutageMode::Status503) => {
                state.refused.fetch_add(1, Ordering::Relaxed);
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 12\r\nconnection: close\r\n\r\noutage test\n",
                    )
                    .await;
                return;
            }
            None => {
                state.served_ok.fetch_add(1, Ordering::Relaxed);
                let response: &[u8] = if client_closes {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n"
                };
                if stream.write_all(response).await.is_err() || client_closes {
                    return;
                }
            }
        }
    }
}

/// The index just past the blank line that ends an HTTP request head.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}
