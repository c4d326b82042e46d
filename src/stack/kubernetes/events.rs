//! What the cluster says happened to the run's pods, on the run's timeline:
//! each pod's container seen to start, die (with the exit code and the
//! reason of its last termination: `OOMKilled`, `Error`), be restarted, and
//! pods appearing and going away; and the cluster's own Event objects
//! (`Killing`, `Started`, `BackOff`, ...). Read every 100 ms from the API.
//!
//! Pod changes carry Docker's action names (`start`, `die`, `oom`,
//! `destroy`, `create`), so the faults' witnesses read them as they read
//! Docker's; the cluster's events have type `k8s` and their reason as action.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};

use super::pods::PodState;
use crate::clock::Clock;
use crate::stack::{labels, DockerEvent, EventLog, Role};

/// How often the recorder reads the pods and the events.
const EVERY: Duration = Duration::from_millis(100);

/// Starts the recorder of `namespace`; abort the task to stop it.
pub fn start_recording(
    client: kube::Client,
    namespace: &str,
    run_id: &str,
    clock: Clock,
    log: EventLog,
) -> tokio::task::JoinHandle<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let events: Api<Event> = Api::namespaced(client, namespace);
    let selector = format!("{}={run_id}", labels::RUN);
    tokio::spawn(async move {
        let mut seen = Seen::default();
        loop {
            if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await {
                let now = clock.now_ms();
                for e in seen.pod_changes(&list.items, now) {
                    log.push(e);
                }
            }
            if let Ok(list) = events.list(&ListParams::default()).await {
                for e in seen.new_events(&list.items, &clock) {
                    log.push(e);
                }
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

/// What the recorder saw last.
#[derive(Default)]
struct Seen {
    /// Pod uid -> (role, last state).
    pods: HashMap<String, (Option<Role>, PodState)>,
    /// Pod name -> role, for the cluster's events.
    names: HashMap<String, Role>,
    /// Event uid -> count already recorded.
    events: HashMap<String, i32>,
}

fn role_of(pod: &Pod) -> Option<Role> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::ROLE))
        .and_then(|r| Role::parse(r))
}

fn event(at_ms: f64, kind: &str, action: &str, role: Option<Role>, actor: &str) -> DockerEvent {
    DockerEvent {
        at_ms,
        unix_nanos: 0,
        kind: kind.into(),
        action: action.into(),
        role,
        actor: actor.into(),
        attributes: BTreeMap::new(),
    }
}

impl Seen {
    /// The changes between the last list of pods and `now`'s.
    fn pod_changes(&mut self, pods: &[Pod], now: f64) -> Vec<DockerEvent> {
        let mut out = Vec::new();
        let mut present = HashSet::new();
        for pod in pods {
            let state = PodState::of(pod);
            let role = role_of(pod);
            if let Some(r) = role {
                self.names.insert(state.name.clone(), r);
            }
            present.insert(state.uid.clone());
            let mut e = |action: &str, attrs: &[(&str, String)]| {
                let mut ev = event(now, "pod", action, role, &state.uid);
                ev.attributes.insert("name".into(), state.name.clone());
                for (k, v) in attrs {
                    ev.attributes.insert(k.to_string(), v.clone());
                }
                out.push(ev);
            };
            let before = self.pods.get(&state.uid).map(|(_, s)| s.clone());
            match &before {
                None => e("create", &[]),
                Some(b) => {
                    let restarted = state.restart_count > b.restart_count;
                    if (b.running && !state.running) || restarted {
                        let (code, reason) =
                            state.last_terminated.clone().unwrap_or((-1, String::new()));
                        if reason == "OOMKilled" {
                            e("oom", &[]);
                        }
                        e(
                            "die",
                            &[
                                ("exitCode", code.to_string()),
                                ("reason", reason),
                                ("restartCount", state.restart_count.to_string()),
                            ],
                        );
                    }
                    if !b.deleting && state.deleting {
                        e("kill", &[]);
                    }
                }
            }
            let was_running = before.as_ref().is_some_and(|b| b.running);
            let restarted = before
                .as_ref()
                .is_some_and(|b| state.restart_count > b.restart_count);
            if state.running && (!was_running || restarted) {
                e(
                    "start",
                    &[("restartCount", state.restart_count.to_string())],
                );
            }
            self.pods.insert(state.uid.clone(), (role, state));
        }
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|uid| !present.contains(*uid))
            .cloned()
            .collect();
        for uid in gone {
            if let Some((role, state)) = self.pods.remove(&uid) {
                let mut ev = event(now, "pod", "destroy", role, &uid);
                ev.attributes.insert("name".into(), state.name);
                out.push(ev);
            }
        }
        out
    }

    /// The cluster's events not recorded yet (or counted again since).
    fn new_events(&mut self, events: &[Event], clock: &Clock) -> Vec<DockerEvent> {
        let mut out = Vec::new();
        for e in events {
            let uid = e.metadata.uid.clone().unwrap_or_default();
            let count = e.count.unwrap_or(1);
            if self.events.get(&uid).is_some_and(|c| *c >= count) {
                continue;
            }
            self.events.insert(uid.clone(), count);
            let when = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or_else(|| e.event_time.as_ref().map(|t| t.0))
                .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
            let unix_nanos = when.map(|t| t.as_nanosecond() as i64).unwrap_or(0);
            let at_ms = if unix_nanos > 0 {
                clock.ms_from_unix_nanos(unix_nanos)
            } else {
                clock.now_ms()
            };
            let object = e.involved_object.name.clone().unwrap_or_default();
            let role = self
                .names
                .get(&object)
                .copied()
                .or_else(|| role_by_name(&object));
            let reason = e.reason.clone().unwrap_or_default();
            let mut ev = event(at_ms, "k8s", &reason, role, &object);
            ev.unix_nanos = unix_nanos;
            let kind = e.involved_object.kind.clone().unwrap_or_default();
            ev.attributes
                .insert("object".into(), format!("{kind}/{object}"));
            ev.attributes
                .insert("message".into(), e.message.clone().unwrap_or_default());
            ev.attributes
                .insert("type".into(), e.type_.clone().unwrap_or_default());
            ev.attributes.insert("count".into(), count.to_string());
            out.push(ev);
        }
        out
    }
}

/// The role of a Deployment or ReplicaSet by its name (`takeover-primary...`).
fn role_by_name(name: &str) -> Option<Role> {
    let rest = name.strip_prefix("takeover-")?;
    Role::ALL
        .into_iter()
        .find(|r| rest == r.as_str() || rest.starts_with(&format!("{}-", r.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, running: bool, restarts: i32, last: Option<(i32, &str)>) -> Pod {
        let mut status = json!({
            "phase": "Running", "podIP": "198.19.253.5",
            "containerStatuses": [{
                "name": "main", "ready": running, "restartCount": restarts, "image": "x", "imageID": "",
                "state": if running { json!({"running": {}}) } else { json!({"waiting": {"reason": "CrashLoopBackOff"}}) },
            }],
        });
        if let Some((code, reason)) = last {
            status["containerStatuses"][0]["lastState"] =
                json!({"terminated": {"exitCode": code, "reason": reason}});
        }
        serde_json::from_value(json!({
            "metadata": {"name": format!("takeover-primary-{uid}"), "uid": uid,
                         "labels": {labels::ROLE: "primary"}},
            "status": status,
        }))
        .unwrap()
    }

    fn actions(events: &[DockerEvent]) -> Vec<String> {
        events.iter().map(|e| e.action.clone()).collect()
    }

    #[test]
    fn a_restart_is_a_die_with_its_exit_code_then_a_start() {
        let mut seen = Seen::default();
        assert_eq!(
            actions(&seen.pod_changes(&[pod("a", true, 0, None)], 1.0)),
            ["create", "start"]
        );
        assert!(seen.pod_changes(&[pod("a", true, 0, None)], 2.0).is_empty());
        // Restarted between two reads: the die is still seen, by the count.
        let changes = seen.pod_changes(&[pod("a", true, 1, Some((137, "Error")))], 3.0);
        assert_eq!(actions(&changes), ["die", "start"]);
        assert_eq!(changes[0].attr("exitCode"), Some("137"));
        assert_eq!(changes[0].role, Some(Role::Primary));
        let oom = seen.pod_changes(&[pod("a", false, 2, Some((137, "OOMKilled")))], 4.0);
        assert_eq!(actions(&oom), ["oom", "die"]);
        // The pod deleted and replaced by a new one.
        let replaced = seen.pod_changes(&[pod("b", true, 0, None)], 5.0);
        assert_eq!(actions(&replaced), ["create", "start", "destroy"]);
        assert_eq!(replaced[2].actor, "a");
    }

    #[test]
    fn deployment_and_replica_set_names_give_the_role() {
        assert_eq!(role_by_name("takeover-standby"), Some(Role::Standby));
        assert_eq!(role_by_name("takeover-primary-5d8f7"), Some(Role::Primary));
        assert_eq!(
            role_by_name("takeover-frontdoor-1-x"),
            Some(Role::Frontdoor)
        );
        assert_eq!(role_by_name("kube-proxy"), None);
    }
}
