//! `takeover conformance URL` against real services: the reference worker
//! (a private redis-server and `synth-worker serve` on loopback ports) must pass
//! every clause; a small Python service that breaks the contract on purpose
//! (`tests/conformance/broken_worker.py`) must fail, naming the clauses it
//! breaks.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::skip::{skip, Need};
use crate::support::{one_drill_at_a_time, takeover, temp_dir};

/// A child process killed (and reaped) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `takeover conformance URL --json` and its parsed output.
fn conformance(url: &str) -> (Output, serde_json::Value) {
    let out = takeover()
        .args(["conformance", url, "--json", "--timeout", "60s"])
        .output()
        .expect("takeover runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

/// Clause ids with `verdict`.
fn with_verdict(json: &serde_json::Value, verdict: &str) -> Vec<String> {
    json["clauses"]
        .as_array()
        .expect("clauses")
        .iter()
        .filter(|c| c["verdict"] == verdict)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn worker_binary() -> PathBuf {
    takeover::stack::images::find_worker_binary(None).unwrap_or_else(|e| {
        panic!("this test needs the release worker binary (cargo build --release -p synth-worker): {e}")
    })
}

#[test]
fn the_reference_worker_passes_every_clause() {
    let _turn = one_drill_at_a_time();
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        skip(Need::RedisServer, "redis-server is not on PATH");
        return;
    }
    let dir = temp_dir("conformance-reference");
    let redis_port = free_port();
    let _redis = Killed(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    wait_listening(redis_port, "redis-server");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let log = dir.join("worker.log");
    let _worker = Killed(
        Command::new(worker_binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--redis", &format!("redis://127.0.0.1:{redis_port}")])
            .arg("--data-dir")
            .arg(&data)
            .args(["--worker-id", "primary", "--backend", "cpu"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start synth-worker"),
    );
    wait_listening(port, "synth-worker");

    let (out, json) = conformance(&format!("http://127.0.0.1:{port}"));
    let worker_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{json:#}\n{}\nworker log:\n{worker_log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<String> = json["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(with_verdict(&json, "PASS"), all, "{json:#}");
    assert_eq!(all.len(), takeover::conformance::CLAUSES.len());
    assert_eq!(json["service_contract_version"], contract::CONTRACT_VERSION);
    assert_eq!(json["summary"]["failed"], 0);
    let lease = json["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "status.lease")
        .unwrap();
    assert!(
        lease["evidence"]
            .as_str()
            .unwrap()
            .contains("primary at epoch 1"),
        "{lease}"
    );

    // The lines a person reads: one per clause and the summary.
    let text = takeover()
        .args(["conformance", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("PASS  status.lease"), "{stdout}");
    assert!(
        stdout.contains("12 clauses: 12 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_service_that_breaks_the_contract_fails_the_clauses_it_breaks() {
    let dir = temp_dir("conformance-broken");
    let port_file = dir.join("port");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/broken_worker.py");
    let _server = Killed(
        Command::new("python3")
            .arg(&script)
            .arg(&port_file)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the broken service did not start"
        );
        std::thread::sleep(Duration::from_millis(25));
    };

    let (out, json) = conformance(&format!("http://127.0.0.1:{port}"));
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    assert_eq!(
        with_verdict(&json, "FAIL"),
        ["submit", "submit.repeat", "status.lease", "manifest.audio"],
        "{json:#}"
    );
    let passed = with_verdict(&json, "PASS");
    for id in [
        "health",
        "status.states",
        "audio",
        "manifest",
        "error.unknown_job",
    ] {
        assert!(
            passed.iter().any(|p| p == id),
            "{id} did not pass: {json:#}"
        );
    }
    let submit = &json["clauses"][2];
    assert_eq!(submit["id"], "submit");
    assert!(
        submit["evidence"]
            .as_str()
            .unwrap()
            .contains("answered 200 (expected 201)"),
        "{submit}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_url_and_bad_arguments_exit_2_with_a_clear_error() {
    let port = free_port(); // bound, then released: nothing listens there
    let out = takeover()
        .args(["conformance", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing answers at"), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    for args in [
        vec!["conformance"],
        vec!["conformance", "127.0.0.1:8080"],
        vec!["conformance", "http://127.0.0.1:1", "--timeout", "soon"],
    ] {
        let out = takeover().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
