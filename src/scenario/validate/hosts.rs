//! `stack.hosts`, `stack.placement`, `stack.checkpoints`, `stack.allow_remote`:
//! a stack over several engines, located at the key each problem is about.

use super::{pos, Action, At, Findings, Positions, Scenario};
use crate::stack::hosts;
use crate::stack::{FrontdoorKind, RuntimeKind};

/// Fault kinds a multi-host stack can take: the ones that act on one
/// container through its own engine, and the host faults. The others reach
/// the run's network or its shared volume, which a multi-host stack has one
/// of per engine (or none).
const MULTI_HOST_FAULTS: [&str; 9] = [
    "kill",
    "pause",
    "unpause",
    "restart",
    "heal",
    "host-crash",
    "host-partition",
    "host-loss",
    "host-bandwidth",
];

/// Where `stack.<dotted key>` is: the deepest part of it the file has.
fn stack_path_at(positions: &Positions, key: &str) -> At {
    let stack = positions.stack.as_ref()?;
    let st = &stack.value;
    let mut parts = key.split('.');
    let first = parts.next().unwrap_or_default();
    let at = match first {
        "hosts" => st.hosts.as_ref().and_then(|h| {
            let Some(name) = parts.next() else {
                return pos(h);
            };
            let Some(host) = h.value.get(name) else {
                return pos(h);
            };
            let keys = &host.value;
            let field_at = match parts.next() {
                Some("docker") => keys.docker.as_ref().and_then(pos),
                Some("address") => keys.address.as_ref().and_then(pos),
                Some("tls") => keys.tls.as_ref().and_then(|tls| {
                    parts
                        .next()
                        .and_then(|file| tls.value.get(file).and_then(pos))
                        .or_else(|| pos(tls))
                }),
                _ => None,
            };
            field_at.or_else(|| pos(host))
        }),
        "placement" => st.placement.as_ref().and_then(|p| {
            parts
                .next()
                .and_then(|role| p.value.get(role).and_then(pos))
                .or_else(|| pos(p))
        }),
        "checkpoints" => st.checkpoints.as_ref().and_then(pos),
        "allow_remote" => st.allow_remote.as_ref().and_then(pos),
        "runtime" => st.runtime.as_ref().and_then(pos),
        _ => None,
    };
    at.or_else(|| pos(stack))
}

/// The host layout's own checks, then what a multi-host stack cannot do yet.
pub(super) fn check_hosts(
    s: &Scenario,
    positions: &Positions,
    step_at: &dyn Fn(usize) -> At,
    f: &mut Findings,
) {
    let st = &s.stack;
    for problem in hosts::check(
        &st.hosts,
        st.placement.as_ref(),
        &st.checkpoints,
        st.allow_remote,
    ) {
        f.add(
            stack_path_at(positions, &problem.key),
            format!("`stack.{}`: {}", problem.key, problem.message),
        );
    }
    for (name, host) in &st.hosts {
        let Some(tls) = &host.tls else { continue };
        for (file, why) in tls.unreadable() {
            f.add(
                stack_path_at(positions, &format!("hosts.{name}.tls.{file}")),
                format!("`stack.hosts.{name}.tls.{file}`: {why}"),
            );
        }
    }
    if !st.is_multi_host() {
        for (i, step) in s.steps.iter().enumerate() {
            if let Action::Fault(fault) = &step.action {
                if fault.kind().starts_with("host-") {
                    f.add(
                        step_at(i),
                        format!(
                            "step {}: fault `{}` acts on a whole host: it needs `stack.hosts` and `stack.placement` (docs/hosts.md)",
                            i + 1,
                            fault.kind()
                        ),
                    );
                }
            }
        }
        if st.allow_remote {
            f.add(
                stack_path_at(positions, "allow_remote"),
                "`stack.allow_remote` is for `stack.hosts`; a one-engine stack publishes on 127.0.0.1 only",
            );
        }
        return;
    }
    let hosts_at = stack_path_at(positions, "hosts");
    if st.runtime != RuntimeKind::Docker {
        f.add(
            stack_path_at(positions, "runtime"),
            "`stack.hosts` needs `stack.runtime: docker`: each host is a Docker engine",
        );
    }
    if st.frontdoor.kind == FrontdoorKind::Nginx {
        f.add(
            hosts_at,
            "`stack.hosts` works with the HAProxy front door only (the Nginx layout finds the workers by their names on one network)",
        );
    }
    if st.data_volume_size.is_some() {
        f.add(
            hosts_at,
            "`stack.data_volume_size` sizes a volume of one engine; with `stack.hosts` the workers share `stack.checkpoints` instead",
        );
    }
    for (i, step) in s.steps.iter().enumerate() {
        if let Action::Fault(fault) = &step.action {
            if !MULTI_HOST_FAULTS.contains(&fault.kind()) {
                f.add(
                    step_at(i),
                    format!(
                        "step {}: fault `{}` is not available on a stack over several hosts (`stack.hosts`); these are: {}",
                        i + 1,
                        fault.kind(),
                        MULTI_HOST_FAULTS.join(", ")
                    ),
                );
            }
        }
    }
}

/// What may run but deserves a word: an engine reached over plain TCP at an
/// address off this machine.
pub(super) fn warn_hosts(s: &Scenario, positions: &Positions, f: &mut Findings) {
    for problem in hosts::plain_tcp_off_machine(&s.stack.hosts) {
        f.add(
            stack_path_at(positions, &problem.key),
            format!("`stack.{}`: {}", problem.key, problem.message),
        );
    }
}
