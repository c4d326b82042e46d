//! The Kubernetes test bed (`scripts/k8s-testbed.sh`): a real two-node
//! cluster (etcd, kube-apiserver, controller manager, scheduler, and per node
//! a kubelet on its own dockerd in its own network namespace) comes up, both
//! nodes Ready, runs a pod from an image loaded into node 1's engine, shows the facts the Kubernetes faults
//! will be witnessed by (a killed container restarted with `restartCount` up;
//! a pod deleted with grace 0 gone). The test bed is the binary's shared one
//! (`support::k8s`), whose `down` at exit must leave nothing behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::k8s::{self, STATE};

/// A request to the test bed's API server with its admin token, as JSON.
fn api(method: &str, path: &str, body: Option<&Value>) -> Value {
    let token = std::fs::read_to_string(Path::new(STATE).join("tokens.csv")).unwrap();
    let token = token.split(',').next().unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-k", "--max-time", "10", "-X", method])
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-H", "Content-Type: application/json"])
        .arg(format!("https://198.19.254.1:16443{path}"));
    if let Some(body) = body {
        cmd.arg("--data-binary").arg(body.to_string());
    }
    let out = cmd.output().expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what} not seen within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The node engine's containers named for `pod`'s container `c` (dockershim
/// names them `k8s_c_pod_...`).
fn node_container(pod: &str) -> Option<String> {
    let out = Command::new("docker")
        .args([
            "-H",
            &format!("unix://{}", k8s::engine_socket(1)),
            "ps",
            "-q",
        ])
        .args(["--filter", &format!("name=k8s_c_{pod}_")])
        .output()
        .ok()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!id.is_empty()).then_some(id)
}

#[test]
fn the_k8s_testbed_runs_a_pod_and_restarts_a_killed_container() {
    let _turn = crate::support::one_drill_at_a_time();
    let Some(_bed) = k8s::shared() else {
        return;
    };
    let checks = std::panic::catch_unwind(|| {
        for name in k8s::NODES {
            let node = api("GET", &format!("/api/v1/nodes/{name}"), None);
            assert_eq!(
                node["status"]["nodeInfo"]["kubeletVersion"], "v1.20.2",
                "{name}"
            );
        }

        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "probe", "namespace": "default"},
            "spec": {"nodeName": "takeover-node", "containers": [{
                "name": "c", "image": "takeover-k8s/pause:1.20.2", "imagePullPolicy": "Never"
            }]}
        });
        api("POST", "/api/v1/namespaces/default/pods", Some(&pod));
        let path = "/api/v1/namespaces/default/pods/probe";
        let ip = wait_for("the pod running", Duration::from_secs(60), || {
            let p = api("GET", path, None);
            (p["status"]["phase"] == "Running")
                .then(|| p["status"]["podIP"].as_str().map(str::to_string))
                .flatten()
        });
        assert!(
            ip.starts_with("198.19.253."),
            "pod IP {ip} is on the node's bridge"
        );

        // A killed container is restarted: restartCount up, the last state
        // says how it ended (the witness of a Kubernetes `kill`).
        let id = wait_for("the pod's container", Duration::from_secs(10), || {
            node_container("probe")
        });
        let killed = Command::new("docker")
            .args([
                "-H",
                &format!("unix://{}", k8s::engine_socket(1)),
                "kill",
                &id,
            ])
            .status()
            .unwrap();
        assert!(killed.success());
        let last = wait_for("restartCount 1", Duration::from_secs(60), || {
            let p = api("GET", path, None);
            let c = &p["status"]["containerStatuses"][0];
            (c["restartCount"] == 1).then(|| c["lastState"]["terminated"].clone())
        });
        assert_eq!(last["exitCode"], 137, "SIGKILL's exit code: {last}");

        // Deleted with grace 0, the pod is gone from the API.
        api(
            "DELETE",
            path,
            Some(&serde_json::json!({"gracePeriodSeconds": 0})),
        );
        wait_for("the pod gone", Duration::from_secs(30), || {
            (api("GET", path, None)["reason"] == "NotFound").then_some(())
        });
    });

    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
}
