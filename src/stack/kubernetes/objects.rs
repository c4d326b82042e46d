//! The Kubernetes objects of one run, as pure functions of the spec: the
//! namespace, the secret, HAProxy's ConfigMap, a Deployment per role, the
//! front door's Service and the checkpoint claim. Every object carries the
//! run's labels (`takeover.run`, owner pid and host, and the role where it
//! has one); only stable APIs (core/v1, apps/v1) are used.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service};
use serde_json::{json, Value};

use crate::stack::{haproxy, labels, Role, StackSpec, FAULT_TOKEN_ENV, REDIS_PASSWORD_ENV};

/// Port Redis listens on in its pod.
pub const REDIS_PORT: u16 = 6379;
/// Name of the run's Secret (fault token, Redis password).
pub const SECRET: &str = "takeover-secrets";
/// Name of HAProxy's ConfigMap.
pub const HAPROXY_CONFIG: &str = "takeover-haproxy";
/// Name of the checkpoint claim (with `checkpoint_storage_class`).
pub const CHECKPOINT_CLAIM: &str = "takeover-checkpoints";
/// Name of the container in every pod of the stack.
pub const CONTAINER: &str = "main";
/// Folder on the node under which a run's hostPath checkpoint folder lives.
pub const HOST_PATH_ROOT: &str = "/tmp/takeover-k8s-data";

/// The namespace of a run: its id, which is a valid DNS label.
pub fn namespace_name(run_id: &str) -> String {
    run_id.to_string()
}

/// The hostPath folder of a run's checkpoints (one-node clusters).
pub fn host_path(run_id: &str) -> String {
    format!("{HOST_PATH_ROOT}/{run_id}")
}

/// The name of a role's Deployment (and the prefix of its pods).
pub fn deployment_name(role: Role) -> String {
    format!("takeover-{}", role.as_str())
}

/// The label selector of a role's pods.
pub fn role_selector(run_id: &str, role: Role) -> String {
    format!(
        "{}={run_id},{}={}",
        labels::RUN,
        labels::ROLE,
        role.as_str()
    )
}

fn run_labels(run_id: &str) -> BTreeMap<String, String> {
    labels::for_run(run_id).into_iter().collect()
}

fn role_labels(run_id: &str, role: Role) -> BTreeMap<String, String> {
    let mut l = run_labels(run_id);
    l.insert(labels::ROLE.to_string(), role.as_str().to_string());
    l
}

/// Only the labels a selector needs (the owner's pid may not match a pod's).
fn selector_labels(run_id: &str, role: Role) -> Value {
    json!({ labels::RUN: run_id, labels::ROLE: role.as_str() })
}

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a built object matches its API type")
}

/// The run's namespace.
pub fn namespace(run_id: &str) -> Namespace {
    typed(json!({
        "metadata": {"name": namespace_name(run_id), "labels": run_labels(run_id)}
    }))
}

/// The run's secrets, read by the workers and Redis from their environment.
pub fn secret(run_id: &str, fault_token: &str, redis_password: &str) -> Secret {
    typed(json!({
        "metadata": {"name": SECRET, "labels": run_labels(run_id)},
        "stringData": {FAULT_TOKEN_ENV: fault_token, REDIS_PASSWORD_ENV: redis_password},
    }))
}

/// HAProxy's configuration as a ConfigMap (mounted at `/etc/haproxy`).
pub fn haproxy_config(run_id: &str, config: &str) -> ConfigMap {
    typed(json!({
        "metadata": {"name": HAPROXY_CONFIG, "labels": run_labels(run_id)},
        "data": {"haproxy.cfg": config},
    }))
}

/// The ReadWriteMany claim both workers mount, of `class`.
pub fn checkpoint_claim(run_id: &str, class: &str) -> PersistentVolumeClaim {
    typed(json!({
        "metadata": {"name": CHECKPOINT_CLAIM, "labels": run_labels(run_id)},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": class,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }))
}

/// How pods get their images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// Loaded into the node's engine beforehand: never pulled.
    Never,
    /// Pulled when the node lacks them.
    IfNotPresent,
}

impl Pull {
    fn as_str(self) -> &'static str {
        match self {
            Pull::Never => "Never",
            Pull::IfNotPresent => "IfNotPresent",
        }
    }
}

fn secret_env(name: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": name}}})
}

/// A Deployment of one replica running `container` in `role`'s pod. Pods are
/// replaced at once when deleted (`Recreate`), restarted in place when their
/// process dies (`restartPolicy: Always`), and end at once when deleted
/// (grace 0), so that a drill's faults are what ends them.
fn deployment(run_id: &str, role: Role, container: Value, pod_extra: Value) -> Deployment {
    let mut pod_spec = json!({
        "containers": [container],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 0,
        "enableServiceLinks": false,
        // The stack uses addresses, not names: no cluster DNS needed.
        "dnsPolicy": "Default",
        "automountServiceAccountToken": false,
    });
    if let (Some(spec), Some(extra)) = (pod_spec.as_object_mut(), pod_extra.as_object()) {
        spec.extend(extra.clone());
    }
    pod_spec["affinity"] = placement(run_id, role);
    typed(json!({
        "metadata": {"name": deployment_name(role), "labels": role_labels(run_id, role)},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(run_id, role)},
            "template": {
                "metadata": {"labels": role_labels(run_id, role)},
                "spec": pod_spec,
            },
        },
    }))
}

/// Redis (role `state`): no persistence, the run's password.
pub fn redis(run_id: &str, image: &str, pull: Pull) -> Deployment {
    // The password comes from the Secret through the environment; Kubernetes
    // expands `$(VAR)` in arguments, so it is never written in the object.
    let container = json!({
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": pull.as_str(),
        "args": ["--bind", "0.0.0.0", "--protected-mode", "no", "--save", "",
                 "--appendonly", "no", "--requirepass", format!("$({REDIS_PASSWORD_ENV})")],
        "env": [secret_env(REDIS_PASSWORD_ENV)],
        "ports": [{"containerPort": REDIS_PORT}],
    });
    deployment(run_id, Role::State, container, json!({}))
}

/// Where a role's pod prefers to run: the primary on a node of its own, the
/// standby, Redis and the front door together on another, so that losing the
/// primary's node (`node-loss`) loses the primary only. Preferences, not
/// rules: on a one-node cluster every pod still runs.
pub fn placement(run_id: &str, role: Role) -> Value {
    let term = |other: Role| {
        json!({
            "weight": 100,
            "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": selector_labels(run_id, other)},
            },
        })
    };
    let (with, away_from): (&[Role], &[Role]) = match role {
        Role::Primary => (&[], &[Role::Standby, Role::State, Role::Frontdoor]),
        Role::Standby | Role::Frontdoor => (&[Role::State], &[Role::Primary]),
        Role::State => (&[], &[Role::Primary]),
    };
    let mut affinity = json!({});
    if !with.is_empty() {
        affinity["podAffinity"] = json!({
            "preferredDuringSchedulingIgnoredDuringExecution":
                with.iter().map(|r| term(*r)).collect::<Vec<_>>(),
        });
    }
    affinity["podAntiAffinity"] = json!({
        "preferredDuringSchedulingIgnoredDuringExecution":
            away_from.iter().map(|r| term(*r)).collect::<Vec<_>>(),
    });
    affinity
}

/// Where the workers keep their checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointVolume {
    /// A folder on the node (one-node clusters).
    HostPath(String),
    /// The run's ReadWriteMany claim.
    Claim,
}

/// One worker (`synth-worker serve`, Redis at `redis_url`), with the data
/// volume at `/data`, a readiness probe on its health check and, where the
/// spec sets one, a memory limit. Primary and standby prefer distinct nodes
/// ([`placement`]).
pub fn worker(
    run_id: &str,
    spec: &StackSpec,
    role: Role,
    image: &str,
    pull: Pull,
    redis_url: &str,
    volume: &CheckpointVolume,
) -> Deployment {
    let w = &spec.worker;
    let listen = format!("0.0.0.0:{}", w.port);
    let args = crate::stack::worker_args_at(spec, role, &listen, redis_url, "/data");
    let mut env = vec![
        json!({"name": "RUST_BACKTRACE", "value": "1"}),
        secret_env(FAULT_TOKEN_ENV),
        secret_env(REDIS_PASSWORD_ENV),
    ];
    env.extend(w.env.iter().map(|(k, v)| json!({"name": k, "value": v})));
    let mut container = json!({
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": pull.as_str(),
        "args": args,
        "env": env,
        "ports": [{"containerPort": w.port}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {
            "httpGet": {"path": w.health.path, "port": w.port},
            "periodSeconds": 1,
        },
    });
    if let Some(limit) = w.memory_limit {
        container["resources"] = json!({"limits": {"memory": limit.0.to_string()}});
    }
    let volume = match volume {
        CheckpointVolume::HostPath(path) => {
            json!({"name": "data", "hostPath": {"path": path, "type": "DirectoryOrCreate"}})
        }
        CheckpointVolume::Claim => {
            json!({"name": "data", "persistentVolumeClaim": {"claimName": CHECKPOINT_CLAIM}})
        }
    };
    let extra = json!({"volumes": [volume]});
    deployment(run_id, role, container, extra)
}

/// HAProxy, its configuration from the run's ConfigMap.
pub fn frontdoor(run_id: &str, image: &str, pull: Pull) -> Deployment {
    let ports = [
        haproxy::FRONT_PORT,
        haproxy::STATS_PORT,
        haproxy::ADMIN_PORT,
    ];
    let container = json!({
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": pull.as_str(),
        "ports": ports.iter().map(|p| json!({"containerPort": p})).collect::<Vec<_>>(),
        "volumeMounts": [{"name": "config", "mountPath": haproxy::CONFIG_DIR, "readOnly": true}],
    });
    let extra = json!({
        "volumes": [{"name": "config", "configMap": {"name": HAPROXY_CONFIG}}],
    });
    deployment(run_id, Role::Frontdoor, container, extra)
}

/// The front door's Service (for users inside the cluster; the harness uses
/// the pod's address).
pub fn frontdoor_service(run_id: &str) -> Service {
    typed(json!({
        "metadata": {"name": "takeover-frontdoor", "labels": run_labels(run_id)},
        "spec": {
            "selector": selector_labels(run_id, Role::Frontdoor),
            "ports": [{"name": "http", "port": haproxy::FRONT_PORT, "targetPort": haproxy::FRONT_PORT}],
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_keeps_away_from_the_others_which_keep_together() {
        let roles = |v: &Value, key: &str| -> Vec<String> {
            v[key]["preferredDuringSchedulingIgnoredDuringExecution"]
                .as_array()
                .map(|terms| {
                    terms
                        .iter()
                        .map(|t| {
                            t["podAffinityTerm"]["labelSelector"]["matchLabels"][labels::ROLE]
                                .as_str()
                                .unwrap()
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let primary = placement("tk-1", Role::Primary);
        assert_eq!(
            roles(&primary, "podAntiAffinity"),
            ["standby", "state", "frontdoor"]
        );
        assert!(primary.get("podAffinity").is_none());
        for role in [Role::Standby, Role::Frontdoor] {
            let p = placement("tk-1", role);
            assert_eq!(roles(&p, "podAffinity"), ["state"], "{role}");
            assert_eq!(roles(&p, "podAntiAffinity"), ["primary"], "{role}");
        }
        let fd = to_json(&frontdoor("tk-1", "h:x", Pull::Never));
        assert_eq!(
            fd["spec"]["template"]["spec"]["affinity"],
            placement("tk-1", Role::Frontdoor)
        );
    }

    fn to_json<T: serde::Serialize>(t: &T) -> Value {
        serde_json::to_value(t).unwrap()
    }

    #[test]
    fn every_object_carries_the_run_label() {
        let run = "tk-20260101-000000-abcd";
        let spec = StackSpec::default();
        let objects = [
            to_json(&namespace(run)),
            to_json(&secret(run, "t", "p")),
            to_json(&haproxy_config(run, "cfg")),
            to_json(&redis(run, "redis:x", Pull::Never)),
            to_json(&worker(
                run,
                &spec,
                Role::Primary,
                "w:x",
                Pull::Never,
                "redis://198.19.253.2:6379",
                &CheckpointVolume::HostPath(host_path(run)),
            )),
            to_json(&frontdoor(run, "h:x", Pull::Never)),
            to_json(&frontdoor_service(run)),
            to_json(&checkpoint_claim(run, "nfs")),
        ];
        for o in &objects {
            assert_eq!(o["metadata"]["labels"][labels::RUN], run, "{o}");
        }
        // The pods of a Deployment are labelled too, so the namespace sweep
        // and the role selectors find them.
        let d = &objects[4];
        assert_eq!(
            d["spec"]["template"]["metadata"]["labels"][labels::ROLE],
            "primary"
        );
        assert_eq!(
            d["spec"]["selector"]["matchLabels"][labels::ROLE],
            "primary"
        );
    }

    #[test]
    fn secrets_stay_out_of_arguments_and_pods_end_at_once() {
        let run = "tk-1";
        let r = to_json(&redis(run, "redis:x", Pull::Never));
        let pod = &r["spec"]["template"]["spec"];
        let args = pod["containers"][0]["args"].to_string();
        assert!(args.contains(&format!("$({REDIS_PASSWORD_ENV})")), "{args}");
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(pod["terminationGracePeriodSeconds"], 0);
        let s = to_json(&secret(run, "token-1", "pw-1"));
        assert_eq!(s["stringData"][FAULT_TOKEN_ENV], "token-1");
    }

    #[test]
    fn workers_share_the_volume_prefer_distinct_nodes_and_get_the_memory_limit() {
        let run = "tk-1";
        let mut spec = StackSpec::default();
        spec.worker.memory_limit = Some(crate::stack::ByteSize(256 << 20));
        let w = to_json(&worker(
            run,
            &spec,
            Role::Standby,
            "w:x",
            Pull::IfNotPresent,
            "redis://10.0.0.1:6379",
            &CheckpointVolume::Claim,
        ));
        let pod = &w["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            CHECKPOINT_CLAIM
        );
        let term = &pod["affinity"]["podAntiAffinity"]
            ["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
        assert_eq!(
            term["labelSelector"]["matchLabels"][labels::ROLE],
            "primary"
        );
        let with = &pod["affinity"]["podAffinity"]
            ["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
        assert_eq!(with["labelSelector"]["matchLabels"][labels::ROLE], "state");
        assert_eq!(
            pod["containers"][0]["resources"]["limits"]["memory"],
            (256u64 << 20).to_string()
        );
        let args = pod["containers"][0]["args"].to_string();
        assert!(args.contains("redis://10.0.0.1:6379"), "{args}");
        assert!(args.contains("\"standby\""), "{args}");
    }
}
