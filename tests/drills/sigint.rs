//! Ctrl-C in the middle of a drill: the stack goes, nothing labelled with the
//! run id is left (containers, networks, volumes).

use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_run_interrupted_with_sigint_leaves_nothing_behind() {
    let _turn = one_drill_at_a_time();
    require_docker();
    let dir = temp_dir("sigint");
    let mut child = takeover()
        .args(["run", "scenarios/kill-primary.yaml", "--plain"])
        .arg("--report-dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("takeover starts");
    let owner = format!("takeover.owner.pid={}", child.id());

    // Wait until the run's containers exist.
    let started = Instant::now();
    let run_id = loop {
        let ids = docker_lines(&[
            "ps",
            "-a",
            "--filter",
            &format!("label={owner}"),
            "--format",
            "{{.Label \"takeover.run\"}}",
        ]);
        if ids.len() >= 2 {
            break ids[0].clone();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("takeover exited ({status}) before its stack was up");
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no containers after 240 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    // SAFETY: a plain kill(2) to our own child.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "takeover did not exit within 90 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .ok();
    assert!(
        !status.success(),
        "an interrupted drill must not report success"
    );
    let left = objects_with_label(&format!("takeover.run={run_id}"));
    assert!(
        left.is_empty(),
        "left behind after SIGINT: {left:?}\n{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
