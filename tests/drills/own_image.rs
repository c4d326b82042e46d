//! A front-door drill of a service that is not `synth-worker`: an image built
//! here from local files (`FROM scratch`, a static busybox running `httpd` on
//! port 9000 with a `/healthz` file), run through `stack.worker.image`,
//! `command`, `env`, `port` and `health`, with no `workload`. The primary is
//! killed; the drill must measure the RTO, show the standby serving after
//! the kill, count the failed probes, report the job and audio checks as not
//! applicable, and leave nothing behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::run::{run_scenario_file, DrillRun};
use crate::support::skip::{skip, Need};
use crate::support::{one_drill_at_a_time, temp_dir};
use takeover::report::model::{IterationOutcome, RunOutcome, Verdict};

/// Where Debian's `busybox-static` puts its program.
const BUSYBOX: &str = "/bin/busybox";
/// What the workers' environment carries, read back through each of them.
const GREETING: &str = "hello-from-stack-worker-env";

/// Whether the ELF file at `path` is statically linked (has no `PT_INTERP`
/// program header): only such a program runs alone in a `FROM scratch` image.
fn statically_linked(path: &Path) -> bool {
    let Ok(elf) = std::fs::read(path) else {
        return false;
    };
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    // A 64-bit little-endian ELF: program headers at e_phoff, e_phnum of them.
    if elf.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        // PT_INTERP (3) names the dynamic loader.
        elf.get(at..at + 4) != Some(&3u32.to_le_bytes()[..])
    })
}

/// The test's own image, removed when dropped (also when the test fails).
struct OwnImage {
    tag: String,
}

impl OwnImage {
    /// Builds `FROM scratch` + busybox + a `/www` folder holding `healthz`.
    fn build(dir: &Path) -> OwnImage {
        let context = dir.join("image");
        std::fs::create_dir_all(context.join("www")).unwrap();
        std::fs::copy(BUSYBOX, context.join("busybox")).unwrap();
        std::fs::write(context.join("www/healthz"), "ok\n").unwrap();
        std::fs::write(
            context.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nLABEL takeover.test=own-image\n",
        )
        .unwrap();
        let tag = format!("takeover-test-own-image:{}", std::process::id());
        let out = Command::new("docker")
            .args(["build", "-q", "-t", &tag])
            .arg(&context)
            .output()
            .expect("docker build runs");
        assert!(
            out.status.success(),
            "docker build of the test image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        OwnImage { tag }
    }
}

impl Drop for OwnImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.tag])
            .output();
    }
}

/// The scenario: the image's service on port 9000, checked on `/healthz`;
/// a runbook reads the greeting that `env` put in each worker's `/www`; then
/// the primary is killed. The front door does not pass a failed request on to
/// the standby (`redispatch: false`), so the outage shows as failed probes.
fn scenario(image: &str, frontdoor: &str) -> String {
    format!(
        r#"name: own-image-kill-primary-{frontdoor}
description: A front-door drill of a busybox httpd image, not synth-worker.
stack:
  # No retry on the other server: the kill must show as failed probes.
  frontdoor: {{kind: {frontdoor}, redispatch: false}}
  worker:
    image: {image}
    command: [/bin/busybox, sh, -c, 'echo "$GREETING" > /www/greeting.txt && exec /bin/busybox httpd -f -p 9000 -h /www']
    env: {{GREETING: {GREETING}}}
    port: 9000
    health: {{path: /healthz, status: 200}}
probe:
  path: /healthz
steps:
  - after: 1s
    runbook: {{script: greeting.sh, timeout: 20s}}
  - after: 1s
    fault: {{kind: kill, target: primary}}
  # A second of service from the standby alone.
  - wait: 1s
expect:
  rto: 10s
  outage: 10s
  errors: 1000
"#
    )
}

/// Reads the greeting straight from each worker (not through the front door).
const GREETING_RUNBOOK: &str = "#!/bin/sh\nset -eu\n\
    printf 'primary:%s\\n' \"$(curl -fsS \"$TAKEOVER_PRIMARY_URL/greeting.txt\")\"\n\
    printf 'standby:%s\\n' \"$(curl -fsS \"$TAKEOVER_STANDBY_URL/greeting.txt\")\"\n";

/// Runs the drill with `frontdoor` and checks what a front-door drill of a
/// service of one's own must show.
fn own_image_drill(frontdoor: &str) {
    if !statically_linked(Path::new(BUSYBOX)) {
        skip(
            Need::BusyboxStatic,
            &format!(
                "{BUSYBOX} is missing or not statically linked (apt-get install busybox-static)"
            ),
        );
        return;
    }
    let _turn = one_drill_at_a_time();
    crate::support::require_docker();
    let dir = temp_dir(&format!("own-image-{frontdoor}"));
    let image = OwnImage::build(&dir);
    let path: PathBuf = dir.join("own-image.yaml");
    std::fs::write(&path, scenario(&image.tag, frontdoor)).unwrap();
    let runbook = dir.join("greeting.sh");
    std::fs::write(&runbook, GREETING_RUNBOOK).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runbook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = run_scenario_file(&format!("own-image-{frontdoor}-report"), &path, &[]);
    check_drill(&run, frontdoor);
    run.clean();
    let tag = image.tag.clone();
    drop(image);
    let left = crate::support::docker_lines(&["images", "-q", &tag]);
    assert!(left.is_empty(), "the test image {tag} was left: {left:?}");
    std::fs::remove_dir_all(&dir).ok();
}

fn check_drill(run: &DrillRun, frontdoor: &str) {
    let report = &run.report;
    let it = &report.iterations[0];
    assert_eq!(
        run.code,
        Some(0),
        "the drill did not pass: {:?}\n{:?}\n{}",
        it.reasons,
        report.expectations,
        run.output
    );
    assert_eq!(report.outcome, RunOutcome::Passed);
    assert_eq!(it.outcome, IterationOutcome::Passed, "{:?}", it.reasons);

    // The kill was witnessed and the RTO measured, within reason.
    let kill = it
        .faults
        .iter()
        .find(|f| f.kind == "kill")
        .expect("a kill fault");
    assert!(kill.in_effect_at_ms.is_some(), "{kill:?}");
    let rto = it.figures.rto_ms.expect("a measured RTO");
    assert!(
        (0.0..10_000.0).contains(&rto),
        "RTO {rto} ms: {:?}",
        it.figures
    );
    eprintln!(
        "{frontdoor}: RTO {rto:.0} ms, outage {:?} ms, {} failed of {} probes",
        it.figures.outage_ms, it.figures.errors, it.figures.probes
    );
    assert!(it.figures.onset_ms.is_some(), "{:?}", it.figures);

    // Failed probes are counted: the figure is the probes that were not good.
    let bad = it.probes.ok.iter().filter(|ok| !**ok).count() as u64;
    assert_eq!(it.figures.errors, bad, "{:?}", it.figures);
    assert!(
        bad > 0,
        "without redispatch the kill failed no probe: {:?}",
        it.figures
    );
    assert!(it.figures.probes > 100, "{:?}", it.figures);

    // The standby served after the kill, by the front door's own log.
    let after_kill = |i: usize| it.probes.scheduled_ms[i] > kill.requested_at_ms;
    let standby_served = (0..it.probes.ok.len())
        .filter(|&i| after_kill(i) && it.probes.ok[i])
        .filter(|&i| it.probes.served_by.get(i).map(String::as_str) == Some("standby"))
        .count();
    assert!(
        standby_served >= 20,
        "{frontdoor}: the standby served {standby_served} good probes after the kill; served_by: {:?}",
        it.probes.served_by
    );

    // `env` reached both workers: the runbook read it back from each.
    let greeting = &it.runbooks[0];
    assert_eq!(greeting.exit_code, Some(0), "{greeting:?}");
    for role in ["primary", "standby"] {
        assert!(
            greeting.stdout.contains(&format!("{role}:{GREETING}")),
            "{role} did not get the env: {greeting:?}"
        );
    }

    // No job: its checks did not apply, and say so.
    assert!(it.job.is_none() && it.audio.is_none());
    assert!(it.figures.job_rto_ms.is_none() && it.figures.work_lost_frames.is_none());
    let checks: Vec<&str> = report
        .not_applicable
        .iter()
        .map(|n| n.check.as_str())
        .collect();
    assert_eq!(
        checks,
        [
            "job_rto_ms",
            "work_lost_frames",
            "audio",
            "job",
            "takeovers"
        ]
    );
    assert!(!report.summary.figures.contains_key("job_rto_ms"));
    assert!(run.markdown.contains("## Checks that did not apply"));
    assert!(
        run.output.contains("front-door figures only"),
        "{}",
        run.output
    );
    // The verdict rests on the front-door expectations alone, all held.
    let names: Vec<&str> = report
        .expectations
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["rto.max", "outage.max", "errors"]);
    assert!(
        report
            .expectations
            .iter()
            .all(|e| e.verdict == Verdict::Held),
        "{:?}",
        report.expectations
    );
    // The worker image is the test's own, not synth-worker's.
    assert!(
        report
            .environment
            .worker_image
            .as_deref()
            .is_some_and(|i| i.starts_with("takeover-test-own-image:")),
        "{:?}",
        report.environment
    );
}

#[test]
fn a_kill_of_an_image_of_ones_own_is_drilled_through_haproxy() {
    own_image_drill("haproxy");
}

#[test]
fn a_kill_of_an_image_of_ones_own_is_drilled_through_nginx() {
    own_image_drill("nginx");
}
