//! Several hosts on one machine: the test bed of `scripts/testbed-hosts.sh`
//! (a network namespace and a Docker engine per host). These tests check the
//! facts the multi-host drills stand on: each engine answers, a container on
//! one host reaches a port another host published on its address (and back),
//! a port published on 127.0.0.1 stays on its host, an image built on one
//! engine is copied into another, and `down` leaves nothing. Then the host
//! drills: a stack spread over the hosts (`stack.hosts`) through kill-primary,
//! host-crash, host-partition (of the primary's host and of Redis's), a
//! rolling host loss, host-loss and host-bandwidth, each passing with exact
//! audio and leaving nothing on any engine, and `takeover clean` sweeping the
//! engines after a SIGKILLed run. Last, h1's engine over mutual TLS: it
//! serves only clients of its CA, and a drill passes with h1 reached that way.

use std::process::Command;

use takeover::stack::docker::{connect_engine, connect_to};
use takeover::stack::hosts::TlsSpec;
use takeover::stack::images::{copy_image, ensure_one, ImageKind};
use takeover::stack::ImagesSpec;

use takeover::report::model::Verdict;

use crate::support::one_drill_at_a_time;
use crate::support::run::{run_scenario, run_scenario_file, DrillRun};
use crate::support::testbed::{self, Host};

/// The label every container these tests start carries.
const LABEL: &str = "takeover.run=drills-hosts";

/// The Redis and sidecar images on every host: built once, from this
/// machine's binaries, on the first host's engine, then copied into each
/// other engine (there is no registry); their references.
fn images_on(hosts: &[Host], runtime: &tokio::runtime::Runtime) -> (String, String) {
    runtime.block_on(async {
        let mut engines = Vec::new();
        for host in hosts {
            engines.push(
                connect_to(&host.docker)
                    .await
                    .expect("the host's engine answers"),
            );
        }
        let spec = ImagesSpec::default();
        let redis = ensure_one(&engines[0], ImageKind::Redis, &spec)
            .await
            .unwrap();
        let sidecar = ensure_one(&engines[0], ImageKind::Sidecar, &spec)
            .await
            .unwrap();
        for to in &engines[1..] {
            for reference in [&redis.reference, &sidecar.reference] {
                // A host drill of this binary may have copied it there already.
                let had = takeover::stack::images::exists(to, reference).await.unwrap();
                assert_eq!(
                    copy_image(&engines[0], to, reference).await.unwrap(),
                    !had,
                    "{reference}: copied {had} though the engine had it, or not copied though it lacked it"
                );
                // Once there, it is not copied again.
                assert!(!copy_image(&engines[0], to, reference).await.unwrap());
                let (a, b) = (
                    engines[0].inspect_image(reference).await.unwrap().id,
                    to.inspect_image(reference).await.unwrap().id,
                );
                // An image a host drill copied from this machine's engine has
                // that engine's id; one copied here keeps h1's.
                if !had {
                    assert_eq!(a, b, "{reference} changed on its way between engines");
                }
            }
        }
        (redis.reference, sidecar.reference)
    })
}

/// Starts Redis on `host`, published on its address and on its 127.0.0.1.
fn redis_on(host: &Host, image: &str, address_port: u16, loopback_port: u16) {
    let out = host.docker(&[
        "run",
        "-d",
        "--name",
        "tb-redis",
        "--label",
        LABEL,
        "-p",
        &format!("{}:{address_port}:6379", host.address),
        "-p",
        &format!("127.0.0.1:{loopback_port}:6379"),
        image,
    ]);
    assert!(out.status.success(), "{out:?}");
}

/// A bash script that sends Redis a PING at `address:port` through bash's
/// `/dev/tcp` and prints the answer's line (`+PONG`).
fn ping_script(address: &str, port: u16) -> String {
    format!(
        "exec 3<>/dev/tcp/{address}/{port} || exit 7; printf 'PING\\r\\n' >&3; \
         read -r -t 3 line <&3; printf '%s' \"${{line%$'\\r'}}\""
    )
}

/// What a PING to `address:port` from a fresh container on `from` answered
/// (`+PONG`), or why it did not.
fn ping_from(from: &Host, sidecar: &str, address: &str, port: u16) -> String {
    let script = ping_script(address, port);
    let out = from.docker(&[
        "run",
        "--rm",
        "--label",
        LABEL,
        // A dropped SYN fails the connect in about 3 s, not 2 minutes.
        "--sysctl",
        "net.ipv4.tcp_syn_retries=1",
        "--entrypoint",
        "/usr/bin/bash",
        sidecar,
        "-c",
        &script,
    ]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// The same PING from `host`'s own network namespace (not a container).
fn ping_in_namespace(host: &Host, address: &str, port: u16) -> String {
    let script = ping_script(address, port);
    let out = Command::new("nsenter")
        .arg(format!("--net={}", host.netns()))
        .args(["timeout", "5", "bash", "-c", &script])
        .output()
        .expect("nsenter runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn hosts_reach_each_other_only_on_their_addresses_and_down_leaves_nothing() {
    let _turn = one_drill_at_a_time();
    let Some(mut bed) = testbed::shared() else {
        return;
    };
    let hosts = bed.as_ref().expect("the test bed is up").hosts.clone();
    let (h1, h2) = (&hosts[0], &hosts[1]);

    // Each engine answers, from its own namespace: its bridge is its own.
    for host in &hosts {
        let out = host.docker(&["info", "--format", "{{.Name}} {{.DockerRootDir}}"]);
        assert!(out.status.success(), "{}: {out:?}", host.name);
        let info = String::from_utf8_lossy(&out.stdout);
        assert!(
            info.contains(&format!("{}/{}", testbed::DATA_DIR, host.name)),
            "{}'s engine has someone else's data root: {info}",
            host.name
        );
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (redis, sidecar) = images_on(&hosts, &runtime);
    redis_on(h1, &redis, 16379, 16380);
    redis_on(h2, &redis, 16379, 16380);

    // Across hosts, both ways, by the other host's address.
    assert_eq!(ping_from(h1, &sidecar, &h2.address, 16379), "+PONG");
    assert_eq!(ping_from(h2, &sidecar, &h1.address, 16379), "+PONG");

    // The port h2 published on its 127.0.0.1 answers there...
    assert_eq!(ping_in_namespace(h2, "127.0.0.1", 16380), "+PONG");
    // ... and from nowhere else: not by h2's address from h1, nor from the
    // root namespace.
    assert_ne!(ping_from(h1, &sidecar, &h2.address, 16380), "+PONG");
    assert_ne!(ping_in_namespace(h1, &h2.address, 16380), "+PONG");
    let root = Command::new("timeout")
        .args([
            "5",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{}/16380 && echo connected", h2.address),
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&root.stdout).contains("connected"),
        "a port published on h2's 127.0.0.1 was reachable from the root namespace"
    );

    // `down` removes every namespace, link, route, rule, process, mount,
    // cgroup and folder, even with containers still running.
    testbed::down(&mut bed);
    let left = testbed::leftovers();
    assert!(left.is_empty(), "the test bed left: {left:#?}");
}

/// A test bed whose owner vanished (its state kept, an engine SIGKILLed) is
/// removed by `takeover clean --hosts`, with nothing left behind.
#[test]
fn takeover_clean_hosts_removes_a_test_bed_left_up() {
    let _turn = one_drill_at_a_time();
    let Some(mut bed) = testbed::shared() else {
        return;
    };
    let pidfile = format!("{}/h1/dockerd.pid", testbed::STATE_DIR);
    let pid = std::fs::read_to_string(&pidfile).expect("h1's engine has a pid file");
    let killed = Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Forgotten, as by a harness that was killed: nobody runs its `down`.
    *bed = None;
    let out = crate::support::takeover()
        .args(["clean", "--hosts"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("took the multi-host test bed down"), "{text}");
    let left = testbed::leftovers();
    assert!(left.is_empty(), "`takeover clean --hosts` left: {left:#?}");
}

/// Seconds since the epoch, now.
fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The names of the containers of `run_id` that had `event` on `host`'s
/// engine since `since` (seconds since the epoch), one a line.
fn events_on(host: &Host, since: u64, run_id: &str, event: &str) -> String {
    let out = host.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &now_unix().to_string(),
        "--filter",
        &format!("label=takeover.run={run_id}"),
        "--filter",
        &format!("event={event}"),
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The objects of `run_id` on each test-bed host's engine (containers and
/// networks), and the run's own checkpoint folder if it is still there.
fn run_leftovers(hosts: &[Host], run_id: &str) -> Vec<String> {
    let label = format!("label=takeover.run={run_id}");
    let mut left = Vec::new();
    for host in hosts {
        for args in [
            ["ps", "-a", "--filter", &label, "--format", "{{.Names}}"],
            ["network", "ls", "--filter", &label, "--format", "{{.Name}}"],
        ] {
            let out = host.docker(&args);
            for name in String::from_utf8_lossy(&out.stdout).lines() {
                left.push(format!("{}: {name}", host.name));
            }
        }
    }
    let folder = std::env::temp_dir().join(format!("takeover-checkpoints-{run_id}"));
    if folder.exists() {
        left.push(format!("folder {}", folder.display()));
    }
    left
}

/// kill-primary over three hosts: the primary on h1, the standby on h2, the
/// front door and Redis on h3, every cross-host call by host address and
/// published port. It must pass as the one-engine drill does (witnessed kill,
/// RTO and job RTO measured, bit-identical audio) and leave nothing on any engine.
#[test]
fn hosts_kill_primary_passes_across_three_hosts_and_leaves_nothing() {
    let _turn = one_drill_at_a_time();
    let Some(bed) = testbed::shared() else {
        return;
    };
    let hosts = bed.as_ref().expect("the test bed is up").hosts.clone();
    let started = now_unix();
    let run = crate::core::passing_drill("hosts-kill-primary", "kill", &[]);
    let it = &run.report.iterations[0];
    // Each engine saw its own role: the primary killed on h1, the standby
    // started on h2, the front door and Redis started on h3 (the engines keep
    // their events after the containers are gone).
    let seen = |host: &Host, event: &str| events_on(host, started, &it.run_id, event);
    let name = |role: &str| format!("{}-{role}", it.run_id);
    let (h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2]);
    assert!(
        seen(h1, "kill").contains(&name("primary")),
        "h1: {}",
        seen(h1, "kill")
    );
    assert!(!seen(h1, "start").contains(&name("standby")));
    assert!(
        seen(h2, "start").contains(&name("standby")),
        "h2: {}",
        seen(h2, "start")
    );
    let h3_started = seen(h3, "start");
    assert!(
        h3_started.contains(&name("frontdoor")) && h3_started.contains(&name("state")),
        "h3: {h3_started}"
    );
    let left = run_leftovers(&hosts, &it.run_id);
    assert!(left.is_empty(), "the run left: {left:?}");
    run.clean();
}

/// The witness of the first fault of `kind` in the run's only iteration.
fn witness_of(run: &DrillRun, kind: &str) -> (String, serde_json::Value) {
    let fault = run.report.iterations[0]
        .faults
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} fault\n{}", run.output));
    let witness = fault
        .witness
        .clone()
        .unwrap_or_else(|| panic!("{kind} was not witnessed: {fault:?}"));
    (witness, fault.evidence.clone())
}

/// The run's rules left in the test bed's chain, and the qdiscs left on the hosts' links.
fn host_faults_left(hosts: &[Host], run_id: &str) -> Vec<String> {
    let mut left = Vec::new();
    let rules = Command::new("iptables")
        .args(["-w", "-S", "TAKEOVER-TB"])
        .output()
        .unwrap();
    for rule in String::from_utf8_lossy(&rules.stdout).lines() {
        if rule.contains(run_id) {
            left.push(format!("rule {rule}"));
        }
    }
    for host in hosts {
        let link = format!("{}{}", testbed::LINK_PREFIX, &host.name[1..]);
        let out = Command::new("tc")
            .args(["qdisc", "show", "dev", &link])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("tbf") {
            left.push(format!("qdisc on {link}: {text}"));
        }
    }
    left
}

/// Runs a shipped host drill on the shared test bed, asserts it passed and
/// left nothing on any engine (containers, networks, its checkpoint folder,
/// rules, qdiscs); the run and the hosts.
fn host_drill(name: &str, fault: &str, full: bool) -> Option<(DrillRun, Vec<Host>)> {
    let bed = testbed::shared()?;
    let hosts = bed.as_ref().expect("the test bed is up").hosts.clone();
    let run = if full {
        crate::core::passing_drill(name, fault, &[])
    } else {
        let run = run_scenario(name);
        assert_eq!(
            run.code,
            Some(0),
            "{name} did not pass: {:?}\n{}",
            run.report.iterations.first().map(|it| &it.reasons),
            run.output
        );
        run
    };
    witness_of(&run, fault);
    let run_id = run.report.iterations[0].run_id.clone();
    let left = run_leftovers(&hosts, &run_id);
    assert!(left.is_empty(), "{name} left: {left:?}");
    let left = host_faults_left(&hosts, &run_id);
    assert!(left.is_empty(), "{name} left: {left:?}");
    Some((run, hosts))
}

/// The primary's host crashes: every container there dies at once (one
/// here: the primary), witnessed by the engine's `die` events.
#[test]
fn host_crash_primary_passes_and_the_crash_is_witnessed_per_container() {
    let _turn = one_drill_at_a_time();
    let Some((run, _)) = host_drill("host-crash-primary", "host-crash", true) else {
        return;
    };
    let (witness, evidence) = witness_of(&run, "host-crash");
    assert!(witness.contains("host h1 crashed"), "{witness}");
    let died = evidence["died"].as_array().unwrap();
    assert_eq!(died.len(), 1, "{evidence}");
    assert_eq!(died[0]["role"], "primary");
    assert_eq!(died[0]["exit_code"], "137");
    assert!(evidence["killed_processes"].as_u64().unwrap() >= 1);
    run.clean();
}

/// The primary's host is cut off and healed: the DROP rules dropped packets,
/// the heal removed both, and the standby's takeover kept the audio exact.
#[test]
fn host_partition_primary_passes_and_the_heal_removes_its_rules() {
    let _turn = one_drill_at_a_time();
    let Some((run, _)) = host_drill("host-partition-primary", "host-partition", true) else {
        return;
    };
    let (_, evidence) = witness_of(&run, "host-partition");
    assert!(
        evidence["dropped_packets"].as_u64().unwrap() > 0,
        "{evidence}"
    );
    assert_eq!(evidence["link"], "tkb-h1");
    let (healed, _) = witness_of(&run, "heal");
    assert!(
        healed.contains("removed 2 DROP rule(s) of host h1"),
        "{healed}"
    );
    run.clean();
}

/// Redis's host is cut off: nobody commits without a lease, the front door is
/// out while it lasts, and after the heal the job ends with exact audio.
#[test]
fn host_partition_state_stalls_the_job_and_it_resumes_after_the_heal() {
    let _turn = one_drill_at_a_time();
    let Some((run, _)) = host_drill("host-partition-state", "host-partition", false) else {
        return;
    };
    let it = &run.report.iterations[0];
    let audio = it.audio.as_ref().expect("the audio was checked");
    assert!(audio.intact, "{audio:?}");
    let job_rto = it.figures.job_rto_ms.expect("the job resumed");
    // The cut lasts 5 s: the job cannot move before it heals.
    assert!(
        job_rto >= 4000.0,
        "the job moved during the cut: {job_rto} ms"
    );
    run.clean();
}

/// The primary's host crashes and comes back mid-job: the returning primary
/// does not take the job back (one takeover in all), and the front door
/// serves it again at its pinned port.
#[test]
fn rolling_host_loss_the_returning_primary_does_not_steal_the_job() {
    let _turn = one_drill_at_a_time();
    let Some((run, _)) = host_drill("rolling-host-loss", "host-crash", true) else {
        return;
    };
    let (back, _) = witness_of(&run, "heal");
    assert!(back.contains("host h1 is back: started primary"), "{back}");
    let takeovers = run
        .report
        .expectations
        .iter()
        .find(|e| e.name == "takeovers")
        .expect("a takeovers expectation");
    assert_eq!(takeovers.verdict, Verdict::Held, "{takeovers:?}");
    assert!(
        run.output.contains("primary marked up again"),
        "the front door never served the returning primary:\n{}",
        run.output
    );
    run.clean();
}

/// Loss and a rate limit on the primary's host link: each witnessed by its
/// own counters, each healed, the job unharmed.
#[test]
fn host_loss_and_host_bandwidth_are_witnessed_and_healed() {
    let _turn = one_drill_at_a_time();
    let Some((loss, _)) = host_drill("host-loss-primary", "host-loss", false) else {
        return;
    };
    let (_, evidence) = witness_of(&loss, "host-loss");
    assert!(
        evidence["dropped_packets"].as_u64().unwrap() > 0,
        "{evidence}"
    );
    assert!(evidence["matches"]
        .as_str()
        .unwrap()
        .contains("--probability 0.3000"));
    loss.clean();
    let Some((rate, _)) = host_drill("host-bandwidth-primary", "host-bandwidth", false) else {
        return;
    };
    let (witness, _) = witness_of(&rate, "host-bandwidth");
    assert!(witness.contains("tbf at 1mbit on tkb-h1"), "{witness}");
    let (healed, _) = witness_of(&rate, "heal");
    assert!(
        healed.contains("removed the qdisc(s) of host h1"),
        "{healed}"
    );
    rate.clean();
}

/// A multi-host run whose harness was SIGKILLed leaves containers on the
/// hosts' engines; `takeover clean` finds and removes them there.
#[test]
fn takeover_clean_removes_a_killed_multi_host_run_from_every_engine() {
    let _turn = one_drill_at_a_time();
    let Some(bed) = testbed::shared() else {
        return;
    };
    let hosts = bed.as_ref().expect("the test bed is up").hosts.clone();
    let dir = crate::support::temp_dir("hosts-killed");
    let mut child = crate::support::takeover()
        .args([
            "run",
            "scenarios/hosts-kill-primary.yaml",
            "--plain",
            "--report-dir",
        ])
        .arg(&dir)
        // The progress lines (`stack up: run <id>, ...`) go to stderr.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let progress = child.stderr.take().unwrap();
    let mut run_id = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(progress)) {
        let line = line.unwrap();
        if let Some(rest) = line.split("stack up: run ").nth(1) {
            run_id = rest.split(',').next().map(str::to_string);
            break;
        }
    }
    let run_id = run_id.expect("the stack came up");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !run_leftovers(&hosts, &run_id).is_empty(),
        "the killed run left nothing to clean: the test proves nothing"
    );
    let out = crate::support::takeover().arg("clean").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("removed run {run_id}")), "{text}");
    let left = run_leftovers(&hosts, &run_id);
    assert!(left.is_empty(), "`takeover clean` left: {left:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The test bed's TLS listener (`status`'s `tls h1 tcp://ADDR:2376 DIR`
/// line): h1's engine over mutual TLS, and the files of a client its CA
/// signed (`ca.pem`, `cert.pem`, `key.pem` in DIR). `None`, with a skip
/// recorded, when `up` made none (no `openssl` on PATH).
fn tls_listener() -> Option<(String, std::path::PathBuf)> {
    let (ok, text) = testbed::run_script(&["status"]);
    assert!(ok, "{text}");
    let line = text.lines().find_map(|l| l.strip_prefix("tls h1 "));
    let Some(line) = line else {
        crate::support::skip::skip(
            crate::support::skip::Need::TestBed,
            "the test bed has no TLS listener (`openssl` is not on PATH)",
        );
        return None;
    };
    let (endpoint, dir) = line.split_once(' ').expect("`tls h1 ENDPOINT DIR`");
    Some((endpoint.to_string(), dir.into()))
}

/// The test bed's client files in `dir` as a `stack.hosts.NAME.tls`.
fn bed_client(dir: &std::path::Path) -> TlsSpec {
    TlsSpec {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

/// A CA of the test's own (not the test bed's) and a client certificate it
/// signed, made with `openssl` in `dir`: `stranger-ca.pem`,
/// `stranger-cert.pem`, `stranger-key.pem`.
fn stranger_client(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let mut ca = vec![
        "req",
        "-x509",
        "-new",
        "-days",
        "1",
        "-subj",
        "/CN=stranger CA",
    ];
    ca.extend(ec);
    ca.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-keyout",
        "stranger-ca-key.pem",
        "-out",
        "stranger-ca.pem",
    ]);
    openssl(&ca);
    let mut req = vec!["req", "-new", "-subj", "/CN=stranger"];
    req.extend(ec);
    req.extend(["-keyout", "stranger-key.pem", "-out", "stranger.csr"]);
    openssl(&req);
    std::fs::write(dir.join("stranger.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "stranger.csr",
        "-CA",
        "stranger-ca.pem",
        "-CAkey",
        "stranger-ca-key.pem",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "stranger.ext",
        "-out",
        "stranger-cert.pem",
    ]);
}

/// h1's TLS listener serves a client with a certificate of its CA (API
/// 1.41 agreed), and refuses every other: a client certificate of another
/// CA, no client certificate at all, plain HTTP. The harness, for its part,
/// refuses the engine when told to trust another CA. Were the engine not
/// enforcing mutual TLS, the refusals would be answers and this would fail.
#[test]
fn hosts_tls_engine_serves_its_clients_and_refuses_the_others() {
    let _turn = one_drill_at_a_time();
    let Some(_bed) = testbed::shared() else {
        return;
    };
    let Some((endpoint, dir)) = tls_listener() else {
        return;
    };
    assert!(
        endpoint.starts_with("tcp://198.18.0.6:"),
        "the listener is on h1's namespace address only: {endpoint}"
    );
    let scratch = crate::support::temp_dir("hosts-tls-stranger");
    stranger_client(&scratch);
    let good = bed_client(&dir);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let docker = connect_engine(&endpoint, Some(&good))
            .await
            .expect("a client of the engine's CA is served");
        let version = docker.version().await.unwrap();
        assert_eq!(version.api_version.as_deref(), Some("1.41"), "{version:?}");
        // The same engine as h1's socket: its data root is h1's.
        let info = docker.info().await.unwrap();
        let root = info.docker_root_dir.unwrap_or_default();
        assert!(root.ends_with("/h1"), "{root}");

        let stranger = TlsSpec {
            cert: scratch.join("stranger-cert.pem"),
            key: scratch.join("stranger-key.pem"),
            ..good.clone()
        };
        let err = connect_engine(&endpoint, Some(&stranger))
            .await
            .expect_err("the engine served a client certificate of another CA");
        eprintln!("another CA's client: {err}");

        // No client certificate: bollard sends none when it cannot read one.
        let anonymous = bollard::Docker::connect_with_ssl(
            &endpoint,
            &scratch.join("absent-key.pem"),
            &scratch.join("absent-cert.pem"),
            &good.ca,
            10,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        let err = anonymous
            .ping()
            .await
            .expect_err("the engine served a client without a certificate");
        eprintln!("no client certificate: {err}");

        let err = connect_to(&endpoint)
            .await
            .expect_err("the engine answered plain HTTP on its TLS port");
        eprintln!("plain HTTP: {err}");

        let distrustful = TlsSpec {
            ca: scratch.join("stranger-ca.pem"),
            ..good.clone()
        };
        let err = connect_engine(&endpoint, Some(&distrustful))
            .await
            .expect_err("the harness accepted an engine its CA did not sign");
        eprintln!("engine of another CA: {err}");
    });
    std::fs::remove_dir_all(&scratch).ok();
}

/// kill-primary with the primary's host reached only over mutual TLS
/// (`docker: tcp://198.18.0.6:2376` with `tls`, its files given relative to
/// the scenario): it passes as over the socket, the kill lands on h1's
/// engine, and the run leaves nothing on any engine.
#[test]
fn hosts_kill_primary_passes_with_the_primary_host_over_tls() {
    let _turn = one_drill_at_a_time();
    let Some(bed) = testbed::shared() else {
        return;
    };
    let hosts = bed.as_ref().expect("the test bed is up").hosts.clone();
    let Some((endpoint, tls_dir)) = tls_listener() else {
        return;
    };
    // The scenario in a folder of its own, beside its script and the client files.
    let dir = crate::support::temp_dir("hosts-tls-scenario");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("client")).unwrap();
    std::fs::copy(
        root.join("scenarios/scripts/night-shift.yaml"),
        dir.join("scripts/night-shift.yaml"),
    )
    .unwrap();
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(tls_dir.join(file), dir.join("client").join(file)).unwrap();
    }
    let shipped = std::fs::read_to_string(root.join("scenarios/hosts-kill-primary.yaml")).unwrap();
    let socket_h1 = "h1: {docker: \"unix:///run/takeover-tb/h1/docker.sock\", address: 198.18.0.6}";
    assert!(
        shipped.contains(socket_h1),
        "hosts-kill-primary changed its h1"
    );
    let text = shipped
        .replace(
            socket_h1,
            &format!(
                "h1:\n      docker: \"{endpoint}\"\n      address: 198.18.0.6\n      \
                 tls: {{ca: client/ca.pem, cert: client/cert.pem, key: client/key.pem}}"
            ),
        )
        .replace("name: hosts-kill-primary", "name: hosts-tls-kill-primary");
    let scenario = dir.join("hosts-tls-kill-primary.yaml");
    std::fs::write(&scenario, text).unwrap();

    let started = now_unix();
    let run = run_scenario_file("hosts-tls-kill-primary", &scenario, &[]);
    let report = &run.report;
    assert_eq!(
        run.code,
        Some(0),
        "the drill over TLS did not pass: {:?}\n{:?}\n{}",
        report.iterations.first().map(|it| &it.reasons),
        report.expectations,
        run.output
    );
    for e in &report.expectations {
        assert_eq!(e.verdict, Verdict::Held, "{e:?}");
    }
    let it = &report.iterations[0];
    let audio = it.audio.as_ref().expect("the audio was checked");
    assert!(audio.mode == "exact" && audio.intact, "{audio:?}");
    assert!(it.figures.rto_ms.is_some(), "{:?}", it.figures);
    witness_of(&run, "kill");
    // The primary ran on h1's engine (seen through its socket) and was killed there.
    let killed = events_on(&hosts[0], started, &it.run_id, "kill");
    assert!(
        killed.contains(&format!("{}-primary", it.run_id)),
        "h1: {killed}"
    );
    let left = run_leftovers(&hosts, &it.run_id);
    assert!(left.is_empty(), "the run left: {left:?}");
    run.clean();
    std::fs::remove_dir_all(&dir).ok();
}
