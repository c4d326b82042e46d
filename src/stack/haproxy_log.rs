//! HAProxy's own account of each probe: its request log.
//!
//! The front door logs every request whose `X-Takeover-Probe` header names a
//! probe, with its timers and how the stream ended, in one line of a fixed
//! layout ([`LOG_FORMAT`]). Set beside the prober's record, the log tells who
//! is wrong when a probe fails: a probe the front door answered 200 in a few
//! milliseconds but the prober counted as timed out is the prober's fault; a
//! probe the front door held while connecting to a dead server is the stack's.

use serde::{Deserialize, Serialize};

/// Header each probe carries with its sequence number.
pub const PROBE_HEADER: &str = "X-Takeover-Probe";

/// Marks our log lines among HAProxy's other output.
const TAG: &str = "tkv1";

/// HAProxy `log-format` of the front end: tag, accept time (Unix seconds and
/// milliseconds), the captured probe header, backend/server, the timers
/// `TR/Tw/Tc/Tr/Ta`, status, termination state and retries.
pub const LOG_FORMAT: &str =
    "tkv1 %Ts.%ms %[capture.req.hdr(0)] %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %tsc %rc";

/// One request as HAProxy logged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontdoorLogLine {
    /// The probe's sequence number from its header.
    pub probe: u64,
    /// When HAProxy accepted the connection, Unix ms.
    pub accepted_unix_ms: f64,
    /// The server that handled it (`primary`, `standby`, `<NOSRV>`).
    pub server: String,
    /// `%TR`: ms to receive the full request (-1: never complete).
    pub request_ms: i64,
    /// `%Tw`: ms waiting in queues (-1: aborted before).
    pub queue_ms: i64,
    /// `%Tc`: ms to connect to the server (-1: never connected).
    pub connect_ms: i64,
    /// `%Tr`: ms for the server to send its response headers (-1: none came).
    pub response_ms: i64,
    /// `%Ta`: ms the request was active in HAProxy, end to end.
    pub active_ms: i64,
    /// The status HAProxy sent (or -1 when none).
    pub status: i32,
    /// `%tsc`: how the stream ended (`----` normal, `SH--` server aborted,
    /// `sC--` server connect timeout, `CD--` client went away, ...).
    pub termination: String,
    /// `%rc`: connection retries to servers (`+` prefix: redispatched).
    pub retries: String,
    /// Which proxy wrote the line (absent in reports before Nginx: HAProxy).
    #[serde(default, skip_serializing_if = "is_haproxy")]
    pub proxy: crate::stack::FrontdoorKind,
    /// Every attempt on an upstream server, in order (Nginx logs each one;
    /// HAProxy only the last server, so this is empty for it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<UpstreamAttempt>,
}

fn is_haproxy(kind: &crate::stack::FrontdoorKind) -> bool {
    *kind == crate::stack::FrontdoorKind::Haproxy
}

/// One attempt of a request on an upstream server, as Nginx logged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamAttempt {
    /// The server's role (`primary`, `standby`), or its address when it is
    /// not one of the stack's workers.
    pub server: String,
    /// What the server answered; 502 (error) or 504 (timeout) when it gave no answer.
    pub status: Option<i32>,
    /// Time to connect, in ms (absent when no connection was made).
    pub connect_ms: Option<f64>,
    /// Time to the response headers, in ms, connect included (absent when none came).
    pub header_ms: Option<f64>,
    /// Time the attempt took, in ms.
    pub total_ms: Option<f64>,
}

impl FrontdoorLogLine {
    /// A short account for a person: `primary: 502 after 3 ms, SH-- (server aborted)`.
    pub fn describe(&self) -> String {
        if self.proxy == crate::stack::FrontdoorKind::Nginx {
            return super::nginx_log::describe(self);
        }
        format!(
            "{}: status {} after {} ms (queue {} / connect {} / response {} ms), {} ({}), retries {}",
            self.server,
            self.status,
            self.active_ms,
            self.queue_ms,
            self.connect_ms,
            self.response_ms,
            self.termination,
            termination_meaning(&self.termination),
            self.retries
        )
    }
}

/// What HAProxy's first two termination-state letters say, in words.
pub fn termination_meaning(state: &str) -> &'static str {
    let mut chars = state.chars();
    let who = chars.next().unwrap_or('-');
    let when = chars.next().unwrap_or('-');
    match (who, when) {
        ('-', '-') => "completed normally",
        ('C', _) => "the client aborted",
        ('c', _) => "the client timed out",
        ('S', 'H') => "the server aborted before sending its headers",
        ('S', _) => "the server aborted or refused",
        ('s', 'C') => "the connection to the server timed out",
        ('s', _) => "the server timed out",
        ('P', _) | ('p', _) | ('I', _) => "HAProxy stopped the stream",
        ('R', _) => "a resource ran out in HAProxy",
        ('D', _) => "the server was marked down and its sessions shut",
        ('K', _) => "HAProxy was stopping",
        ('U', _) => "HAProxy shut the stream while it was not in use",
        _ => "unknown",
    }
}

/// The probe lines of HAProxy's output; other lines are ignored.
pub fn parse_log(text: &str) -> Vec<FrontdoorLogLine> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<FrontdoorLogLine> {
    let line = line.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut fields = line.split_whitespace();
    if fields.next()? != TAG {
        return None;
    }
    let accepted = fields.next()?;
    let (secs, millis) = accepted.split_once('.')?;
    let accepted_unix_ms = secs.parse::<f64>().ok()? * 1e3 + millis.parse::<f64>().ok()?;
    let probe = fields.next()?.parse().ok()?;
    let (_, server) = fields.next()?.split_once('/')?;
    let timers: Vec<i64> = fields
        .next()?
        .split('/')
        .map(|t| t.trim_start_matches('+').parse().ok())
        .collect::<Option<_>>()?;
    let [request_ms, queue_ms, connect_ms, response_ms, active_ms] = timers[..] else {
        return None;
    };
    Some(FrontdoorLogLine {
        probe,
        accepted_unix_ms,
        server: server.to_string(),
        request_ms,
        queue_ms,
        connect_ms,
        response_ms,
        active_ms,
        status: fields.next()?.parse().ok()?,
        termination: fields.next()?.to_string(),
        retries: fields.next()?.to_string(),
        proxy: crate::stack::FrontdoorKind::Haproxy,
        attempts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_are_parsed_and_other_output_ignored() {
        let text = "\
[NOTICE]   (1) : haproxy version is 2.6.12
tkv1 1765000000.042 17 workers/primary 0/0/0/2/2 200 ---- 0
tkv1 1765000000.101 18 workers/primary 0/0/0/-1/3 502 SH-- 0
tkv1 1765000000.150 - workers/standby 0/0/1/1/2 200 ---- 0
tkv1 1765000000.200 19 workers/<NOSRV> 0/-1/-1/-1/1000 -1 CC-- +3
";
        let lines = parse_log(text);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0].probe, 17);
        assert_eq!(lines[0].accepted_unix_ms, 1_765_000_000_042.0);
        assert_eq!(lines[1].server, "primary");
        assert_eq!((lines[1].status, lines[1].response_ms), (502, -1));
        assert_eq!(
            termination_meaning(&lines[1].termination),
            "the server aborted before sending its headers"
        );
        assert_eq!(lines[2].retries, "+3");
        assert_eq!(lines[2].connect_ms, -1);
        assert!(lines[2].describe().contains("the client aborted"));
    }
}
