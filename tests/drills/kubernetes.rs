//! `stack.runtime: kubernetes` on the shared Kubernetes test bed
//! (`support::k8s`): the stack comes up in a namespace of its own and goes
//! with it (on `down`, on drop, and by `takeover clean --kubernetes` for a
//! dead harness's run), and the shipped Kubernetes drills give their verdicts:
//! `pod-kill`, `kill`, `oom-kill` and `node-loss` of the primary pass with
//! exact audio (the two-node test bed puts the primary on a node of its own);
//! a NetworkPolicy partition is INCONCLUSIVE (exit 3) with its reason, since
//! the test bed's network has no plugin that enforces it.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use takeover::clock::Clock;
use takeover::report::model::{EventKind, Iteration, IterationOutcome, RunOutcome};
use takeover::stack::kubernetes::PodState;
use takeover::stack::{self, kubernetes, Role, RuntimeKind, Stack, StackSpec};

use crate::support::k8s::{self as bed, K8sBed};
use crate::support::one_drill_at_a_time;
use crate::support::run::{run_scenario_file_env, DrillRun};

fn spec(bed: &K8sBed) -> StackSpec {
    let mut spec = StackSpec {
        runtime: RuntimeKind::Kubernetes,
        ready_timeout: Duration::from_secs(90),
        ..StackSpec::default()
    };
    spec.kubernetes.kubeconfig = Some(bed.kubeconfig.clone());
    spec.kubernetes.node_engine = Some(bed.node_engine.clone());
    spec.worker.backend = stack::Backend::Cpu;
    spec
}

async fn client(bed: &K8sBed) -> kube::Client {
    kubernetes::connect(Some(&bed.kubeconfig), None)
        .await
        .expect("the test bed's API answers")
        .0
}

/// Waits up to 30 s for the namespace of `run_id` to be gone; whether it went.
async fn namespace_gone(client: &kube::Client, run_id: &str) -> bool {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for _ in 0..150 {
        if namespaces.get_opt(run_id).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn get_status(url: &str) -> Result<u16, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("GET {url}: {e}"))
}

// The bed's guard is held for the whole test on purpose: the shared test bed
// serves one drill at a time (`bed::shared`).
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_stack_serves_from_its_namespace_and_leaves_nothing() {
    let _turn = one_drill_at_a_time();
    let Some(guard) = bed::shared() else {
        return;
    };
    let bed = guard.as_ref().unwrap();
    let client = client(bed).await;
    let clock = Clock::start();
    let run_id = stack::new_run_id();
    let stack = Stack::up(&spec(bed), &run_id, &clock)
        .await
        .expect("stack up");
    let k8s = stack.kubernetes().expect("a Kubernetes stack");
    assert_eq!(k8s.namespace(), run_id);
    let ns: Api<Namespace> = Api::all(client.clone());
    let labels = ns.get(&run_id).await.unwrap().metadata.labels.unwrap();
    assert_eq!(labels["takeover.run"], run_id);
    // The harness reaches the pods at their own addresses.
    assert!(
        stack.frontdoor_url().starts_with("http://198.19.253."),
        "{}",
        stack.frontdoor_url()
    );
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
        assert_eq!(stack.state(role).await.unwrap().status, "running");
    }
    let view = stack.frontdoor_view().await.unwrap();
    assert!(
        view.iter()
            .any(|s| s.role == Some(Role::Primary) && s.is_up()),
        "{view:?}"
    );
    // The pods were seen starting, on the run's clock. The kubelet posts a
    // pod's status after the container answers, and the recorder reads it
    // every 100 ms, so a start may land shortly after readiness: wait for it.
    let started_by = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut events = stack.events().snapshot();
    while std::time::Instant::now() < started_by
        && !Role::ALL.iter().all(|r| {
            events
                .iter()
                .any(|e| e.role == Some(*r) && e.action == "start")
        })
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        events = stack.events().snapshot();
    }
    for role in Role::ALL {
        assert!(
            events
                .iter()
                .any(|e| e.role == Some(role) && e.action == "start"),
            "no start of {role} in {events:?}"
        );
    }
    // Two nodes: the primary on one of its own, the others together on the
    // other, so that losing the primary's node loses the primary only.
    let mut node_of = std::collections::BTreeMap::new();
    for role in Role::ALL {
        let pod = k8s.pod(role).await.unwrap().expect("a pod per role");
        node_of.insert(role, PodState::of(&pod).node.expect("scheduled"));
    }
    assert_ne!(
        node_of[&Role::Primary],
        node_of[&Role::Standby],
        "{node_of:?}"
    );
    for role in [Role::State, Role::Frontdoor] {
        assert_eq!(node_of[&role], node_of[&Role::Standby], "{node_of:?}");
    }
    let host_path = PathBuf::from(stack.volume_name());
    assert!(
        host_path.is_dir(),
        "{} is the shared checkpoint folder",
        host_path.display()
    );
    stack.down().await.unwrap();
    assert!(
        namespace_gone(&client, &run_id).await,
        "namespace {run_id} left"
    );
    assert!(!host_path.exists(), "{} left", host_path.display());

    // Dropped without `down` (a panic, a failed step): the namespace goes too.
    let run_id = stack::new_run_id();
    let stack = Stack::up(&spec(bed), &run_id, &clock)
        .await
        .expect("stack up");
    drop(stack);
    assert!(
        namespace_gone(&client, &run_id).await,
        "a dropped stack left {run_id}"
    );
}

// The bed's guard is held for the whole test on purpose: the shared test bed
// serves one drill at a time (`bed::shared`).
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_clean_kubernetes_removes_a_dead_harness_run_and_keeps_a_live_one() {
    let _turn = one_drill_at_a_time();
    let Some(guard) = bed::shared() else {
        return;
    };
    let bed = guard.as_ref().unwrap();
    let client = client(bed).await;
    let ns: Api<Namespace> = Api::all(client.clone());
    let host = stack::labels::this_host();
    let make = |run: &str, pid: u32| {
        serde_json::from_value::<Namespace>(serde_json::json!({
            "metadata": {"name": run, "labels": {
                "takeover.run": run, "takeover.owner.pid": pid.to_string(), "takeover.owner.host": host,
            }}
        }))
        .unwrap()
    };
    // Above the kernel's pid_max limit: never a live process.
    let dead = stack::new_run_id();
    let live = stack::new_run_id();
    ns.create(&PostParams::default(), &make(&dead, 4_194_305))
        .await
        .unwrap();
    ns.create(&PostParams::default(), &make(&live, std::process::id()))
        .await
        .unwrap();
    let out = crate::support::takeover()
        .args(["clean", "--kubernetes"])
        .env("KUBECONFIG", &bed.kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("removed Kubernetes run {dead}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("kept Kubernetes run {live}")),
        "{text}"
    );
    assert!(namespace_gone(&client, &dead).await);
    assert!(ns.get_opt(&live).await.unwrap().is_some());
    let out = crate::support::takeover()
        .args(["clean", "--kubernetes", "--run", &live])
        .env("KUBECONFIG", &bed.kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(namespace_gone(&client, &live).await);
}

/// Runs `scenarios/<name>.yaml` against the test bed.
fn drill(bed: &K8sBed, name: &str) -> DrillRun {
    let path = PathBuf::from(format!("scenarios/{name}.yaml"));
    run_scenario_file_env(name, &path, &[], &bed.env())
}

/// Checks a passing drill: exit 0, the fault witnessed, RTO and job RTO
/// measured, exact audio, the cluster's events on the timeline, and no
/// namespace left. Returns the witness.
fn passes(bed: &K8sBed, name: &str, kind: &str) -> String {
    passes_and(bed, name, kind, |_| {})
}

/// [`passes`], with `more` checks of the iteration.
fn passes_and(bed: &K8sBed, name: &str, kind: &str, more: impl FnOnce(&Iteration)) -> String {
    let run = drill(bed, name);
    let report = &run.report;
    let it = &report.iterations[0];
    assert_eq!(
        run.code,
        Some(0),
        "{name} did not pass: {:?}\n{:?}\n{}",
        it.reasons,
        report.expectations,
        run.output
    );
    assert_eq!(report.outcome, RunOutcome::Passed);
    assert_eq!(it.outcome, IterationOutcome::Passed, "{:?}", it.reasons);
    let fault = it
        .faults
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} fault: {:?}", it.faults));
    let witness = fault
        .witness
        .clone()
        .unwrap_or_else(|| panic!("{kind} unwitnessed: {fault:?}"));
    assert!(it.figures.rto_ms.is_some(), "{:?}", it.figures);
    assert!(it.figures.job_rto_ms.is_some(), "{:?}", it.figures);
    let audio = it.audio.as_ref().expect("the audio was checked");
    assert_eq!(audio.mode, "exact", "{audio:?}");
    let cluster: Vec<&str> = it
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ClusterEvent)
        .map(|e| e.detail.as_str())
        .collect();
    assert!(
        cluster.iter().any(|d| d.starts_with("primary:")),
        "no cluster event of the primary on the timeline: {cluster:?}"
    );
    more(it);
    eprintln!(
        "{name}: rto {:?} ms, job rto {:?} ms; witness: {witness}",
        it.figures.rto_ms, it.figures.job_rto_ms
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = client(bed).await;
        assert!(
            namespace_gone(&client, &it.run_id).await,
            "{name} left {}",
            it.run_id
        );
    });
    std::fs::remove_dir_all(&run.dir).ok();
    witness
}

#[test]
fn k8s_pod_kill_primary_passes_with_exact_audio() {
    let _turn = one_drill_at_a_time();
    let Some(guard) = bed::shared() else {
        return;
    };
    let witness = passes(guard.as_ref().unwrap(), "k8s-pod-kill-primary", "pod-kill");
    assert!(witness.contains("new UID"), "{witness}");
}

#[test]
fn k8s_kill_primary_passes_with_exact_audio() {
    let _turn = one_drill_at_a_time();
    let Some(guard) = bed::shared() else {
        return;
    };
    let witness = passes(guard.as_ref().unwrap(), "k8s-kill-primary", "kill");
    assert!(witness.contains("exit code 137"), "{witness}");
}

#[test]
fn k8s_oom_kill_primary_passes_with_exact_audio() {
    let _turn = one_drill_at_a_time();
    let Some(guard) = bed::shared() else {
        return;
    };
    let witness = passes(guard.as_ref().unwrap(), "k8s-oom-kill-primary", "oom-kill");
    assert!(witness.contains("OOMKilled"), "{witness}");
}

#[test]
fn k8s_node_loss_primary_passes_with_exact_audio_and_the_node_comes_back() {
    let _turn = one_drill_at_a_time();
    let Some(guard) = bed::shared() else {
        return;
    };
    let bed = guard.as_ref().unwrap();
    let witness = passes_and(bed, "k8s-node-loss-primary", "node-loss", |it| {
        let lost = it.faults.iter().find(|f| f.kind == "node-loss").unwrap();
        assert!(
            lost.evidence["containers_killed"].as_u64().unwrap() >= 2,
            "the primary's container and its sandbox at least: {:?}",
            lost.evidence
        );
        assert_eq!(
            lost.evidence["also_on_the_node"],
            serde_json::json!([]),
            "the primary's node holds the primary only"
        );
        // The node came back (the heal resumed its kubelet) and restarted the
        // primary, and the run still passed: fencing kept the job with the standby.
        let heal = it.faults.iter().find(|f| f.kind == "heal").unwrap();
        assert!(
            heal.witness
                .as_deref()
                .unwrap_or_default()
                .contains("resumed node"),
            "{heal:?}"
        );
        let back = it.events.iter().any(|e| {
            e.kind == EventKind::ClusterEvent
                && e.at_ms > heal.requested_at_ms
                && e.detail.starts_with("primary: pod")
                && e.detail.contains(" start")
        });
        assert!(back, "the primary did not start again after the heal");
    });
    assert!(witness.contains("Ready=Unknown"), "{witness}");
    // No node is left lost: both Ready for the next drill.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client(bed).await);
        for name in bed::NODES {
            let mut ready = false;
            for _ in 0..100 {
                let node = nodes.get(name).await.unwrap();
                ready = node
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if ready {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(ready, "node {name} not Ready after the drill");
        }
    });
}

#[test]
fn k8s_partition_primary_is_inconclusive_where_policies_are_not_enforced() {
    let _turn = one_drill_at_a_time();
    let Some(guard) = bed::shared() else {
        return;
    };
    let run = drill(guard.as_ref().unwrap(), "k8s-partition-primary");
    let it = &run.report.iterations[0];
    assert_eq!(run.code, Some(3), "{:?}\n{}", it.reasons, run.output);
    assert_eq!(run.report.outcome, RunOutcome::Inconclusive);
    let fault = it.faults.iter().find(|f| f.kind == "partition").unwrap();
    let why = fault.unavailable.as_deref().unwrap_or_default();
    assert!(why.contains("does not enforce NetworkPolicy"), "{fault:?}");
    assert!(
        run.output.contains("does not enforce NetworkPolicy"),
        "the reason is not shown: {}",
        run.output
    );
    std::fs::remove_dir_all(&run.dir).ok();
}
