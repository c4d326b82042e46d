//! The multi-host test bed's script (`scripts/testbed-hosts.sh`, see
//! `docs/hosts.md`), built into the binary so that `takeover clean --hosts`
//! can take down a test bed that a killed drill left up, wherever the binary
//! runs from.

use std::process::Command;

use super::StackError;

/// The script's text, as in `scripts/testbed-hosts.sh`.
pub const SCRIPT: &str = include_str!("../../scripts/testbed-hosts.sh");

/// The folder where an up test bed records what it made.
pub const STATE_DIR: &str = "/run/takeover-tb";

/// Takes the test bed down (`testbed-hosts.sh down`): every namespace, veth,
/// engine, rule, mount and folder it made, also what a killed run left. Safe
/// when none is up. Returns what the script printed.
pub fn down() -> Result<String, StackError> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(SCRIPT)
        .args(["testbed-hosts.sh", "down"])
        .output()
        .map_err(|e| StackError::Io {
            context: "running bash for the test bed's `down`".into(),
            source: e,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(StackError::Unsupported(format!(
            "the test bed's `down` failed ({}): {}",
            out.status,
            text.trim()
        )))
    }
}

/// The engines of the test bed that is up (`unix:///run/takeover-tb/hK/docker.sock`
/// for each host whose socket exists), in host order; empty when none is up.
pub fn engines() -> Vec<String> {
    let mut found: Vec<(u32, String)> = std::fs::read_dir(STATE_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let k: u32 = name.strip_prefix('h')?.parse().ok()?;
            let socket = e.path().join("docker.sock");
            socket
                .exists()
                .then(|| (k, format!("unix://{}", socket.display())))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, s)| s).collect()
}

/// The root namespace's chain the test bed jumps to first from `FORWARD`:
/// host faults put their DROP rules here.
pub const CHAIN: &str = "TAKEOVER-TB";

/// A host of the test bed a host fault can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedHost {
    /// `h1`, `h2`, ...
    pub name: String,
    /// Its veth in the root namespace (`tkb-hK`): everything it sends to or
    /// receives from another host crosses it.
    pub link: String,
    /// Its network namespace, for `nsenter --net=`.
    pub netns: String,
    /// The cgroup folders its engine puts containers under (one per hierarchy that has it).
    pub cgroups: Vec<std::path::PathBuf>,
}

/// The test-bed host `hK` whose TLS listener `endpoint` is
/// (`tcp://198.18.0.<4K+2>:PORT`, the host's address), if it names one.
fn tls_host_name(endpoint: &str) -> Option<String> {
    let rest = endpoint.strip_prefix("tcp://")?.trim_end_matches('/');
    let (address, _port) = rest.rsplit_once(':')?;
    let [a, b, c, d] = address.parse::<std::net::Ipv4Addr>().ok()?.octets();
    let k = (d.checked_sub(2)? % 4 == 0).then_some((d - 2) / 4)?;
    ([a, b, c] == [198, 18, 0] && k >= 1).then(|| format!("h{k}"))
}

/// The test-bed host whose engine is `endpoint`
/// (`unix:///run/takeover-tb/hK/docker.sock`, or its TLS listener
/// `tcp://198.18.0.<4K+2>:PORT`), if the test bed has it up; otherwise why a
/// host fault cannot act on it.
pub fn bed_host(endpoint: &str) -> Result<BedHost, String> {
    let refuse = |why: &str| {
        format!(
            "engine `{endpoint}` is not a host of the multi-host test bed ({why}); host faults act on the \
             test bed's namespaces, veths and cgroups only (scripts/testbed-hosts.sh, docs/hosts.md)"
        )
    };
    let name = endpoint
        .strip_prefix(&format!("unix://{STATE_DIR}/"))
        .and_then(|rest| rest.strip_suffix("/docker.sock"))
        .filter(|n| {
            n.strip_prefix('h')
                .is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .or_else(|| tls_host_name(endpoint))
        .ok_or_else(|| {
            refuse("not `unix:///run/takeover-tb/hK/docker.sock` nor `tcp://198.18.0.<4K+2>:PORT`")
        })?;
    let link = format!("tkb-{name}");
    if !std::path::Path::new("/sys/class/net").join(&link).exists() {
        return Err(refuse(&format!(
            "its link {link} is not there: is the test bed up?"
        )));
    }
    let cgroups = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(format!("takeover-tb-{name}")))
        .filter(|p| p.is_dir())
        .collect();
    Ok(BedHost {
        netns: format!("/run/netns/takeover-tb-{name}"),
        link,
        name,
        cgroups,
    })
}

/// The comment every rule of a run's host faults carries, so that the run's
/// end (and `takeover clean`) finds and removes exactly those.
pub fn rule_comment(run_id: &str, what: &str) -> String {
    format!("takeover.run={run_id} {what}")
}

/// Runs a program of the root namespace (`iptables`, `tc`, `nsenter`); its
/// standard output, or an error with what it printed.
pub fn run_tool(program: &str, args: &[&str]) -> Result<String, StackError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| StackError::Io {
            context: format!("running {program}"),
            source: e,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(StackError::Unsupported(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Packets the rules of [`CHAIN`] whose comment contains `comment` have matched so far.
pub fn rule_packets(comment: &str) -> Result<u64, StackError> {
    let listing = run_tool("iptables", &["-w", "-L", CHAIN, "-v", "-x", "-n"])?;
    Ok(listing
        .lines()
        .filter(|l| l.contains(&format!("/* {comment} */")))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum())
}

/// Removes every rule of [`CHAIN`] made for `run_id` (its comment names the
/// run); returns how many. Nothing to do when the chain is not there.
pub fn remove_run_rules(run_id: &str) -> Result<usize, StackError> {
    remove_rules_matching(&format!("takeover.run={run_id} "))
}

/// Removes the rules of [`CHAIN`] whose comment is exactly `comment`; returns how many.
pub fn remove_rules_tagged(comment: &str) -> Result<usize, StackError> {
    remove_rules_matching(&format!("\"{comment}\""))
}

/// Removes the rules of [`CHAIN`] whose `-S` line contains `needle`.
fn remove_rules_matching(needle: &str) -> Result<usize, StackError> {
    let Ok(rules) = run_tool("iptables", &["-w", "-S", CHAIN]) else {
        return Ok(0);
    };
    let mut removed = 0;
    for rule in rules.lines().filter(|l| l.contains(needle)) {
        let Some(spec) = rule.strip_prefix(&format!("-A {CHAIN} ")) else {
            continue;
        };
        // `-S` prints the rule the way `-D` takes it; only the comment is quoted.
        let args = split_rule(spec);
        let mut full = vec!["-w", "-D", CHAIN];
        full.extend(args.iter().map(String::as_str));
        run_tool("iptables", &full)?;
        removed += 1;
    }
    Ok(removed)
}

/// Deletes a root qdisc a host fault added: on a root-namespace link
/// (`tkb-hK`), or on `eth0` in a host's namespace (`netns:<path>`). One that
/// is gone already is not an error.
pub fn remove_qdisc(place: &str) -> Result<(), StackError> {
    let result = match place.strip_prefix("netns:") {
        Some(netns) => run_tool(
            "nsenter",
            &[
                &format!("--net={netns}"),
                "tc",
                "qdisc",
                "del",
                "dev",
                "eth0",
                "root",
            ],
        ),
        None => run_tool("tc", &["qdisc", "del", "dev", place, "root"]),
    };
    match result {
        Ok(_) => Ok(()),
        Err(StackError::Unsupported(m))
            if m.contains("No such file")
                || m.contains("Cannot delete")
                || m.contains("Cannot find") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Splits a rule as `iptables -S` prints it into arguments (double quotes group).
fn split_rule(spec: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        args.push(current);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_split_as_iptables_prints_them() {
        assert_eq!(
            split_rule(
                r#"-i tkb-h1 -m comment --comment "takeover.run=tk-1 host-partition" -j DROP"#
            ),
            [
                "-i",
                "tkb-h1",
                "-m",
                "comment",
                "--comment",
                "takeover.run=tk-1 host-partition",
                "-j",
                "DROP"
            ]
        );
    }

    #[test]
    fn engines_off_the_test_bed_are_refused_with_why() {
        let err = bed_host("tcp://10.0.0.1:2375").unwrap_err();
        assert!(
            err.contains("not a host of the multi-host test bed"),
            "{err}"
        );
        let err = bed_host("unix:///run/takeover-tb/../x/docker.sock").unwrap_err();
        assert!(err.contains("hK/docker.sock"), "{err}");
        // A host's TLS listener names the host by its address.
        assert_eq!(
            tls_host_name("tcp://198.18.0.6:2376").as_deref(),
            Some("h1")
        );
        assert_eq!(
            tls_host_name("tcp://198.18.0.14:2376/").as_deref(),
            Some("h3")
        );
        for other in [
            "tcp://198.18.0.5:2376",
            "tcp://198.18.0.2:2376",
            "tcp://10.0.0.6:2376",
        ] {
            assert_eq!(tls_host_name(other), None, "{other}");
        }
    }
}
