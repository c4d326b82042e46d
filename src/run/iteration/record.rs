//! The iteration's record as it is made: events, reasons, faults, runbooks,
//! phase times; and the one place an [`Iteration`] is written from it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::report::model::{
    AudioRecord, Event, EventKind, FaultRecord, Figures, FrontdoorAccount, FrontdoorSample,
    Iteration, IterationOutcome, JobRecord, ProbeSeries, RunbookRecord,
};
use crate::run::progress::Ui;

/// Collects an iteration's record as it happens.
pub(super) struct Recorder<'u> {
    pub(super) index: u32,
    pub(super) clock: Clock,
    pub(super) events: Vec<Event>,
    pub(super) reasons: Vec<String>,
    pub(super) inconclusive: Vec<String>,
    pub(super) faults: Vec<FaultRecord>,
    pub(super) runbooks: Vec<RunbookRecord>,
    pub(super) phases: BTreeMap<String, f64>,
    pub(super) ui: &'u mut Ui,
}

/// What the observers, the job and the audio check left for the record
/// (all empty when the stack never came up).
#[derive(Default)]
pub(super) struct Observed {
    pub(super) figures: Figures,
    pub(super) probes: ProbeSeries,
    pub(super) job: Option<JobRecord>,
    pub(super) frontdoor: Vec<FrontdoorSample>,
    pub(super) frontdoor_accounts: Vec<FrontdoorAccount>,
    pub(super) audio: Option<AudioRecord>,
}

impl<'u> Recorder<'u> {
    /// An empty record for iteration `index`, timed from `clock`.
    pub(super) fn new(index: u32, clock: Clock, ui: &'u mut Ui) -> Self {
        Self {
            index,
            clock,
            events: Vec::new(),
            reasons: Vec::new(),
            inconclusive: Vec::new(),
            faults: Vec::new(),
            runbooks: Vec::new(),
            phases: BTreeMap::new(),
            ui,
        }
    }

    /// Records an event at `at_ms` and shows it.
    pub(super) fn event(&mut self, at_ms: f64, kind: EventKind, detail: impl Into<String>) {
        let detail = detail.into();
        self.ui
            .event(at_ms, &format!("{}: {detail}", kind_label(kind)));
        self.events.push(Event {
            at_ms,
            kind,
            detail,
        });
    }

    /// Records an event now.
    pub(super) fn now(&mut self, kind: EventKind, detail: impl Into<String>) {
        let at = self.clock.now_ms();
        self.event(at, kind, detail);
    }

    /// A failed expectation.
    pub(super) fn fail(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        self.ui.result(&format!("  failed: {reason}"));
        self.reasons.push(reason);
    }

    /// A reason the drill proves nothing either way.
    pub(super) fn inconclusive(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        self.ui.result(&format!("  inconclusive: {reason}"));
        self.inconclusive.push(reason);
    }

    /// The verdict the reasons recorded so far give.
    pub(super) fn outcome(&self) -> IterationOutcome {
        if !self.reasons.is_empty() {
            IterationOutcome::Failed
        } else if !self.inconclusive.is_empty() {
            IterationOutcome::Inconclusive
        } else {
            IterationOutcome::Passed
        }
    }

    /// The iteration's record: the one place its fields are written.
    /// Failures come before inconclusive reasons; events in time order;
    /// the duration is taken now.
    pub(super) fn into_iteration(
        self,
        run_id: String,
        started_at: DateTime<Utc>,
        outcome: IterationOutcome,
        observed: Observed,
    ) -> Iteration {
        let mut reasons = self.reasons;
        reasons.extend(self.inconclusive);
        let mut events = self.events;
        events.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        Iteration {
            index: self.index,
            run_id,
            started_at,
            duration_ms: self.clock.now_ms(),
            outcome,
            reasons,
            events,
            figures: observed.figures,
            faults: self.faults,
            runbooks: self.runbooks,
            probes: observed.probes,
            job: observed.job,
            frontdoor: observed.frontdoor,
            frontdoor_accounts: observed.frontdoor_accounts,
            audio: observed.audio,
            phases_ms: self.phases,
        }
    }
}

fn kind_label(kind: EventKind) -> String {
    kind.as_str().replace('_', " ")
}
