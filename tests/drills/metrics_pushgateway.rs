//! Drill metrics against a real Prometheus Pushgateway on loopback: pushed,
//! then read back through its API. Needs `prometheus-pushgateway` (installed
//! by .ci/run; a skip on a machine that has it fails CI). The end-to-end test
//! also needs `redis-server` and `haproxy` (a process-runtime drill).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::skip::{skip, Need};
use crate::support::*;
use serde_json::Value;
use takeover::report::model::Report;

/// A Pushgateway of this test's own, killed when dropped.
struct Gateway {
    child: Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_pushgateway() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join("prometheus-pushgateway"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let resp = reqwest::get(url).await.ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

/// Starts a Pushgateway on a free loopback port, without persistence, and
/// waits until it says it is ready. `None` (with a recorded skip) where the
/// program is missing.
async fn start_gateway() -> Option<Gateway> {
    let Some(program) = find_pushgateway() else {
        skip(
            Need::Pushgateway,
            "prometheus-pushgateway is not installed (Debian: apt-get install prometheus-pushgateway)",
        );
        return None;
    };
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--persistence.file=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-pushgateway starts");
    let gw = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    // A deadline for start-up, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, _)) = get(&format!("{}/-/ready", gw.url)).await {
            return Some(gw);
        }
        assert!(
            Instant::now() < deadline,
            "the pushgateway never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Pushgateway's groups, from `/api/v1/metrics`.
async fn groups(gw: &Gateway) -> Vec<Value> {
    let (status, body) = get(&format!("{}/api/v1/metrics", gw.url)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{v}");
    v["data"].as_array().unwrap().clone()
}

/// The value the group of `scenario` holds for `family` with the given extra labels.
fn value_in(
    groups: &[Value],
    scenario: &str,
    family: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let group = groups
        .iter()
        .find(|g| g["labels"]["scenario"] == scenario && g["labels"]["job"] == "takeover")?;
    let metrics = group[family]["metrics"].as_array()?;
    metrics
        .iter()
        .find(|m| labels.iter().all(|(k, v)| m["labels"][*k] == *v))
        .and_then(|m| m["value"].as_str())
        .map(|v| v.parse().unwrap())
}

fn fixture() -> Report {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report-oom-kill/report.json");
    takeover::report::json::read(&path).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reports_metrics_are_pushed_and_read_back_through_the_api() {
    let Some(gw) = start_gateway().await else {
        return;
    };
    let report = fixture();
    let base = takeover::report::metrics_export::check_url(&gw.url, false).unwrap();
    let pushed = takeover::report::metrics_export::push(&base, &[&report])
        .await
        .unwrap();
    assert_eq!(
        pushed[0].as_str(),
        format!(
            "{}/metrics/job/takeover/scenario/{}",
            gw.url, report.scenario.name
        )
    );
    let groups = groups(&gw).await;
    let name = report.scenario.name.as_str();
    for (figure, d) in &report.summary.figures {
        for (stat, want) in [("p50", d.p50), ("p95", d.p95), ("max", d.max)] {
            let got = value_in(
                &groups,
                name,
                &format!("takeover_drill_{figure}"),
                &[("stat", stat)],
            );
            assert_eq!(got, want, "{figure} {stat}");
        }
    }
    assert!(
        report.summary.figures["rto_ms"].p95.is_some(),
        "the fixture has an RTO"
    );
    let passed = if report.outcome == takeover::report::model::RunOutcome::Passed {
        1.0
    } else {
        0.0
    };
    assert_eq!(
        value_in(&groups, name, "takeover_drill_passed", &[]),
        Some(passed)
    );
    assert_eq!(
        value_in(&groups, name, "takeover_drill_ended_timestamp_seconds", &[]),
        Some(report.ended_at.timestamp_millis() as f64 / 1000.0)
    );
    // A second push of the same scenario replaces its group.
    let mut failed = report.clone();
    failed.outcome = takeover::report::model::RunOutcome::Failed;
    takeover::report::metrics_export::push(&base, &[&failed])
        .await
        .unwrap();
    let groups = self::groups(&gw).await;
    assert_eq!(
        value_in(&groups, name, "takeover_drill_passed", &[]),
        Some(0.0)
    );
    assert_eq!(
        value_in(
            &groups,
            name,
            "takeover_drill_outcome",
            &[("outcome", "failed")]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn takeover_run_writes_the_file_and_pushes_the_same_figures() {
    let Some(gw) = start_gateway().await else {
        return;
    };
    for need in [
        (Need::RedisServer, "redis-server"),
        (Need::Haproxy, "haproxy"),
    ] {
        if takeover::stack::process::programs::candidates(need.1, None, "TAKEOVER_TEST_UNSET")
            .iter()
            .all(|p| !p.is_file())
        {
            skip(
                need.0,
                &format!("{} is not installed: no process drill", need.1),
            );
            return;
        }
    }
    let _one = one_drill_at_a_time();
    let dir = temp_dir("metrics-run");
    let prom = dir.join("textfile/takeover.prom");
    let report_dir = dir.join("report");
    let out = tokio::task::spawn_blocking({
        let (prom, report_dir, url) = (prom.clone(), report_dir.clone(), gw.url.clone());
        move || {
            takeover()
                .args(["run", "scenarios/kill-primary-process.yaml", "--plain"])
                .arg("--report-dir")
                .arg(&report_dir)
                .arg("--metrics")
                .arg(&prom)
                .args(["--pushgateway", &url])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = takeover::report::json::read(&report_dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}); stdout: {stdout}\nstderr: {stderr}"));
    assert_eq!(
        out.status.code(),
        Some(i32::from(report.exit_code)),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("metrics pushed: "), "{stdout}");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.ends_with("# EOF\n"));
    let groups = groups(&gw).await;
    let name = report.scenario.name.as_str();
    let rto = report.summary.figures["rto_ms"].p95;
    assert!(rto.is_some(), "a kill drill measures an RTO: {stdout}");
    assert_eq!(
        value_in(&groups, name, "takeover_drill_rto_ms", &[("stat", "p95")]),
        rto
    );
    let line = format!("takeover_drill_rto_ms{{scenario=\"{name}\",stat=\"p95\"}} ");
    let in_file: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in {text}"))
        .parse()
        .unwrap();
    assert_eq!(Some(in_file), rto);
    assert_eq!(
        value_in(&groups, name, "takeover_drill_exit_code", &[]),
        Some(f64::from(report.exit_code))
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_remote_pushgateway_is_refused_before_the_drill() {
    let out = takeover()
        .args([
            "run",
            "scenarios/kill-primary-process.yaml",
            "--pushgateway",
            "http://192.0.2.7:9091",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--pushgateway-allow-remote"), "{stderr}");
}
