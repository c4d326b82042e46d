//! The harness's outage figure against an independent witness.
//!
//! During one `kill-primary` drill a second client that shares no code with
//! `src/probe` (tests/witness/http_witness.py: plain Python, one thread per
//! request, a new connection each, every 5 ms) probes the same front door.
//! The harness's `outage_ms` must agree with the outage that client saw within
//! max(2 probe intervals, 20 ms); and the figures the report prints must equal
//! those recomputed from report.json alone.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::*;
use takeover::report::model::Report;

/// One request of the witness, as it wrote it.
#[derive(Debug, serde::Deserialize)]
struct WitnessRequest {
    sent_unix_ms: f64,
    ok: bool,
    error: Option<String>,
}

fn start_witness(url: &str, out: &Path) -> Child {
    Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/witness/http_witness.py"))
        .arg(url)
        .arg(out)
        .args([
            "--interval-ms",
            "5",
            "--timeout-ms",
            "1000",
            "--duration-s",
            "240",
        ])
        .spawn()
        .expect("python3 runs the witness")
}

fn stop_witness(mut child: Child) {
    // SIGTERM: the witness waits for its requests in flight and writes its record.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("the witness ends");
    assert!(status.success(), "the witness failed: {status}");
}

/// The outage the witness saw between `from_unix_ms` and `to_unix_ms`: from
/// its first failed request to the first good one that begins `sustain_ms` of
/// good requests only. 0 when none failed; `None` when it never recovered.
fn witness_outage(
    requests: &[WitnessRequest],
    from_unix_ms: f64,
    to_unix_ms: f64,
    sustain_ms: f64,
) -> Option<f64> {
    let after: Vec<&WitnessRequest> = requests
        .iter()
        .filter(|r| r.sent_unix_ms >= from_unix_ms && r.sent_unix_ms <= to_unix_ms)
        .collect();
    let Some(first_failed) = after.iter().position(|r| !r.ok) else {
        return Some(0.0);
    };
    let mut i = first_failed + 1;
    while i < after.len() {
        if after[i].ok {
            let start = after[i].sent_unix_ms;
            let run_end = after[i..]
                .iter()
                .position(|r| !r.ok)
                .map(|k| i + k)
                .unwrap_or(after.len());
            let last_good = after[run_end - 1].sent_unix_ms;
            if last_good - start >= sustain_ms {
                return Some(start - after[first_failed].sent_unix_ms);
            }
            i = run_end;
        } else {
            i += 1;
        }
    }
    None
}

#[test]
fn the_outage_agrees_with_an_independent_client_and_the_figures_recompute() {
    let _one = one_drill_at_a_time();
    require_docker();
    let dir = temp_dir("witness");
    let witness_out = dir.join("witness.jsonl");
    let mut drill = takeover()
        .args(["run", "scenarios/kill-primary.yaml", "--plain"])
        .arg("--report-dir")
        .arg(&dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("takeover runs");
    let mut lines = BufReader::new(drill.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let url = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the drill ended before its stack was up:\n{seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(at) = line.find("front door http://") {
            let url = line[at + "front door ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches(',')
                .to_string();
            break url;
        }
    };
    let witness = start_witness(&format!("{url}/health"), &witness_out);
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        for line in lines.map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let status = drill.wait().expect("the drill ends");
    stop_witness(witness);
    let output = format!("{seen}{}", rest.join().unwrap());

    let report: Report = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json"))
            .unwrap_or_else(|e| panic!("no report.json ({e})\n{output}")),
    )
    .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the kill drill must pass:\n{output}"
    );
    let it = &report.iterations[0];
    let fault = &it.faults[0];
    let outage = it.figures.outage_ms.expect("an outage figure");

    // The witness's view, from the instant the kill was requested.
    let t0_unix_ms = it.started_at.timestamp_micros() as f64 / 1e3;
    let requests: Vec<WitnessRequest> = std::fs::read_to_string(&witness_out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(requests.len() > 1000, "the witness sent {}", requests.len());
    let sustain_ms = report.probe_interval_ms * 10.0;
    // Both clients are judged over the same window: from the kill request to
    // the harness's last probe (the witness runs on through the teardown).
    let last_probe_ms = it.probes.sent_ms.last().copied().expect("probes were sent");
    let seen_by_witness = witness_outage(
        &requests,
        t0_unix_ms + fault.requested_at_ms,
        t0_unix_ms + last_probe_ms,
        sustain_ms,
    )
    .expect("the witness saw the service recover");
    let failed: Vec<String> = requests
        .iter()
        .filter(|r| !r.ok && r.sent_unix_ms >= t0_unix_ms + fault.requested_at_ms - 100.0)
        .take(20)
        .map(|r| {
            format!(
                "{:.0} ms: {}",
                r.sent_unix_ms - t0_unix_ms,
                r.error.as_deref().unwrap_or("")
            )
        })
        .collect();
    let tolerance = (2.0 * report.probe_interval_ms).max(20.0);
    eprintln!(
        "harness outage {outage:.1} ms, witness outage {seen_by_witness:.1} ms (tolerance {tolerance} ms); witness failures: {failed:?}; front door accounts: {:?}",
        it.frontdoor_accounts
            .iter()
            .map(|a| format!("#{} {:?} {}", a.probe, a.finding, a.prober_saw))
            .collect::<Vec<_>>()
    );
    assert!(
        (outage - seen_by_witness).abs() <= tolerance,
        "the harness says {outage:.1} ms of outage, the independent client {seen_by_witness:.1} ms (tolerance {tolerance} ms)\nwitness failures: {failed:#?}\nfront door: {:#?}",
        it.frontdoor_accounts
    );

    // Every figure recomputes from report.json alone.
    let sustain = report.scenario.definition["probe"]["sustain"]
        .as_u64()
        .unwrap() as usize;
    let again = takeover::run::figures::recompute(it, sustain);
    assert_eq!(
        again, it.figures,
        "figures recomputed from report.json differ"
    );
    let rerender = takeover().arg("report").arg(&dir).output().unwrap();
    let said = String::from_utf8_lossy(&rerender.stderr);
    assert!(rerender.status.success(), "{said}");
    assert!(said.contains("agree with the stored ones"), "{said}");

    for it in &report.iterations {
        assert!(objects_with_label(&format!("takeover.run={}", it.run_id)).is_empty());
    }
    std::fs::remove_dir_all(&dir).ok();
}
