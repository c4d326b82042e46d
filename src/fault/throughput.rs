//! Measuring the rate at which a container really sends: many small requests
//! pipelined on one connection to its published port on loopback, so that the
//! answers leave through its `eth0` (where a `bandwidth` limit sits) back to
//! the harness. HTTP services are asked for a page ([`http_pipeline`]); Redis,
//! which has no HTTP port, for `INFO` ([`redis_pipeline`]). The witness of a
//! bandwidth limit is this rate, measured under the limit, not the queueing
//! discipline's existence.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests to send for a measurement: the bytes, pipelined on one connection.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// What is sent, all at once.
    pub bytes: Vec<u8>,
    /// Words for the evidence (`pipelined GET /metrics`).
    pub what: String,
}

/// Enough `GET path` requests to bring back `want` bytes of small answers
/// (a few hundred bytes each); the connection is dropped once enough came.
pub fn http_pipeline(path: &str, want: u64) -> Pipeline {
    let requests = (want / 200 + 1).min(20_000);
    let one = format!("GET {path} HTTP/1.1\r\nHost: takeover\r\n\r\n");
    Pipeline {
        bytes: one.repeat(requests as usize).into_bytes(),
        what: format!("pipelined GET {path}"),
    }
}

/// `AUTH password`, then enough `INFO` commands (each answer is a few KB) to
/// bring back `want` bytes.
pub fn redis_pipeline(password: &str, want: u64) -> Pipeline {
    let requests = (want / 2_000 + 1).min(5_000);
    let mut bytes =
        format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n", password.len()).into_bytes();
    bytes.extend("*1\r\n$4\r\nINFO\r\n".repeat(requests as usize).as_bytes());
    Pipeline {
        bytes,
        what: "pipelined Redis INFO".to_string(),
    }
}

/// A measured transfer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// Bytes received after the first read (the first read only starts the clock).
    pub bytes: u64,
    /// From the first read to the last, in seconds.
    pub seconds: f64,
    /// `bytes * 8 / seconds`.
    pub bits_per_second: f64,
    /// When the first byte came, clock ms.
    pub first_byte_at_ms: f64,
}

/// A tc rate (`64kbit`, `1mbit`, `500kbps`, `2mibit`, a bare number of bits) in bits per second.
pub fn tc_rate_bits(rate: &str) -> Option<f64> {
    let split = rate
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rate.len());
    let (number, unit) = rate.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "kibit" => 1024.0,
        "mibit" => 1024.0 * 1024.0,
        "gibit" => 1024.0 * 1024.0 * 1024.0,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        "kibps" => 8.0 * 1024.0,
        "mibps" => 8.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    (value > 0.0).then_some(value * factor)
}

/// Whether `measured` bits per second shows a limit of `limit` bits per second in effect:
/// at most the limit plus `margin` (a share, e.g. 0.5), which leaves room for the bucket's
/// burst counted inside the measurement.
pub fn under_limit(measured: f64, limit: f64, margin: f64) -> bool {
    measured.is_finite() && measured <= limit * (1.0 + margin)
}

/// Bytes to move for a measurement at `limit` bits per second: about two seconds' worth,
/// at least 16 KB (four times a 32 kbit burst) and at most 2 MB.
pub fn bytes_to_move(limit: f64) -> u64 {
    ((limit / 8.0 * 2.0) as u64).clamp(16_000, 2_000_000)
}

/// Sends `pipeline` to `addr` (`127.0.0.1:PORT`) on one connection and times the
/// answers until `want` bytes came; `limit` bounds the whole transfer. A transfer
/// cut by `limit` still counts when at least a quarter of `want` came.
pub async fn measure(
    addr: &str,
    pipeline: &Pipeline,
    want: u64,
    limit: Duration,
    clock: &crate::clock::Clock,
) -> Result<Measured, String> {
    let run = async {
        let mut conn = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (mut reader, mut writer) = conn.split();
        let send = async {
            writer
                .write_all(&pipeline.bytes)
                .await
                .map_err(|e| format!("sending the requests to {addr}: {e}"))
        };
        let receive = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut first: Option<(tokio::time::Instant, f64)> = None;
            let mut last = tokio::time::Instant::now();
            let mut bytes = 0u64;
            while bytes < want {
                let n = reader
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("reading from {addr}: {e}"))?;
                if n == 0 {
                    break;
                }
                last = tokio::time::Instant::now();
                match first {
                    None => first = Some((last, clock.now_ms())),
                    Some(_) => bytes += n as u64,
                }
            }
            Ok::<_, String>((first, last, bytes))
        };
        let (sent, received) = tokio::join!(send, receive);
        sent?;
        received
    };
    let (first, last, bytes) = match tokio::time::timeout(limit, run).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(format!(
                "fewer than {want} bytes came from {addr} within {} ms",
                limit.as_millis()
            ))
        }
    };
    let Some((started, first_byte_at_ms)) = first else {
        return Err(format!("{addr} sent nothing"));
    };
    let seconds = (last - started).as_secs_f64();
    if bytes < want / 4 || seconds <= 0.0 {
        return Err(format!(
            "too little came from {addr} to measure a rate ({bytes} bytes in {seconds:.3} s)"
        ));
    }
    Ok(Measured {
        bytes,
        seconds,
        bits_per_second: bytes as f64 * 8.0 / seconds,
        first_byte_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_rates_are_read_in_bits_per_second() {
        assert_eq!(tc_rate_bits("64kbit"), Some(64_000.0));
        assert_eq!(tc_rate_bits("1mbit"), Some(1_000_000.0));
        assert_eq!(tc_rate_bits("500kbps"), Some(4_000_000.0));
        assert_eq!(tc_rate_bits("2mibit"), Some(2.0 * 1024.0 * 1024.0));
        assert_eq!(tc_rate_bits("9600"), Some(9600.0));
        assert_eq!(tc_rate_bits("fast"), None);
        assert_eq!(tc_rate_bits("10furlongs"), None);
        assert_eq!(tc_rate_bits("0kbit"), None);
    }

    #[test]
    fn only_a_rate_under_the_limit_plus_the_margin_is_a_witness() {
        assert!(under_limit(70_000.0, 64_000.0, 0.5));
        assert!(!under_limit(200_000.0, 64_000.0, 0.5));
        assert!(!under_limit(f64::INFINITY, 64_000.0, 0.5));
        assert_eq!(bytes_to_move(64_000.0), 16_000);
        assert_eq!(bytes_to_move(1e6), 250_000);
        assert_eq!(bytes_to_move(1e10), 2_000_000);
    }

    #[test]
    fn a_redis_pipeline_authenticates_first_and_asks_for_info() {
        let p = redis_pipeline("s3cret", 10_000);
        let text = String::from_utf8(p.bytes).unwrap();
        assert!(
            text.starts_with("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n"),
            "{text:?}"
        );
        assert_eq!(text.matches("INFO").count(), 6);
        let get = http_pipeline("/health", 1_000);
        assert_eq!(
            String::from_utf8(get.bytes)
                .unwrap()
                .matches("GET /health ")
                .count(),
            6
        );
    }

    /// A loopback server answering every pipelined request with `body_len` bytes, sending
    /// at most `bytes_per_tick` every 10 ms when `paced`.
    async fn server(body_len: usize, pace: Option<usize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let body = "x".repeat(body_len);
                    let answer =
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {body_len}\r\n\r\n{body}");
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut pending = 0usize;
                    loop {
                        let n = match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        pending += buf[..n].windows(4).filter(|w| w == b"\r\n\r\n").count();
                        while pending > 0 {
                            pending -= 1;
                            let bytes = answer.as_bytes();
                            match pace {
                                None => {
                                    if conn.write_all(bytes).await.is_err() {
                                        return;
                                    }
                                }
                                Some(tick) => {
                                    for part in bytes.chunks(tick) {
                                        tokio::time::sleep(Duration::from_millis(10)).await;
                                        if conn.write_all(part).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
        addr.to_string()
    }

    #[tokio::test]
    async fn a_paced_sender_measures_near_its_pace_and_a_free_one_far_above() {
        let clock = crate::clock::Clock::start();
        // 1000 bytes every 10 ms: 800 kbit/s.
        let slow = server(2000, Some(1000)).await;
        let get = http_pipeline("/metrics", 400_000);
        let m = measure(&slow, &get, 40_000, Duration::from_secs(10), &clock)
            .await
            .unwrap();
        assert!(m.bits_per_second < 800_000.0 * 1.2, "{m:?}");
        assert!(under_limit(m.bits_per_second, 800_000.0, 0.5));
        let free = server(2000, None).await;
        let m = measure(&free, &get, 400_000, Duration::from_secs(10), &clock)
            .await
            .unwrap();
        assert!(!under_limit(m.bits_per_second, 800_000.0, 0.5), "{m:?}");
    }
}
