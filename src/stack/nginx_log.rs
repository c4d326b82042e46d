//! Nginx's own account of each probe: its access log, read into the same
//! record HAProxy's log gives ([`FrontdoorLogLine`]), so the front door's
//! account of failed probes and `probes.served_by` work for both.
//!
//! Nginx logs addresses, not server names: the parser maps each upstream
//! address to the worker's role with the stack's address book.

use std::collections::BTreeMap;

use super::haproxy_log::{FrontdoorLogLine, UpstreamAttempt};
use super::FrontdoorKind;

/// The probe header as an Nginx variable name (after `$http_`).
pub const PROBE_VARIABLE: &str = "x_takeover_probe";

/// Marks our log lines among Nginx's other output.
const TAG: &str = "tkn1";

/// Nginx `log_format`: tag, time the log line was written (Unix seconds with
/// ms), the probe header, status, request time (s), whether the response was
/// sent whole (`OK`), then one comma-separated entry per upstream attempt:
/// address, status, connect, header and response times (s). `|` separates
/// fields because the per-attempt lists contain spaces.
pub const LOG_FORMAT: &str = "tkn1|$msec|$http_x_takeover_probe|$status|$request_time|$request_completion|$upstream_addr|$upstream_status|$upstream_connect_time|$upstream_header_time|$upstream_response_time";

/// Server name given when Nginx tried no worker (HAProxy says `<NOSRV>`).
const NO_SERVER: &str = "<NOSRV>";

/// The probe lines of Nginx's output, with each upstream address
/// (`ip:port`) named by `servers` (address -> role); other lines are ignored.
pub fn parse_log(text: &str, servers: &BTreeMap<String, String>) -> Vec<FrontdoorLogLine> {
    text.lines()
        .filter_map(|l| parse_line(l, servers))
        .collect()
}

fn parse_line(line: &str, servers: &BTreeMap<String, String>) -> Option<FrontdoorLogLine> {
    let line = line.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let f: Vec<&str> = line.trim_end().split('|').collect();
    let [tag, msec, probe, status, request_time, completion, addrs, statuses, connects, headers, totals] =
        f[..]
    else {
        return None;
    };
    if tag != TAG {
        return None;
    }
    let logged_ms = msec.parse::<f64>().ok()? * 1e3;
    let active_ms = (request_time.parse::<f64>().ok()? * 1e3).round();
    let attempts = attempts(addrs, statuses, connects, headers, totals, servers);
    let last = attempts.last();
    let whole_ms = |v: Option<f64>| v.map_or(-1, |ms| ms.round() as i64);
    let status: i32 = status.parse().ok()?;
    Some(FrontdoorLogLine {
        probe: probe.parse().ok()?,
        // Nginx stamps the line when the request ends; it began request_time earlier.
        accepted_unix_ms: (logged_ms - active_ms).round(),
        server: last.map_or(NO_SERVER.to_string(), |a| a.server.clone()),
        // Nginx does not time the reading of the request on its own.
        request_ms: -1,
        // Open-source Nginx has no server queue.
        queue_ms: 0,
        connect_ms: whole_ms(last.and_then(|a| a.connect_ms)),
        response_ms: whole_ms(last.and_then(|a| a.header_ms)),
        active_ms: active_ms as i64,
        status,
        termination: termination(status, completion),
        retries: retries(&attempts),
        proxy: FrontdoorKind::Nginx,
        attempts,
    })
}

/// The attempts of one request, from Nginx's parallel comma-separated lists
/// (an internal redirect separates groups with ` : `, read as more attempts).
fn attempts(
    addrs: &str,
    statuses: &str,
    connects: &str,
    headers: &str,
    totals: &str,
    servers: &BTreeMap<String, String>,
) -> Vec<UpstreamAttempt> {
    let split = |s: &str| -> Vec<String> {
        s.split([',', ':'])
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    // Addresses contain `:` themselves: split them on `,` and ` : ` only.
    let addrs: Vec<&str> = addrs
        .split(',')
        .flat_map(|a| a.split(" : "))
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "-")
        .collect();
    let (statuses, connects, headers, totals) = (
        split(statuses),
        split(connects),
        split(headers),
        split(totals),
    );
    let seconds = |v: Option<&String>| {
        v.and_then(|s| s.parse::<f64>().ok())
            .map(|s| (s * 1e3 * 1e3).round() / 1e3)
    };
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| UpstreamAttempt {
            server: match servers.get(*addr) {
                Some(role) => role.clone(),
                // "No live upstreams": Nginx names the upstream, no server.
                None if *addr == super::nginx::UPSTREAM => NO_SERVER.to_string(),
                None => addr.to_string(),
            },
            status: statuses.get(i).and_then(|s| s.parse().ok()),
            connect_ms: seconds(connects.get(i)),
            header_ms: seconds(headers.get(i)),
            total_ms: seconds(totals.get(i)),
        })
        .collect()
}

/// Nginx has no termination state: `----` (HAProxy's "completed normally")
/// when the response was sent whole, else what is known in words.
fn termination(status: i32, completion: &str) -> String {
    match (status, completion) {
        (499, _) => "client closed the request".into(),
        (_, "OK") => "----".into(),
        _ => "response not sent whole".into(),
    }
}

/// Attempts after the first, `+`-prefixed when one went to another server
/// (as HAProxy marks a redispatch).
fn retries(attempts: &[UpstreamAttempt]) -> String {
    let n = attempts.len().saturating_sub(1);
    let moved = attempts.windows(2).any(|w| w[0].server != w[1].server);
    if moved {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// A short account of an Nginx line for a person:
/// `standby: status 200 after 103 ms; tries: primary 504 (connect -), standby 200 (connect 0.4 ms)`.
pub fn describe(line: &FrontdoorLogLine) -> String {
    let tries = line
        .attempts
        .iter()
        .map(|a| {
            let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
            format!(
                "{} {} (connect {}, headers {})",
                a.server,
                a.status.map_or("-".to_string(), |s| s.to_string()),
                ms(a.connect_ms),
                ms(a.header_ms)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}: status {} after {} ms, {}; tries: {}",
        line.server,
        line.status,
        line.active_ms,
        line.termination,
        if tries.is_empty() { "none" } else { &tries }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("172.18.0.3:8080".to_string(), "primary".to_string()),
            ("172.18.0.4:8080".to_string(), "standby".to_string()),
        ])
    }

    #[test]
    fn probe_lines_are_parsed_and_other_output_ignored() {
        let text = "\
2026/01/26 01:30:00 [notice] 1#1: start worker processes
tkn1|1765000000.045|17|200|0.003|OK|172.18.0.3:8080|200|0.001|0.002|0.002
tkn1|1765000000.205|18|200|0.104|OK|172.18.0.3:8080, 172.18.0.4:8080|504, 200|-, 0.000|-, 0.003|0.100, 0.003
tkn1|1765000000.300|-|200|0.001|OK|172.18.0.4:8080|200|0.000|0.001|0.001
tkn1|1765000000.400|19|502|0.000||workers|502|-|-|-
tkn1|1765000001.400|20|499|1.000||172.18.0.3:8080|-|0.001|-|0.999
";
        let lines = parse_log(text, &servers());
        assert_eq!(lines.len(), 4, "{lines:?}");
        let first = &lines[0];
        assert_eq!(
            (first.probe, first.server.as_str(), first.status),
            (17, "primary", 200)
        );
        assert_eq!(first.accepted_unix_ms, 1_765_000_000_042.0);
        assert_eq!(
            (first.connect_ms, first.response_ms, first.active_ms),
            (1, 2, 3)
        );
        assert_eq!(
            (first.termination.as_str(), first.retries.as_str()),
            ("----", "0")
        );
        assert_eq!(first.proxy, FrontdoorKind::Nginx);
        // A timed-out connect to the primary, served by the standby.
        let moved = &lines[1];
        assert_eq!(moved.server, "standby");
        assert_eq!(moved.retries, "+1");
        assert_eq!(moved.attempts.len(), 2);
        assert_eq!(moved.attempts[0].server, "primary");
        assert_eq!(moved.attempts[0].status, Some(504));
        assert_eq!(moved.attempts[0].connect_ms, None);
        assert_eq!(moved.attempts[1].header_ms, Some(3.0));
        assert_eq!(moved.accepted_unix_ms, 1_765_000_000_101.0);
        assert!(
            moved.describe().contains("tries: primary 504"),
            "{}",
            moved.describe()
        );
        // No live upstream: Nginx logs the upstream's name.
        assert_eq!(lines[2].server, NO_SERVER);
        assert_eq!(lines[2].termination, "response not sent whole");
        assert_eq!(lines[3].termination, "client closed the request");
        assert_eq!(lines[3].response_ms, -1);
    }

    #[test]
    fn an_unknown_address_is_kept_and_no_upstream_is_nosrv() {
        let text = "tkn1|1765000000.045|3|404|0.000|OK|10.0.0.9:80|404|0.001|0.001|0.001\n\
                    tkn1|1765000000.046|4|400|0.000|OK|-|-|-|-|-\n";
        let lines = parse_log(text, &servers());
        assert_eq!(lines[0].server, "10.0.0.9:80");
        assert_eq!(lines[1].server, NO_SERVER);
        assert!(lines[1].attempts.is_empty());
        assert!(lines[1].describe().contains("tries: none"));
    }
}
