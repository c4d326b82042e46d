//! Polls the front door's own view of its servers (HAProxy's stats) on a
//! fixed interval and keeps every snapshot with its time, so that the
//! timeline can say when the primary was marked down and when traffic moved
//! to the backup ([`crate::timeline::frontdoor_events`] derives the events).
//!
//! The poller does not know how to read HAProxy: the caller passes a closure
//! (normally wrapping `Stack::frontdoor_view()`) that returns [`ServerView`]s.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
pub use crate::timeline::{FrontdoorSnapshot, ServerView};

/// What a poller collected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrontdoorObservations {
    /// Successful polls, in time order.
    pub snapshots: Vec<FrontdoorSnapshot>,
    /// Failed polls: (clock ms, error text).
    pub errors: Vec<(f64, String)>,
}

/// A running poller; stop it to get what it saw.
pub struct FrontdoorPoller {
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
    seen: Arc<Mutex<FrontdoorObservations>>,
}

impl FrontdoorPoller {
    /// Polls `view` every `interval` (a poll that is still running delays the
    /// next one; polls never overlap) until stopped.
    pub fn start<F, Fut, E>(interval: Duration, clock: Clock, mut view: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<ServerView>, E>> + Send,
        E: std::fmt::Display,
    {
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let seen = Arc::new(Mutex::new(FrontdoorObservations::default()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop_rx.wait_for(|s| *s) => return,
                }
                let asked_ms = clock.now_ms();
                let result = view().await;
                let answered_ms = clock.now_ms();
                let mut seen = sink.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Ok(servers) => seen.snapshots.push(FrontdoorSnapshot {
                        asked_ms,
                        answered_ms,
                        servers,
                    }),
                    Err(e) => seen.errors.push((answered_ms, e.to_string())),
                }
            }
        });
        Self {
            stop_tx,
            task,
            seen,
        }
    }

    /// A copy of what was seen so far.
    pub fn observations_so_far(&self) -> FrontdoorObservations {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops polling (a poll in progress finishes first) and returns what was seen.
    pub async fn stop(self) -> FrontdoorObservations {
        let _ = self.stop_tx.send(true);
        let _ = self.task.await;
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.clone()
    }
}
