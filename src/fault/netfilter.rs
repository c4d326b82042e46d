//! iptables rules in a container's network namespace, in a chain named after
//! the run, so that they are easy to find, list and remove, and die with the container.

use std::time::{Duration, Instant};

use super::kind::BoxFuture;
use super::revert::{Revert, Scope};
use super::sidecar::{self, Attach};
use super::{Direction, FaultError};
use crate::stack::{Role, Stack};

/// What a heal undoes of `partition` (iptables) and `loss`: the run's chains in the target's namespace.
pub static CHAINS: Revert = Revert {
    what: "removes its iptables chains",
    order: 1,
    scope: Scope::EachRole {
        docker: remove_chains,
        process: None,
    },
};

fn remove_chains(stack: &Stack, role: Role) -> BoxFuture<'_, Result<Option<String>, FaultError>> {
    Box::pin(async move {
        let chains = remove_all(stack, role).await?;
        Ok((chains > 0).then(|| format!("removed {chains} iptables chain(s) of {role}")))
    })
}

/// Where the rules file goes in the sidecar.
const RULES_DIR: &str = "/tmp";
const RULES_FILE: &str = "takeover.rules";

/// A chain name for the run: the run id plus a counter (iptables allows 28 characters).
pub fn chain_name(run_id: &str, n: u32) -> String {
    let suffix = format!("-{n}");
    let keep = 28 - suffix.len();
    let base: String = run_id
        .chars()
        .rev()
        .take(keep)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{base}{suffix}")
}

/// What to match in the chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// Packets from or to these addresses.
    Peers(Vec<String>),
    /// A random share of all packets (0..1).
    Random(f64),
}

/// The `iptables-restore` text that adds a chain, its DROP rules and the jumps to it.
pub fn add_rules(chain: &str, direction: Direction, what: &Match) -> String {
    let mut text = format!("*filter\n:{chain} - [0:0]\n");
    if matches!(direction, Direction::Inbound | Direction::Both) {
        text.push_str(&format!("-I INPUT 1 ! -i lo -j {chain}\n"));
    }
    if matches!(direction, Direction::Outbound | Direction::Both) {
        text.push_str(&format!("-I OUTPUT 1 ! -o lo -j {chain}\n"));
    }
    match what {
        Match::Peers(ips) => {
            for ip in ips {
                // In INPUT the peer is the source, in OUTPUT the destination; one chain serves both.
                text.push_str(&format!("-A {chain} -s {ip}/32 -j DROP\n"));
                text.push_str(&format!("-A {chain} -d {ip}/32 -j DROP\n"));
            }
        }
        Match::Random(p) => {
            text.push_str(&format!(
                "-A {chain} -m statistic --mode random --probability {p:.4} -j DROP\n"
            ));
        }
    }
    text.push_str("COMMIT\n");
    text
}

/// The `iptables-restore` text that removes a chain and the jumps to it.
pub fn remove_rules(chain: &str, listing: &str) -> String {
    let mut text = String::from("*filter\n");
    if listing.contains(&format!("-A INPUT ! -i lo -j {chain}")) {
        text.push_str(&format!("-D INPUT ! -i lo -j {chain}\n"));
    }
    if listing.contains(&format!("-A OUTPUT ! -o lo -j {chain}")) {
        text.push_str(&format!("-D OUTPUT ! -o lo -j {chain}\n"));
    }
    text.push_str(&format!("-F {chain}\n-X {chain}\nCOMMIT\n"));
    text
}

/// Total packets the chain's DROP rules have matched, from `iptables -L CHAIN -v -n -x`.
pub fn dropped_packets(listing: &str) -> Option<u64> {
    let mut total = None;
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() > 2 && cols[2] == "DROP" {
            if let Ok(p) = cols[0].parse::<u64>() {
                total = Some(total.unwrap_or(0) + p);
            }
        }
    }
    total
}

/// Adds the rules to `target`; returns the chain and when the rules were in place (clock ms).
pub async fn apply(
    stack: &Stack,
    target: Role,
    direction: Direction,
    what: &Match,
) -> Result<(String, f64), FaultError> {
    let chain = {
        let mut ledger = stack.fault_ledger();
        ledger.chain_counter += 1;
        chain_name(stack.run_id(), ledger.chain_counter)
    };
    let rules = add_rules(&chain, direction, what);
    let path = format!("{RULES_DIR}/{RULES_FILE}");
    let argv = ["/usr/sbin/iptables-restore", "--noflush", path.as_str()];
    let done = sidecar::run(
        stack,
        Attach::NetNs(target),
        &argv,
        &[(RULES_DIR, RULES_FILE, rules.as_bytes())],
    )
    .await?
    .ok(&argv)?;
    stack
        .fault_ledger()
        .chains
        .entry(target)
        .or_default()
        .push(chain.clone());
    let at = done.ended_at_ms.unwrap_or_else(|| stack.clock().now_ms());
    Ok((chain, at))
}

/// Lists a chain with its counters.
pub async fn list(stack: &Stack, target: Role, chain: &str) -> Result<String, FaultError> {
    let argv = [
        "/usr/sbin/iptables",
        "-t",
        "filter",
        "-L",
        chain,
        "-v",
        "-n",
        "-x",
    ];
    Ok(sidecar::run(stack, Attach::NetNs(target), &argv, &[])
        .await?
        .ok(&argv)?
        .output)
}

/// Waits until the chain's DROP counters move; returns (packets, clock ms when seen, listing).
pub async fn wait_for_drops(
    stack: &Stack,
    target: Role,
    chain: &str,
    deadline: Duration,
) -> Result<Option<(u64, f64, String)>, FaultError> {
    let until = Instant::now() + deadline;
    loop {
        let listing = list(stack, target, chain).await?;
        let seen_at = stack.clock().now_ms();
        if let Some(p) = dropped_packets(&listing).filter(|p| *p > 0) {
            return Ok(Some((p, seen_at, listing)));
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Removes the chains faults added to `target` (nothing to do when its namespace is gone).
pub async fn remove_all(stack: &Stack, target: Role) -> Result<usize, FaultError> {
    let chains = stack
        .fault_ledger()
        .chains
        .remove(&target)
        .unwrap_or_default();
    if chains.is_empty() {
        return Ok(0);
    }
    let status = stack.state(target).await?;
    if status.status != "running" && status.status != "paused" {
        // The namespace died with the container, and the rules with it.
        return Ok(chains.len());
    }
    let save_argv = ["/usr/sbin/iptables-save", "-t", "filter"];
    let listing = sidecar::run(stack, Attach::NetNs(target), &save_argv, &[])
        .await?
        .ok(&save_argv)?
        .output;
    let mut text = String::new();
    for chain in &chains {
        if listing.contains(&format!(":{chain} ")) {
            text.push_str(&remove_rules(chain, &listing));
        }
    }
    if !text.is_empty() {
        let path = format!("{RULES_DIR}/{RULES_FILE}");
        let argv = ["/usr/sbin/iptables-restore", "--noflush", path.as_str()];
        sidecar::run(
            stack,
            Attach::NetNs(target),
            &argv,
            &[(RULES_DIR, RULES_FILE, text.as_bytes())],
        )
        .await?
        .ok(&argv)?;
    }
    Ok(chains.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_fit_iptables_and_stay_unique() {
        let c = chain_name("tk-20260101-000000-abcd", 12);
        assert!(c.len() <= 28, "{c}");
        assert!(c.ends_with("-abcd-12"));
        assert_ne!(chain_name("tk-x", 1), chain_name("tk-x", 2));
    }

    #[test]
    fn one_way_rules_jump_from_one_hook_only() {
        let text = add_rules(
            "c1",
            Direction::Inbound,
            &Match::Peers(vec!["172.18.0.4".into()]),
        );
        assert!(text.contains("-I INPUT 1 ! -i lo -j c1"));
        assert!(!text.contains("OUTPUT"));
        assert!(text.contains("-A c1 -s 172.18.0.4/32 -j DROP"));
        let text = add_rules("c2", Direction::Both, &Match::Random(0.25));
        assert!(text.contains("OUTPUT") && text.contains("--probability 0.2500"));
    }

    #[test]
    fn counters_are_read_from_the_listing() {
        let listing = "Chain c1 (1 references)\n    pkts      bytes target     prot opt in     out     source               destination\n\
                       \x20     12      720 DROP       all  --  *      *       172.18.0.4           0.0.0.0/0\n\
                       \x20      3      180 DROP       all  --  *      *       0.0.0.0/0            172.18.0.4\n";
        assert_eq!(dropped_packets(listing), Some(15));
        assert_eq!(dropped_packets("Chain c1 (0 references)\n"), None);
        let save =
            "*filter\n:c1 - [0:0]\n-A INPUT ! -i lo -j c1\n-A c1 -s 1.2.3.4/32 -j DROP\nCOMMIT\n";
        let removal = remove_rules("c1", save);
        assert!(removal.contains("-D INPUT ! -i lo -j c1"));
        assert!(!removal.contains("-D OUTPUT"));
        assert!(removal.contains("-X c1"));
    }
}
