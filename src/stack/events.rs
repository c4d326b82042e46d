//! Docker events of one run, recorded from before its first container starts,
//! each stamped with the engine's own time (mapped onto the run's clock).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::query_parameters::EventsOptions;
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::watch;

use super::{labels, Role};
use crate::clock::Clock;

/// One Docker event of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerEvent {
    /// When the engine says it happened, in clock ms.
    pub at_ms: f64,
    /// The engine's timestamp, Unix nanoseconds.
    pub unix_nanos: i64,
    /// Object type: `container`, `network`, `volume`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What happened: `start`, `die`, `oom`, `kill`, `pause`, `unpause`, `disconnect`, `connect`, ...
    pub action: String,
    /// The stack container it concerns, if any.
    pub role: Option<Role>,
    /// The object's id.
    pub actor: String,
    /// The event's attributes (`exitCode`, `signal`, `container`, labels, ...).
    pub attributes: BTreeMap<String, String>,
}

impl DockerEvent {
    /// One attribute, if present.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The shared, growing list of a run's events. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    events: Arc<Mutex<Vec<DockerEvent>>>,
    count: watch::Receiver<usize>,
    count_tx: Arc<watch::Sender<usize>>,
    /// Container id -> role, to name the role of network events.
    roles: Arc<Mutex<HashMap<String, Role>>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(0);
        Self {
            events: Arc::default(),
            count: rx,
            count_tx: Arc::new(tx),
            roles: Arc::default(),
        }
    }

    /// Every event so far, in arrival order.
    pub fn snapshot(&self) -> Vec<DockerEvent> {
        self.events.lock().expect("event log poisoned").clone()
    }

    /// Number of events so far.
    pub fn len(&self) -> usize {
        self.events.lock().expect("event log poisoned").len()
    }

    /// Whether no event arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an event (the recorder does this; tests may too).
    pub fn push(&self, event: DockerEvent) {
        let n = {
            let mut events = self.events.lock().expect("event log poisoned");
            events.push(event);
            events.len()
        };
        self.count_tx.send_replace(n);
    }

    /// Records which role a container id has, so that network events name it.
    pub fn learn_container(&self, id: &str, role: Role) {
        self.roles
            .lock()
            .expect("event log poisoned")
            .insert(id.to_string(), role);
    }

    fn role_of_container(&self, id: &str) -> Option<Role> {
        self.roles
            .lock()
            .expect("event log poisoned")
            .get(id)
            .copied()
    }

    /// The first event at index `from` or later that matches, waiting up to `deadline` for it.
    pub async fn wait_for(
        &self,
        from: usize,
        deadline: Duration,
        matches: impl Fn(&DockerEvent) -> bool,
    ) -> Option<DockerEvent> {
        let mut rx = self.count.clone();
        let until = tokio::time::Instant::now() + deadline;
        let mut next = from;
        loop {
            {
                let events = self.events.lock().expect("event log poisoned");
                if let Some(found) = events.iter().skip(next).find(|e| matches(e)) {
                    return Some(found.clone());
                }
                next = events.len().max(next);
            }
            match tokio::time::timeout_at(until, rx.changed()).await {
                Ok(Ok(())) => continue,
                // The recorder is gone (its sender lives in self, so this is unreachable) or time is up.
                _ => {
                    let events = self.events.lock().expect("event log poisoned");
                    return events.iter().skip(next).find(|e| matches(e)).cloned();
                }
            }
        }
    }

    /// Waits for `action` on the container of `role`, at index `from` or later.
    pub async fn wait_for_action(
        &self,
        from: usize,
        role: Role,
        action: &str,
        deadline: Duration,
    ) -> Option<DockerEvent> {
        self.wait_for(from, deadline, |e| {
            e.role == Some(role) && e.action == action
        })
        .await
    }
}

/// The recording tasks of a run; dropping it stops them.
#[derive(Debug, Default)]
pub struct Recorder(Vec<tokio::task::JoinHandle<()>>);

impl Recorder {
    /// Takes over `other`'s subscriptions (a multi-host run records from each engine).
    pub fn absorb(&mut self, mut other: Recorder) {
        self.0.append(&mut other.0);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Starts recording the container and volume events of `run_id` (label filter)
/// and the events of the run's network. Returns once the engine has accepted
/// the subscriptions, so that no later event is missed.
pub async fn start_recording(
    docker: &Docker,
    run_id: &str,
    network: &str,
    clock: Clock,
    log: &EventLog,
) -> Recorder {
    let by_label = EventsOptions {
        filters: Some(labels::run_filter(run_id)),
        ..Default::default()
    };
    let by_network = EventsOptions {
        filters: Some(HashMap::from([
            ("type".to_string(), vec!["network".to_string()]),
            ("network".to_string(), vec![network.to_string()]),
        ])),
        ..Default::default()
    };
    let mut tasks = Vec::new();
    let mut readiness = Vec::new();
    for options in [by_label, by_network] {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let docker = docker.clone();
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = Box::pin(docker.events(Some(options)));
            let mut ready = Some(ready_tx);
            // The engine answers the subscription with headers before any event;
            // polling once is enough to have it registered. Signal after a short grace.
            let first = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
            if let Some(tx) = ready.take() {
                let _ = tx.send(());
            }
            if let Ok(Some(Ok(msg))) = first {
                record(&log, &clock, msg);
            }
            while let Some(item) = stream.next().await {
                match item {
                    Ok(msg) => record(&log, &clock, msg),
                    Err(_) => break,
                }
            }
        }));
        readiness.push(ready_rx);
    }
    // Both subscriptions are made at once; wait for the two of them.
    futures_util::future::join_all(readiness).await;
    Recorder(tasks)
}

fn record(log: &EventLog, clock: &Clock, msg: bollard::models::EventMessage) {
    let unix_nanos = msg
        .time_nano
        .or(msg.time.map(|s| s * 1_000_000_000))
        .unwrap_or(0);
    let kind = msg.typ.map(|t| t.to_string()).unwrap_or_default();
    let actor = msg.actor.unwrap_or_default();
    let attributes: BTreeMap<String, String> =
        actor.attributes.unwrap_or_default().into_iter().collect();
    let id = actor.id.unwrap_or_default();
    let role = if kind == "network" {
        attributes
            .get("container")
            .and_then(|c| log.role_of_container(c))
    } else {
        attributes
            .get(labels::ROLE)
            .and_then(|r| Role::parse(r))
            .or_else(|| log.role_of_container(&id))
    };
    let mut action = msg.action.unwrap_or_default();
    // exec events carry the command after a colon; keep the verb as the action.
    if let Some((verb, _)) = action.split_once(": ") {
        action = verb.to_string();
    }
    log.push(DockerEvent {
        at_ms: clock.ms_from_unix_nanos(unix_nanos),
        unix_nanos,
        kind,
        action,
        role,
        actor: id,
        attributes,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, role: Role) -> DockerEvent {
        DockerEvent {
            at_ms: 1.0,
            unix_nanos: 0,
            kind: "container".into(),
            action: action.into(),
            role: Some(role),
            actor: "x".into(),
            attributes: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn wait_for_sees_a_later_event_and_times_out_without_one() {
        let log = EventLog::new();
        log.push(event("start", Role::Primary));
        let from = log.len();
        let pusher = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            pusher.push(event("die", Role::Primary));
        });
        let got = log
            .wait_for_action(from, Role::Primary, "die", Duration::from_secs(2))
            .await;
        assert_eq!(got.map(|e| e.action), Some("die".to_string()));
        let none = log
            .wait_for_action(from, Role::Standby, "die", Duration::from_millis(50))
            .await;
        assert!(none.is_none());
        // An event before `from` is not a match.
        let none = log
            .wait_for_action(log.len(), Role::Primary, "start", Duration::from_millis(20))
            .await;
        assert!(none.is_none());
    }
}
