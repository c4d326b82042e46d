//! The Docker stack and its faults, for real: these tests start stacks on the
//! local engine and check each fault's witness. They need Docker, the host's
//! haproxy, redis-server and iptables, and the release `synth-worker` binary
//! (`cargo build --release -p synth-worker`, or TAKEOVER_WORKER_BINARY=PATH).

use std::collections::HashMap;
use std::time::Duration;

use crate::support::skip::{skip, Need};
use crate::support::{kernel_has_netem, one_drill_at_a_time};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use takeover::clock::Clock;
use takeover::fault::{self, Direction, FaultSpec, PartitionMethod};
use takeover::stack::{self, cleanup, Role, Stack, StackError, StackSpec};

const WITNESS: Duration = Duration::from_secs(10);

fn spec() -> StackSpec {
    if stack::images::find_worker_binary(None).is_err() {
        panic!(
            "these tests need the release worker binary: run `cargo build --release -p synth-worker` \
             (or set TAKEOVER_WORKER_BINARY=PATH)"
        );
    }
    let mut spec = StackSpec::default();
    spec.worker.backend = stack::Backend::Cpu;
    spec.ready_timeout = Duration::from_secs(60);
    spec
}

async fn leftovers(run_id: &str) -> usize {
    let docker = stack::docker::connect().await.unwrap();
    let filters = HashMap::from([("label".to_string(), vec![format!("takeover.run={run_id}")])]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap();
    containers.len() + networks.len() + volumes.volumes.unwrap_or_default().len()
}

/// A stack of `spec` under a fresh run id, with the clock it is measured on.
async fn up(spec: &StackSpec) -> (Clock, String, Stack) {
    let clock = Clock::start();
    let run_id = stack::new_run_id();
    let stack = Stack::up(spec, &run_id, &clock).await.expect("stack up");
    (clock, run_id, stack)
}

/// Takes the stack down and checks that no object of its run is left.
async fn down_leaving_nothing(stack: Stack, run_id: &str) {
    stack.down().await.unwrap();
    assert_eq!(
        leftovers(run_id).await,
        0,
        "objects of {run_id} left behind"
    );
}

/// The status of a GET, or the error text (the machine is shared and slow: a generous timeout).
async fn get_status(url: &str) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    client
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("GET {url}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_through_the_front_door_and_down_leaves_nothing() {
    let _one = one_drill_at_a_time();
    let (clock, run_id, stack) = up(&spec()).await;
    assert!(stack.frontdoor_url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        get_status(&format!("{}/health", stack.frontdoor_url())).await,
        Ok(200)
    );
    for role in [Role::Primary, Role::Standby] {
        let url = stack.worker_url(role).unwrap();
        assert_eq!(
            get_status(&format!("{url}/health")).await,
            Ok(200),
            "{role}"
        );
    }
    let view = stack.frontdoor_view().await.unwrap();
    let primary = view.iter().find(|s| s.role == Some(Role::Primary)).unwrap();
    let standby = view.iter().find(|s| s.role == Some(Role::Standby)).unwrap();
    assert!(primary.is_up() && !primary.backup, "{view:?}");
    assert!(standby.is_up() && standby.backup, "{view:?}");
    // The runtime API answers on loopback.
    let servers =
        stack::haproxy::runtime_command(stack.frontdoor_admin_addr(), "show servers state workers")
            .await
            .unwrap();
    assert!(
        servers.contains("primary") && servers.contains("standby"),
        "{servers}"
    );
    // Events were recorded from before the first start, with engine times on the run's clock.
    let events = stack.events().snapshot();
    for role in Role::ALL {
        let start = events
            .iter()
            .find(|e| e.role == Some(role) && e.action == "start")
            .unwrap_or_else(|| panic!("no start event for {role}: {events:?}"));
        assert!(start.at_ms > 0.0 && start.at_ms < clock.now_ms());
    }
    assert!(leftovers(&run_id).await >= 6);
    down_leaving_nothing(stack, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_witnessed_and_healed_on_a_live_stack() {
    let _one = one_drill_at_a_time();
    let (clock, run_id, stack) = up(&spec()).await;

    // pause: state paused and the pause event.
    let e = fault::inject(
        &stack,
        &FaultSpec::Pause(takeover::fault::Pause {
            target: Role::Standby,
        }),
        &clock,
        WITNESS,
    )
    .await
    .unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");
    assert!(
        e.in_effect_at_ms.unwrap() >= e.requested_at_ms - 50.0,
        "{e:?}"
    );
    assert_eq!(stack.state(Role::Standby).await.unwrap().status, "paused");
    let e = fault::inject(
        &stack,
        &FaultSpec::Unpause(takeover::fault::Unpause {
            target: Role::Standby,
        }),
        &clock,
        WITNESS,
    )
    .await
    .unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");

    // iptables partition, one way, from the front door only: HAProxy's checks are dropped.
    let partition = FaultSpec::Partition(takeover::fault::Partition {
        target: Role::Primary,
        peers: vec![Role::Frontdoor],
        direction: Direction::Inbound,
        method: PartitionMethod::Iptables,
    });
    let e = fault::inject(&stack, &partition, &clock, WITNESS)
        .await
        .unwrap();
    assert!(e.in_effect_at_ms.is_some(), "no witness: {e:?}");
    assert!(e.evidence["dropped_packets"].as_u64().unwrap() > 0, "{e:?}");
    // HAProxy sees the primary go down.
    let mut down = false;
    for _ in 0..50 {
        let view = stack.frontdoor_view().await.unwrap();
        if view
            .iter()
            .any(|s| s.role == Some(Role::Primary) && !s.is_up())
        {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(down, "HAProxy never marked the partitioned primary down");
    // The standby serves meanwhile.
    assert_eq!(
        get_status(&format!("{}/health", stack.frontdoor_url())).await,
        Ok(200)
    );
    let healed = fault::inject(
        &stack,
        &FaultSpec::Heal(takeover::fault::Heal {
            target: Some(Role::Primary),
        }),
        &clock,
        WITNESS,
    )
    .await
    .unwrap();
    assert!(
        healed.witness.unwrap().contains("iptables chain"),
        "heal did not remove the chain"
    );

    // loss: the statistic rule's counter moves.
    let loss = FaultSpec::Loss(takeover::fault::Loss {
        target: Role::Standby,
        percent: 50.0,
        direction: Direction::Both,
    });
    let e = fault::inject(&stack, &loss, &clock, WITNESS).await.unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");

    // bandwidth: the tbf qdisc carries traffic.
    let bw = FaultSpec::Bandwidth(takeover::fault::Bandwidth {
        target: Role::State,
        rate: "2mbit".into(),
    });
    let e = fault::inject(&stack, &bw, &clock, WITNESS).await.unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");

    // latency: this kernel lacks netem, which must be said, not faked.
    let lat = FaultSpec::Latency(takeover::fault::Latency {
        target: Role::State,
        delay: Duration::from_millis(100),
        jitter: None,
    });
    let e = fault::inject(&stack, &lat, &clock, WITNESS).await.unwrap();
    match (&e.unavailable, kernel_has_netem()) {
        (Some(reason), Some(false)) => {
            assert!(e.in_effect_at_ms.is_none());
            assert!(reason.contains("netem"), "{reason}");
            skip(Need::Netem, &format!("latency not applied: {reason}"));
        }
        (None, Some(true)) => assert!(e.in_effect_at_ms.is_some(), "{e:?}"),
        (None, None) => assert!(e.in_effect_at_ms.is_some(), "{e:?}"),
        (Some(reason), None) => {
            assert!(reason.contains("netem"), "{reason}");
            skip(Need::Netem, &format!("latency not applied: {reason}"));
        }
        (got, has) => panic!("kernel has netem: {has:?}, but the fault says {got:?}"),
    }
    fault::heal_all(&stack).await.unwrap();

    // disconnect partition: the endpoint leaves the network.
    let cut = FaultSpec::Partition(takeover::fault::Partition {
        target: Role::Standby,
        peers: vec![],
        direction: Direction::Both,
        method: PartitionMethod::Disconnect,
    });
    let e = fault::inject(&stack, &cut, &clock, WITNESS).await.unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");
    assert!(e.witness.unwrap().contains("disconnect"));

    fault::heal_all(&stack).await.unwrap();
    assert!(stack.faults_in_place().is_clean());
    let ip = stack::network_ip(
        stack.docker(),
        &stack.container(Role::Standby).id,
        stack.network_name(),
    )
    .await
    .unwrap();
    assert!(!ip.is_empty(), "standby not reconnected");

    // kill: the die event with exit code 137, timed by the engine.
    let kill = FaultSpec::Kill(takeover::fault::Kill {
        target: Role::Primary,
        signal: "SIGKILL".into(),
    });
    let e = fault::inject(&stack, &kill, &clock, WITNESS).await.unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");
    assert_eq!(e.evidence["exit_code"], "137", "{e:?}");
    assert!(e.witness.unwrap().contains("die event"));
    down_leaving_nothing(stack, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_kill_is_a_real_cgroup_oom() {
    let _one = one_drill_at_a_time();
    let (clock, run_id, stack) = up(&spec()).await;
    let oom = FaultSpec::OomKill(takeover::fault::OomKill {
        target: Role::Primary,
        headroom: None,
    });
    let e = fault::inject(&stack, &oom, &clock, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(e.in_effect_at_ms.is_some(), "no OOM witness: {e:?}");
    assert_eq!(e.evidence["oom_killed"], true);
    assert_eq!(e.evidence["exit_code"], "137");
    let status = stack.state(Role::Primary).await.unwrap();
    assert!(
        status.oom_killed && status.exit_code == Some(137),
        "{status}"
    );
    down_leaving_nothing(stack, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_image_that_is_missing_is_a_clear_error_and_leaves_nothing() {
    let _one = one_drill_at_a_time();
    let mut spec = StackSpec::default();
    spec.images.worker = Some("takeover-test/no-such-image:never".into());
    let run_id = stack::new_run_id();
    let err = match Stack::up(&spec, &run_id, &Clock::start()).await {
        Err(e) => e,
        Ok(_) => panic!("a missing image must not start"),
    };
    assert!(matches!(err, StackError::ImageMissing { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("takeover-test/no-such-image:never") && text.contains("stack.images.worker"),
        "{text}"
    );
    assert_eq!(leftovers(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_owner_leaves_nothing_behind() {
    let _one = one_drill_at_a_time();
    let run_id = stack::new_run_id();
    let id = run_id.clone();
    let spec = spec();
    let task = tokio::spawn(async move {
        let stack = Stack::up(&spec, &id, &Clock::start())
            .await
            .expect("stack up");
        assert!(!stack.run_id().is_empty());
        panic!("a step failed while the stack was up");
    });
    assert!(task.await.is_err(), "the task should have panicked");
    assert_eq!(
        leftovers(&run_id).await,
        0,
        "the guard did not remove the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_removes_a_run_whose_owner_is_dead() {
    let _one = one_drill_at_a_time();
    let docker = stack::docker::connect().await.unwrap();
    let run_id = stack::new_run_id();
    // Objects labelled as owned by a process that cannot exist (above pid_max) on this host.
    let mut labels = stack::labels::for_run(&run_id);
    labels.insert(stack::labels::OWNER_PID.into(), "4194305".into());
    docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: format!("{run_id}-net"),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(format!("{run_id}-data")),
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .unwrap();
    // And a live run owned by this process, which clean must keep.
    let live = stack::new_run_id();
    docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: format!("{live}-net"),
            labels: Some(stack::labels::for_run(&live)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(leftovers(&run_id).await, 2);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_takeover"))
        .arg("clean")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("removed run {run_id}")),
        "{stdout}"
    );
    assert_eq!(leftovers(&run_id).await, 0);
    assert_eq!(
        leftovers(&live).await,
        1,
        "clean removed a run whose owner is alive"
    );
    let removed = cleanup::remove_run_with(&docker, &live).await.unwrap();
    assert_eq!(removed.networks, 1);
    assert_eq!(leftovers(&live).await, 0);
}

/// Submits a long, paced job through the front door and waits until `chunks` chunks are committed.
async fn job_with_committed_chunks(stack: &Stack, chunks: u64) -> String {
    let text =
        "The night shift moved the long interview to the second machine, and nobody noticed \
                until the lights went amber twice and the pager sang its small sad song again. "
            .repeat(4);
    let request = serde_json::json!({
        "script": {"seed": 11, "turns": [{"speaker": "mara", "text": text}]},
        "options": {"chunk_frames": 8, "pace_rtf": 0.3}
    });
    let client = reqwest::Client::new();
    let status: serde_json::Value = client
        .post(format!("{}/v1/jobs", stack.frontdoor_url()))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = status["id"].as_str().expect("job id").to_string();
    for _ in 0..200 {
        let status: serde_json::Value = client
            .get(format!("{}/v1/jobs/{id}", stack.frontdoor_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["chunks_committed"].as_u64().unwrap_or(0) >= chunks {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} never committed {chunks} chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_failover_storage_gpu_and_restart_faults_are_witnessed() {
    let _one = one_drill_at_a_time();
    let mut spec = spec();
    spec.frontdoor.failover = stack::Failover::Manual;
    spec.data_volume_size = Some(stack::ByteSize(64 << 20));
    let (clock, run_id, stack) = up(&spec).await;

    // Manual failover: the standby is out until the runtime API brings it in.
    let view = stack.frontdoor_view().await.unwrap();
    let standby = view.iter().find(|s| s.role == Some(Role::Standby)).unwrap();
    assert!(standby.status.starts_with("MAINT"), "{view:?}");
    stack::haproxy::runtime_command(
        stack.frontdoor_admin_addr(),
        "enable server workers/standby",
    )
    .await
    .unwrap();
    let mut enabled = false;
    for _ in 0..50 {
        let view = stack.frontdoor_view().await.unwrap();
        if view
            .iter()
            .any(|s| s.role == Some(Role::Standby) && s.status == "UP")
        {
            enabled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(enabled, "the runtime API did not bring the standby in");

    // A checkpoint corrupted between two chunks: its checksum changes.
    job_with_committed_chunks(&stack, 2).await;
    let e = fault::inject(
        &stack,
        &FaultSpec::CorruptCheckpoint(takeover::fault::CorruptCheckpoint {
            target: Role::Standby,
        }),
        &clock,
        WITNESS,
    )
    .await
    .unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");
    assert_ne!(e.evidence["blake3_before"], e.evidence["blake3_after"]);
    assert!(e.evidence["file"].as_str().unwrap().ends_with(".ckpt"));

    // The shared volume filled: nothing is left free.
    let e = fault::inject(
        &stack,
        &FaultSpec::DiskFill(takeover::fault::DiskFill {
            target: Role::Primary,
        }),
        &clock,
        WITNESS,
    )
    .await
    .unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");
    assert_eq!(e.evidence["available_bytes"], 0);
    fault::heal_all(&stack).await.unwrap();
    assert!(stack.faults_in_place().is_clean());

    // A GPU fault through the worker's endpoint: the worker reports the error class and reacts.
    let gpu = FaultSpec::Gpu(takeover::fault::Gpu {
        target: Role::Standby,
        fault: fault::GpuFault::IllegalAddress,
        xid: None,
    });
    let e = fault::inject(&stack, &gpu, &clock, WITNESS).await.unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");
    assert_eq!(
        e.evidence["report"]["error_class"], "CUDA_ERROR_ILLEGAL_ADDRESS",
        "{e:?}"
    );

    // restart: the restart event and the container running again.
    let e = fault::inject(
        &stack,
        &FaultSpec::Restart(takeover::fault::Restart {
            target: Role::Primary,
        }),
        &clock,
        WITNESS,
    )
    .await
    .unwrap();
    assert!(e.in_effect_at_ms.is_some(), "{e:?}");
    assert_eq!(stack.state(Role::Primary).await.unwrap().status, "running");

    down_leaving_nothing(stack, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_fill_without_a_bounded_volume_is_unavailable_not_faked() {
    let _one = one_drill_at_a_time();
    let (clock, _, stack) = up(&spec()).await;
    let e = fault::inject(
        &stack,
        &FaultSpec::DiskFill(takeover::fault::DiskFill {
            target: Role::Primary,
        }),
        &clock,
        WITNESS,
    )
    .await
    .unwrap();
    assert!(e.in_effect_at_ms.is_none());
    assert!(e.unavailable.unwrap().contains("data_volume_size"));
    stack.down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpus_all_without_the_nvidia_runtime_is_a_clear_error() {
    let docker = stack::docker::connect().await.unwrap();
    let has_nvidia = docker
        .info()
        .await
        .unwrap()
        .runtimes
        .is_some_and(|r| r.contains_key("nvidia"));
    if has_nvidia {
        skip(
            Need::NoNvidiaRuntime,
            "this Docker engine has the nvidia runtime, so `gpus: all` starts and its error path cannot be seen",
        );
        return;
    }
    let _one = one_drill_at_a_time();
    let mut spec = StackSpec::default();
    spec.worker.gpus = stack::Gpus::All;
    let run_id = stack::new_run_id();
    let err = match Stack::up(&spec, &run_id, &Clock::start()).await {
        Err(e) => e,
        Ok(_) => panic!("gpus: all must not start without the nvidia runtime"),
    };
    assert!(matches!(err, StackError::NoNvidiaRuntime { .. }), "{err}");
    assert!(
        err.to_string().contains("NVIDIA Container Toolkit"),
        "{err}"
    );
    assert_eq!(leftovers(&run_id).await, 0);
}

/// Sends `request` to `ip:port` from inside the primary worker's network
/// namespace (another container of the run) and returns what came back.
async fn from_inside(stack: &Stack, ip: &str, port: u16, request: &str) -> String {
    let script = format!(
        "exec 3<>/dev/tcp/{ip}/{port} || exit 0; printf '{request}' >&3; \
         while IFS= read -r -t 3 line <&3; do echo \"$line\"; done; true"
    );
    fault::sidecar::run(
        stack,
        fault::sidecar::Attach::NetNs(Role::Primary),
        &["/usr/bin/bash", "-c", &script],
        &[],
    )
    .await
    .unwrap()
    .output
}

/// The stack locked down: the fault token and Redis's password are not on any
/// command line `docker inspect` shows; Redis refuses a client without the
/// password; HAProxy's runtime API and stats answer the harness (through the
/// ports published on 127.0.0.1) but not another container of the run, which
/// still reaches the front door.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_off_argv_and_admin_is_for_the_harness_only() {
    let _one = one_drill_at_a_time();
    let (_clock, run_id, stack) = up(&spec()).await;
    let docker = stack::docker::connect().await.unwrap();
    let token = stack.fault_token().to_string();
    let password = stack.redis_password().to_string();
    assert!(!token.is_empty() && !password.is_empty());
    for role in Role::ALL {
        let inspect = docker
            .inspect_container(&stack.container(role).id, None)
            .await
            .unwrap();
        let mut argv = inspect.args.unwrap_or_default();
        argv.extend(inspect.config.unwrap().cmd.unwrap_or_default());
        let argv = argv.join(" ");
        assert!(!argv.contains(&token), "{role}: token in {argv}");
        assert!(!argv.contains(&password), "{role}: password in {argv}");
    }
    // The workers got both by environment and work: the fault endpoint takes the token.
    let primary = stack.worker_url(Role::Primary).unwrap();
    let refused = reqwest::Client::new()
        .post(format!("{primary}/v1/faults"))
        .header(contract::FAULT_TOKEN_HEADER, "wrong")
        .json(&serde_json::json!({"kind": "crash"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // Redis: without the password, NOAUTH; with it, PONG.
    assert!(redis_says(stack.redis_addr(), "PING\r\n")
        .await
        .contains("NOAUTH"));
    let authed = redis_says(stack.redis_addr(), &format!("AUTH {password}\r\nPING\r\n")).await;
    assert!(authed.contains("+PONG"), "{authed}");
    // The harness reaches the runtime API and the stats page.
    let info = stack::haproxy::runtime_command(stack.frontdoor_admin_addr(), "show info")
        .await
        .unwrap();
    assert!(info.contains("Name: HAProxy"), "{info}");
    assert_eq!(get_status(stack.frontdoor_stats_url()).await, Ok(200));
    // Another container of the run: the front door answers, admin and stats do not.
    let fd = stack.container(Role::Frontdoor).ip.clone();
    let front = from_inside(&stack, &fd, 8080, "GET /health HTTP/1.0\\r\\n\\r\\n").await;
    assert!(
        front.contains("200"),
        "the front door from inside: {front:?}"
    );
    let admin = from_inside(&stack, &fd, stack::haproxy::ADMIN_PORT, "show info\\n").await;
    assert!(!admin.contains("HAProxy"), "admin from inside: {admin:?}");
    let inner = from_inside(
        &stack,
        &fd,
        stack::haproxy::ADMIN_INNER_PORT,
        "show info\\n",
    )
    .await;
    assert!(
        !inner.contains("HAProxy"),
        "the loopback CLI from inside: {inner:?}"
    );
    let stats = from_inside(
        &stack,
        &fd,
        stack::haproxy::STATS_PORT,
        "GET /stats HTTP/1.0\\r\\n\\r\\n",
    )
    .await;
    assert!(!stats.contains("HTTP/1"), "stats from inside: {stats:?}");
    down_leaving_nothing(stack, &run_id).await;
}

/// What Redis at `addr` answers to `commands` (read until it goes quiet).
async fn redis_says(addr: &str, commands: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(commands.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}
