//! The observers of an iteration: probes through the front door and
//! HAProxy's view of its servers, from before the job to after the
//! recovery; and what they leave: samples, front-door record, figures.

use std::time::Duration;

use super::record::{Observed, Recorder};
use crate::clock::Clock;
use crate::probe::frontdoor::{FrontdoorPoller, ServerView};
use crate::probe::{ProbeConfig, ProbeHandle};
use crate::report::model::EventKind;
use crate::report::state::ServerStatus;
use crate::run::figures::{self, Recorded};
use crate::run::frontdoor_account;
use crate::scenario::{ProbeSpec, Scenario};
use crate::stack::Stack;
use crate::workload::StatusPoll;

/// How often HAProxy's view is read during an iteration.
const FRONTDOOR_POLL: Duration = Duration::from_millis(50);

/// The probes and the front-door poller, while they run.
pub(super) struct Observers {
    prober: Option<ProbeHandle>,
    poller: Option<FrontdoorPoller>,
    /// The probes' settings, with the path they request.
    probe: ProbeSpec,
    path: String,
}

impl Observers {
    /// Starts the front-door poller and the probes. A front door without a
    /// view is noted; probes that cannot start fail the iteration.
    pub(super) fn start(stack: &Stack, rec: &mut Recorder<'_>, scenario: &Scenario) -> Self {
        let (probe, path) = (&scenario.probe, scenario.probe_path());
        let clock = rec.clock;
        let poller = start_frontdoor_poller(stack, clock);
        if poller.is_none() {
            rec.now(
                EventKind::Note,
                format!("front-door view {}", crate::stack::nginx::NO_VIEW),
            );
        }
        let mut probe_config = ProbeConfig::new(format!("{}{}", stack.frontdoor_url(), path))
            .with_interval(probe.interval.get())
            .with_timeout(probe.timeout.get());
        probe_config.own_address = stack.frontdoor_own_address();
        // Real hosts (`stack.allow_remote`) put the front door off this machine.
        probe_config.remote_ok = stack.spec().allow_remote;
        let prober = match crate::probe::start(probe_config, clock) {
            Ok(p) => {
                rec.now(
                    EventKind::ProbesStarted,
                    format!(
                        "GET {} every {}, prober threads {}",
                        path,
                        probe.interval,
                        p.scheduling()
                    ),
                );
                Some(p)
            }
            Err(e) => {
                rec.fail(format!("the probes could not start: {e}"));
                None
            }
        };
        Self {
            prober,
            poller,
            probe: probe.clone(),
            path: path.to_string(),
        }
    }

    /// Keeps probing until the service has recovered from the measured fault
    /// (or its deadline passed), so that the RTO is measured, not cut short.
    pub(super) async fn wait_for_recovery(&self, scenario: &Scenario, rec: &mut Recorder<'_>) {
        let clock = rec.clock;
        let (Some(p), Some(fault)) = (&self.prober, figures::measured_fault(&rec.faults)) else {
            return;
        };
        rec.ui.phase("waiting for the front door to recover");
        let fault_at = fault.in_effect_at_ms.unwrap_or(fault.requested_at_ms);
        let deadline = fault_at + scenario.deadlines.recovery.as_millis_f64();
        loop {
            let mut samples = p.samples_so_far();
            samples.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
            let onset = figures::onset_ms(fault, &samples);
            match crate::timeline::recovery(&samples, onset, scenario.probe.sustain) {
                crate::timeline::Recovery::Recovered { .. }
                | crate::timeline::Recovery::NoOutageSeen => break,
                _ if clock.now_ms() > deadline => break,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Stops both observers and records what they saw: the front door's
    /// changes of view, the probe series and who served each probe, the
    /// figures with their events, and the front door's own account.
    pub(super) async fn finish(
        self,
        stack: &Stack,
        rec: &mut Recorder<'_>,
        out: &mut Observed,
        polls: &[StatusPoll],
    ) {
        let (probe, probe_path) = (&self.probe, self.path.as_str());
        let sustain = probe.sustain;
        let samples = match self.prober {
            Some(p) => p.stop().await,
            None => Vec::new(),
        };
        let seen = match self.poller {
            Some(p) => p.stop().await,
            None => Default::default(),
        };
        for snap in &seen.snapshots {
            for s in &snap.servers {
                let changed = out
                    .frontdoor
                    .iter()
                    .rev()
                    .find(|x| x.server == s.name)
                    .is_none_or(|x| x.status != ServerStatus::from_up(s.up));
                if changed {
                    out.frontdoor.push(crate::report::model::FrontdoorSample {
                        at_ms: snap.answered_ms,
                        server: s.name.clone(),
                        status: ServerStatus::from_up(s.up),
                        backup: s.backup,
                    });
                }
            }
        }
        for e in crate::timeline::frontdoor_events(&seen.snapshots) {
            rec.event(e.at_ms, e.kind, e.detail);
        }
        // The figures come from the probes as stored, so report.json alone gives them again.
        let interval = probe.interval.as_millis_f64();
        out.probes = figures::probe_series(&samples, probe_path, interval);
        // The front door's own record of each probe, from its request log.
        let log = stack.frontdoor_log().await;
        out.probes.served_by = frontdoor_account::served_by(&samples, &log);
        let stored = figures::samples_of(&out.probes);
        let (fig, probe_events) = figures::figures(&Recorded {
            probes: &stored,
            sustain,
            job: &figures::timeline_job_samples(polls),
            faults: &rec.faults,
            events: &rec.events,
            served_by: &out.probes.served_by,
        });
        for e in probe_events {
            rec.event(e.at_ms, e.kind, e.detail);
        }
        out.figures = fig;
        out.frontdoor_accounts = frontdoor_account::accounts(&stored, &log, stack.clock());
        if let Some(line) = frontdoor_account::summary(&out.frontdoor_accounts, log.len()) {
            rec.now(EventKind::Note, line);
        }
    }
}

/// Fails the iteration when a fault was measured but the front door never
/// served `sustain` good probes in a row after it (no RTO).
pub(super) fn require_recovery(scenario: &Scenario, rec: &mut Recorder<'_>, out: &Observed) {
    if out.figures.onset_ms.is_some() && out.figures.rto_ms.is_none() {
        rec.fail(format!(
            "the front door did not serve {} good probes in a row within {} of the fault",
            scenario.probe.sustain, scenario.deadlines.recovery
        ));
    }
}

/// Polls HAProxy's view of its servers; `None` for a front door that has no
/// such view (Nginx), which has no front-door samples and no `detect_ms`.
fn start_frontdoor_poller(stack: &Stack, clock: Clock) -> Option<FrontdoorPoller> {
    if stack.frontdoor_kind() != crate::stack::FrontdoorKind::Haproxy {
        return None;
    }
    let stats_url = stack.frontdoor_stats_url().to_string();
    Some(FrontdoorPoller::start(FRONTDOOR_POLL, clock, move || {
        let stats_url = stats_url.clone();
        async move {
            crate::stack::haproxy::read_view(&stats_url, &clock)
                .await
                .map(|servers| {
                    servers
                        .into_iter()
                        .map(|s| ServerView {
                            up: s.is_up(),
                            name: s.server,
                            backup: s.backup,
                            sessions_total: None,
                        })
                        .collect::<Vec<_>>()
                })
        }
    }))
}
