//! Front-door events from the poller's snapshots.

use super::{Event, EventKind};
use super::{FrontdoorSnapshot, ServerView};

/// Derives from snapshots (in time order) when the front door marked an
/// active (non-backup) server down, when traffic first reached a backup
/// server after that, and when an active server came back up.
///
/// Each event is stamped with the answer time of the snapshot that first
/// showed it; the change happened after the previous snapshot was asked for,
/// which the detail states, so the error is one poll interval.
/// Traffic reaching the backup is seen as a rise of its session count; when
/// the front door does not report counts, as the backup being up while no
/// active server is.
pub fn frontdoor_events(snapshots: &[FrontdoorSnapshot]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut prev: Option<&FrontdoorSnapshot> = None;
    let mut primary_down = false;
    let mut switched = false;
    for snap in snapshots {
        let since = prev.map(|p| p.asked_ms);
        let window = match since {
            Some(t) => format!(" (changed after {t:.1} ms)"),
            None => String::new(),
        };
        for server in snap.servers.iter().filter(|s| !s.backup) {
            let was_up = prev.and_then(|p| find(p, &server.name)).map(|s| s.up);
            match (was_up, server.up) {
                (Some(true), false) => {
                    primary_down = true;
                    switched = false;
                    events.push(Event::new(
                        snap.answered_ms,
                        EventKind::FrontdoorMarkedPrimaryDown,
                        format!("{} marked down{window}", server.name),
                    ));
                }
                (Some(false), true) => {
                    primary_down = false;
                    events.push(Event::new(
                        snap.answered_ms,
                        EventKind::FrontdoorMarkedPrimaryUp,
                        format!("{} marked up again{window}", server.name),
                    ));
                }
                _ => {}
            }
        }
        if primary_down && !switched {
            if let Some(name) = backup_took_traffic(prev, snap) {
                switched = true;
                events.push(Event::new(
                    snap.answered_ms,
                    EventKind::SwitchedToBackup,
                    format!("traffic reached backup {name}{window}"),
                ));
            }
        }
        prev = Some(snap);
    }
    events
}

fn find<'a>(snap: &'a FrontdoorSnapshot, name: &str) -> Option<&'a ServerView> {
    snap.servers.iter().find(|s| s.name == name)
}

/// The backup server that shows traffic in `snap`, if any.
fn backup_took_traffic<'a>(
    prev: Option<&FrontdoorSnapshot>,
    snap: &'a FrontdoorSnapshot,
) -> Option<&'a str> {
    let no_active_up = !snap.servers.iter().any(|s| !s.backup && s.up);
    snap.servers
        .iter()
        .filter(|s| s.backup && s.up)
        .find(|s| {
            let before = prev
                .and_then(|p| find(p, &s.name))
                .and_then(|p| p.sessions_total);
            match (before, s.sessions_total) {
                (Some(b), Some(now)) => now > b,
                _ => no_active_up,
            }
        })
        .map(|s| s.name.as_str())
}
