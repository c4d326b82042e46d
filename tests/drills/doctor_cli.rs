//! `takeover doctor` and the check `takeover run` makes first, on a host whose
//! programs are hidden: fake program folders (`PATH` and
//! `TAKEOVER_PROGRAM_PATH`), an unreachable Docker, a missing worker binary.
//! Each missing-piece message doctor can produce here is asked for.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;
use serde_json::Value;

/// A folder holding links to the named host programs and nothing else.
fn fake_bin(name: &str, programs: &[&str]) -> PathBuf {
    let dir = temp_dir(&format!("doctor-bin-{name}"));
    for p in programs {
        let real = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(p))
            .find(|p| p.is_file());
        match real {
            Some(real) => std::os::unix::fs::symlink(real, dir.join(p)).unwrap(),
            // Doctor only looks for the file: an empty one stands in where the
            // host lacks the program.
            None => std::fs::write(dir.join(p), "").unwrap(),
        }
    }
    dir
}

fn doctor(bin: &Path, args: &[&str]) -> Output {
    takeover()
        .arg("doctor")
        .args(args)
        .env("PATH", bin)
        .env(takeover::stack::images::PROGRAM_PATH_ENV, bin)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {v}"))
}

const ALL_BUT_HAPROXY: [&str; 4] = ["redis-server", "xtables-nft-multi", "tc", "nginx"];

#[test]
fn a_path_without_haproxy_exits_2_with_the_apt_get_line() {
    let bin = fake_bin("no-haproxy", &ALL_BUT_HAPROXY);
    let out = doctor(&bin, &["--runtime", "process"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("missing  haproxy: no haproxy in "),
        "{stdout}"
    );
    assert!(
        stdout.contains("fix: sudo apt-get install -y haproxy"),
        "{stdout}"
    );
    assert!(
        stdout.contains("run: sudo apt-get install -y haproxy\n"),
        "{stdout}"
    );
    // With haproxy there, the same host is ready for the process runtime.
    let bin = fake_bin("with-haproxy", &["haproxy", "redis-server", "nginx"]);
    let out = doctor(&bin, &["--runtime", "process"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ready for runtime process"), "{stdout}");
}

#[test]
fn each_missing_host_program_has_its_message_and_one_line_installs_them_all() {
    let bin = fake_bin("empty", &[]);
    let out = doctor(&bin, &["--runtime", "process", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v = json_of(&out);
    for (name, file, package, status) in [
        ("haproxy", "haproxy", "haproxy", "missing"),
        ("redis-server", "redis-server", "redis-server", "missing"),
        ("iptables", "xtables-nft-multi", "iptables", "missing"),
        ("tc", "tc", "iproute2", "missing"),
        ("nginx", "nginx", "nginx", "degraded"),
    ] {
        let c = check(&v, name);
        assert_eq!(c["status"], status, "{c}");
        assert_eq!(
            c["detail"],
            format!("no {file} in {}", bin.display()),
            "{c}"
        );
        assert_eq!(
            c["fix"],
            format!("sudo apt-get install -y {package}"),
            "{c}"
        );
    }
    // The process runtime needs only haproxy and redis-server; iptables and tc
    // are Docker's, nginx nobody's.
    assert_eq!(
        v["blocking"],
        serde_json::json!(["haproxy", "redis-server"])
    );
    assert_eq!(
        v["apt_line"],
        "sudo apt-get install -y haproxy redis-server"
    );
    // The process runtime's own lookup says how to name a program elsewhere.
    let process_haproxy = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "haproxy" && c["need"] == "process")
        .unwrap();
    assert!(
        process_haproxy["fix"]
            .as_str()
            .unwrap()
            .contains("TAKEOVER_HAPROXY=PATH"),
        "{process_haproxy}"
    );
}

#[test]
fn docker_drills_need_iptables_and_tc_too() {
    let bin = fake_bin("docker-runtime", &["haproxy", "redis-server"]);
    let out = doctor(&bin, &["--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v = json_of(&out);
    let blocking: Vec<&str> = v["blocking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert!(
        blocking.contains(&"iptables") && blocking.contains(&"tc"),
        "{v}"
    );
    assert!(
        v["apt_line"]
            .as_str()
            .unwrap()
            .ends_with("iptables iproute2"),
        "{v}"
    );
}

#[test]
fn an_unreachable_docker_is_missing_for_docker_drills_only() {
    let bin = fake_bin(
        "no-docker",
        &["haproxy", "redis-server", "xtables-nft-multi", "tc"],
    );
    let out = takeover()
        .args(["doctor", "--json"])
        .env("PATH", &bin)
        .env(takeover::stack::images::PROGRAM_PATH_ENV, &bin)
        .env("DOCKER_HOST", "unix:///nonexistent/takeover-doctor.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json_of(&out);
    let docker = check(&v, "docker");
    assert_eq!(docker["status"], "missing", "{docker}");
    assert!(
        docker["fix"]
            .as_str()
            .unwrap()
            .contains("--runtime process"),
        "{docker}"
    );
    assert_eq!(v["blocking"], serde_json::json!(["docker"]));
    assert!(
        v["apt_line"].is_null(),
        "no package brings a running engine: {v}"
    );
    let out = takeover()
        .args(["doctor", "--runtime", "process"])
        .env("PATH", &bin)
        .env(takeover::stack::images::PROGRAM_PATH_ENV, &bin)
        .env("DOCKER_HOST", "unix:///nonexistent/takeover-doctor.sock")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_missing_worker_binary_says_how_to_build_it() {
    // A copy of takeover in a folder with no synth-worker near it, run from there.
    let dir = temp_dir("doctor-no-worker");
    let exe = dir.join("takeover");
    std::fs::copy(env!("CARGO_BIN_EXE_takeover"), &exe).unwrap();
    let bin = fake_bin("no-worker", &["haproxy", "redis-server"]);
    let out = loop {
        let run = std::process::Command::new(&exe)
            .args(["doctor", "--runtime", "process"])
            .current_dir(&dir)
            .env("PATH", &bin)
            .env(takeover::stack::images::PROGRAM_PATH_ENV, &bin)
            .env_remove("TAKEOVER_WORKER_BINARY")
            .env_remove("CARGO_TARGET_DIR")
            .output();
        match run {
            // Another test's child forked while the copy was open for writing
            // holds it for a moment ("text file busy"): try again.
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => break other.unwrap(),
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("missing  synth-worker:"), "{stdout}");
    assert!(
        stdout.contains("fix: cargo build --release --workspace"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_degraded_pieces_are_listed_with_their_fix_and_do_not_block() {
    let bin = fake_bin(
        "degraded",
        &["haproxy", "redis-server", "xtables-nft-multi", "tc"],
    );
    let out = doctor(&bin, &["--json", "--runtime", "process"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    for name in [
        "cgroup memory",
        "cgroup freezer",
        "iptables statistic",
        "sch_netem",
        "cuda driver",
    ] {
        let c = check(&v, name);
        match c["status"].as_str().unwrap() {
            "ok" => assert!(c["fix"].is_null(), "{c}"),
            "degraded" => assert!(c["fix"].is_string() && c["affects"].is_string(), "{c}"),
            other => panic!("{name} is {other}: only required pieces are missing"),
        }
    }
    // nginx is optional: degraded, never blocking.
    assert_eq!(check(&v, "nginx")["status"], "degraded");
    assert_eq!(v["blocking"], serde_json::json!([]));
}

#[test]
fn run_stops_before_the_stack_with_the_doctors_line() {
    let bin = fake_bin("run-no-haproxy", &ALL_BUT_HAPROXY);
    // The process runtime, and Docker's (whose images are baked from haproxy).
    for scenario in [
        "scenarios/kill-primary-process.yaml",
        "scenarios/kill-primary.yaml",
    ] {
        let out = takeover()
            .args(["run", scenario, "--plain"])
            .env("PATH", &bin)
            .env(takeover::stack::images::PROGRAM_PATH_ENV, &bin)
            .env_remove("TAKEOVER_HAPROXY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{scenario}: {stderr}");
        assert!(
            stderr.contains(
                "error: this machine lacks what the drill needs; run: sudo apt-get install -y haproxy\n"
            ),
            "{scenario}: {stderr}"
        );
        // Nothing started: no report, no stack.
        assert!(!String::from_utf8_lossy(&out.stdout).contains("report:"));
    }
}

#[test]
fn a_cuda_drill_needs_the_cuda_driver_first() {
    let mut spec = takeover::stack::StackSpec {
        runtime: takeover::stack::RuntimeKind::Process,
        ..Default::default()
    };
    spec.worker.backend = takeover::stack::Backend::Cuda;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(takeover::doctor::required(&[spec.runtime], &spec));
    let driver = Path::new("/proc/driver/nvidia/version").is_file();
    let blocked = d.blocking().iter().any(|c| c.name == "cuda driver");
    // On a GPU host the check passes; elsewhere it stops the drill with its fix.
    assert_eq!(blocked, !driver, "{:?}", d.blocking());
    if !driver {
        let out = takeover()
            .args([
                "run",
                "scenarios/kill-primary-process.yaml",
                "--worker-backend",
                "cuda",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("missing  cuda driver: no NVIDIA driver loaded"),
            "{stderr}"
        );
    }
}
