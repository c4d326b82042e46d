//! Each failed probe beside the front door's own record of it (pure).

use crate::clock::Clock;
use crate::probe::ProbeSample;
use crate::report::model::{AccountFinding, FrontdoorAccount};
use crate::stack::haproxy_log::FrontdoorLogLine;

/// HAProxy's timers are whole milliseconds and start when it accepted the
/// connection, a little after the prober sent: an answer this close to the
/// prober's wait came too late for it.
const TIMER_SLACK_MS: f64 = 5.0;

/// The front door's account of every failed probe, in schedule order.
pub fn accounts(
    probes: &[ProbeSample],
    log: &[FrontdoorLogLine],
    clock: &Clock,
) -> Vec<FrontdoorAccount> {
    probes
        .iter()
        .filter(|p| !p.ok)
        .map(|p| {
            let line = log.iter().find(|l| l.probe == p.seq);
            // How long the prober itself waited for this probe.
            let waited_ms = p.latency_ms - p.send_delay_ms();
            let finding = match line {
                None => AccountFinding::NotSeen,
                Some(l) if (200..300).contains(&l.status) && l.termination.starts_with("--") => {
                    if l.active_ms as f64 + TIMER_SLACK_MS >= waited_ms {
                        AccountFinding::FrontdoorTooLate
                    } else {
                        AccountFinding::FrontdoorAnswered
                    }
                }
                Some(_) => AccountFinding::FrontdoorFailed,
            };
            FrontdoorAccount {
                probe: p.seq,
                sent_ms: p.sent_ms,
                prober_saw: p.error.clone().unwrap_or_else(|| "failed".into()),
                finding,
                accepted_ms: line
                    .map(|l| clock.ms_from_unix_nanos((l.accepted_unix_ms * 1e6) as i64)),
                frontdoor: line.cloned(),
            }
        })
        .collect()
}

/// The server that answered each probe by the front door's log, in probe
/// order (`""` where the log has no line for it); empty when the log has no
/// probe lines at all (a front door that does not log them).
pub fn served_by(probes: &[ProbeSample], log: &[FrontdoorLogLine]) -> Vec<String> {
    if log.is_empty() {
        return Vec::new();
    }
    let by_probe: std::collections::HashMap<u64, &str> =
        log.iter().map(|l| (l.probe, l.server.as_str())).collect();
    probes
        .iter()
        .map(|p| by_probe.get(&p.seq).copied().unwrap_or("").to_string())
        .collect()
}

/// One line for the timeline: how many failed probes each record explains.
pub fn summary(accounts: &[FrontdoorAccount], logged: usize) -> Option<String> {
    if accounts.is_empty() {
        return None;
    }
    let count = |f: AccountFinding| accounts.iter().filter(|a| a.finding == f).count();
    Some(format!(
        "front door's account of {} failed probe(s): {} failed by the front door too, {} answered by it only after the prober's wait, {} answered 2xx by it in time (a client-side failure), {} never seen by it ({logged} probe lines in its log)",
        accounts.len(),
        count(AccountFinding::FrontdoorFailed),
        count(AccountFinding::FrontdoorTooLate),
        count(AccountFinding::FrontdoorAnswered),
        count(AccountFinding::NotSeen),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::haproxy_log::parse_log;

    fn probe(seq: u64, ok: bool, error: &str) -> ProbeSample {
        ProbeSample {
            seq,
            scheduled_ms: seq as f64 * 20.0,
            sent_ms: seq as f64 * 20.0,
            latency_ms: 2.0,
            status: ok.then_some(200),
            ok,
            error: (!ok).then(|| error.to_string()),
        }
    }

    #[test]
    fn each_failed_probe_is_matched_to_the_front_doors_line() {
        let clock = Clock::start();
        let log = parse_log(
            "tkv1 1765000000.042 1 workers/primary 0/0/0/-1/3 502 SH-- 0\n\
             tkv1 1765000000.062 2 workers/primary 0/0/0/2/2 200 ---- 0\n\
             tkv1 1765000000.082 4 workers/standby 0/0/0/1/1001 200 ---- +2\n",
        );
        let timed_out = |seq| ProbeSample {
            latency_ms: 1000.5,
            ..probe(seq, false, "timeout after 1000 ms")
        };
        let probes = [
            probe(0, true, ""),
            probe(1, false, "HTTP 502"),
            timed_out(2),
            timed_out(3),
            timed_out(4),
        ];
        let a = accounts(&probes, &log, &clock);
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].finding, AccountFinding::FrontdoorFailed);
        // Answered in 2 ms while the prober waited a second: the prober's fault.
        assert_eq!(a[1].finding, AccountFinding::FrontdoorAnswered);
        assert_eq!(a[2].finding, AccountFinding::NotSeen);
        assert!(a[2].frontdoor.is_none() && a[2].accepted_ms.is_none());
        // Held 1001 ms by retries on a dead server: the stack's fault.
        assert_eq!(a[3].finding, AccountFinding::FrontdoorTooLate);
        let served = served_by(&probes, &log);
        assert_eq!(served, ["", "primary", "primary", "", "standby"]);
        assert!(served_by(&probes, &[]).is_empty());
        let line = summary(&a, log.len()).unwrap();
        assert!(
            line.contains("1 failed by the front door too, 1 answered by it only after the prober's wait, 1 answered 2xx by it in time"),
            "{line}"
        );
    }
}
