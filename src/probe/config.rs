//! Probe settings and the loopback-only rule.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use super::ProbeError;

/// How probes use TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionMode {
    /// A new connection for every probe (`Connection: close`, no idle pool):
    /// the failover as a reconnecting client sees it. The default.
    #[default]
    Fresh,
    /// Reuse idle connections: cheaper, but a connection kept to a dead
    /// server makes probes fail for reasons of the client, not the stack.
    KeepAlive,
}

/// What to probe and how often.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Full URL, path included, e.g. `http://127.0.0.1:18080/health`. Loopback,
    /// the multi-host test bed's range or [`ProbeConfig::own_address`] only,
    /// unless [`ProbeConfig::remote_ok`].
    pub url: String,
    /// The one address off loopback the URL may name: the stack's own front
    /// door where it has an address of its own (a Kubernetes pod, reached on
    /// the pod network), never anything a scenario writes.
    pub own_address: Option<IpAddr>,
    /// Time between consecutive probes (default 20 ms).
    pub interval: Duration,
    /// A probe without a full answer after this long fails (default 1 s).
    pub timeout: Duration,
    /// Stop after this many probes (`None`: no limit on the count).
    pub max_count: Option<u64>,
    /// Stop scheduling probes this long after the first one (default 30 min).
    pub max_duration: Option<Duration>,
    /// Most probes in flight at once; when reached, the next probe waits and
    /// its wait counts in its latency (default: enough for `timeout / interval`
    /// probes plus headroom, so the cap only bites when something is badly wrong).
    pub max_in_flight: usize,
    /// Fresh connection per probe, or keep-alive.
    pub connection: ConnectionMode,
    /// Run the prober's threads in `SCHED_FIFO` (default), so that a loaded
    /// machine cannot hold a due probe back; see [`super::priority`].
    pub realtime: bool,
    /// Probe an address off this machine too: set only for a stack whose
    /// scenario says `stack.allow_remote: true` (real hosts).
    pub remote_ok: bool,
}

impl ProbeConfig {
    /// Default settings against `url`: 20 ms interval, 1 s timeout, fresh connections.
    pub fn new(url: impl Into<String>) -> Self {
        let interval = Duration::from_millis(20);
        let timeout = Duration::from_secs(1);
        Self {
            url: url.into(),
            own_address: None,
            interval,
            timeout,
            max_count: None,
            max_duration: Some(Duration::from_secs(30 * 60)),
            max_in_flight: default_in_flight(interval, timeout),
            connection: ConnectionMode::Fresh,
            realtime: true,
            remote_ok: false,
        }
    }

    /// Sets the interval and re-derives the default in-flight cap.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self.max_in_flight = default_in_flight(self.interval, self.timeout);
        self
    }

    /// Sets the timeout and re-derives the default in-flight cap.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.max_in_flight = default_in_flight(self.interval, self.timeout);
        self
    }

    /// Checks every setting and the loopback rule; returns the parsed URL.
    pub fn validate(&self) -> Result<Url, ProbeError> {
        if self.interval < Duration::from_micros(100) {
            return Err(ProbeError::BadSetting {
                name: "interval",
                reason: format!("{:?} is below the 100µs minimum", self.interval),
            });
        }
        if self.timeout.is_zero() {
            return Err(ProbeError::BadSetting {
                name: "timeout",
                reason: "must be above zero".into(),
            });
        }
        if self.max_in_flight == 0 {
            return Err(ProbeError::BadSetting {
                name: "max_in_flight",
                reason: "must be at least 1".into(),
            });
        }
        if self.max_count.is_none() && self.max_duration.is_none() {
            return Err(ProbeError::BadSetting {
                name: "max_count/max_duration",
                reason: "probes must be bounded: set a count, a duration or both".into(),
            });
        }
        match ensure_loopback(&self.url) {
            Err(ProbeError::NotLoopback { url }) => {
                let parsed = Url::parse(&url).map_err(|e| ProbeError::BadUrl {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
                let host = parsed.host_str().and_then(|h| h.parse::<IpAddr>().ok());
                let own = host.is_some() && host == self.own_address;
                let on_test_bed = matches!(host, Some(IpAddr::V4(v4))
                    if crate::stack::hosts::is_local_address(v4));
                if own || on_test_bed || self.remote_ok {
                    Ok(parsed)
                } else {
                    Err(ProbeError::NotLoopback { url })
                }
            }
            other => other,
        }
    }
}

/// The in-flight cap that never bites while probes end within their timeout.
fn default_in_flight(interval: Duration, timeout: Duration) -> usize {
    let per_timeout = timeout.as_secs_f64() / interval.as_secs_f64().max(1e-6);
    (per_timeout.ceil() as usize)
        .saturating_add(8)
        .clamp(8, 4096)
}

/// Parses `url` and accepts it only when its host is on loopback
/// (127.0.0.0/8, `::1` or `localhost`): probes never leave the machine.
pub fn ensure_loopback(url: &str) -> Result<Url, ProbeError> {
    let parsed = Url::parse(url).map_err(|e| ProbeError::BadUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if parsed.scheme() != "http" {
        return Err(ProbeError::BadUrl {
            url: url.to_string(),
            reason: format!("scheme {:?} is not supported, use http", parsed.scheme()),
        });
    }
    let loopback = match parsed.host_str() {
        Some(host) => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            match bare.parse::<IpAddr>() {
                Ok(ip) => ip.is_loopback(),
                Err(_) => bare.eq_ignore_ascii_case("localhost"),
            }
        }
        None => false,
    };
    if loopback {
        Ok(parsed)
    } else {
        Err(ProbeError::NotLoopback {
            url: url.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_accepted() {
        for url in [
            "http://127.0.0.1:8080/health",
            "http://127.3.2.1/",
            "http://localhost:9/x",
            "http://[::1]:8080/",
        ] {
            assert!(ensure_loopback(url).is_ok(), "{url} should be accepted");
        }
    }

    #[test]
    fn the_stacks_own_address_is_accepted_and_no_other() {
        let mut cfg = ProbeConfig::new("http://10.244.1.7:8080/health");
        cfg.max_count = Some(1);
        assert!(matches!(
            cfg.validate(),
            Err(ProbeError::NotLoopback { .. })
        ));
        cfg.own_address = Some("10.244.1.7".parse().unwrap());
        assert!(cfg.validate().is_ok());
        cfg.url = "http://10.244.1.8:8080/health".into();
        assert!(matches!(
            cfg.validate(),
            Err(ProbeError::NotLoopback { .. })
        ));
    }

    #[test]
    fn other_hosts_are_refused() {
        for url in [
            "http://10.0.0.1/",
            "http://example.com/",
            "http://0.0.0.0:80/",
            "http://[2001:db8::1]/",
            "http://127.0.0.1.example.com/",
        ] {
            let err = ensure_loopback(url).unwrap_err();
            assert!(
                matches!(err, ProbeError::NotLoopback { .. }),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn malformed_urls_and_settings_are_refused() {
        assert!(matches!(
            ensure_loopback("not a url"),
            Err(ProbeError::BadUrl { .. })
        ));
        assert!(matches!(
            ensure_loopback("https://127.0.0.1/"),
            Err(ProbeError::BadUrl { .. })
        ));
        let mut cfg = ProbeConfig::new("http://127.0.0.1:1/");
        cfg.max_count = None;
        cfg.max_duration = None;
        assert!(matches!(cfg.validate(), Err(ProbeError::BadSetting { .. })));
        let cfg = ProbeConfig::new("http://127.0.0.1:1/").with_interval(Duration::ZERO);
        assert!(matches!(
            cfg.validate(),
            Err(ProbeError::BadSetting {
                name: "interval",
                ..
            })
        ));
    }

    #[test]
    fn default_cap_covers_a_timeout_of_probes() {
        let cfg = ProbeConfig::new("http://127.0.0.1:1/")
            .with_interval(Duration::from_millis(5))
            .with_timeout(Duration::from_secs(1));
        assert!(cfg.max_in_flight >= 200);
    }
}
