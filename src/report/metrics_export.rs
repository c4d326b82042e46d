//! Where drill metrics go: a file for node_exporter's textfile collector
//! (written atomically) and a Prometheus Pushgateway (loopback unless allowed).

use std::io::Write;
use std::path::{Path, PathBuf};

use reqwest::Url;

use super::model::Report;
use super::openmetrics;

/// What can go wrong writing or pushing metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Pushgateway address is not allowed or not usable.
    #[error("pushgateway {url}: {reason}")]
    BadUrl {
        /// The address given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The Pushgateway did not take the metrics.
    #[error("pushgateway {url}: {reason}")]
    Push {
        /// The address pushed to.
        url: String,
        /// Its answer or the transport error.
        reason: String,
    },
}

/// Writes `text` to `path` so that a reader sees the old file or the new one,
/// never half of one: a hidden temporary file in the same folder (node_exporter
/// reads only `*.prom`), flushed to disk, then renamed over `path`.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), MetricsError> {
    let err = |source| MetricsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(err)?;
            d.to_path_buf()
        }
        None => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(err)
}

/// Whether a URL's host is this machine's loopback.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Parses a Pushgateway address and refuses one off this machine unless
/// `allow_remote` (drill traffic stays on loopback by default).
pub fn check_url(url: &str, allow_remote: bool) -> Result<Url, MetricsError> {
    let bad = |reason: &str| MetricsError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(bad("only http:// and https:// addresses"));
    }
    if !allow_remote && !is_loopback(&parsed) {
        return Err(bad(
            "not a loopback address; pass --pushgateway-allow-remote to push off this machine",
        ));
    }
    Ok(parsed)
}

/// The Pushgateway group of a scenario: `<base>/metrics/job/takeover/scenario/<name>`.
pub fn group_url(base: &Url, scenario: &str) -> Result<Url, MetricsError> {
    if scenario.is_empty()
        || !scenario
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(MetricsError::BadUrl {
            url: base.to_string(),
            reason: format!("scenario name {scenario:?} cannot be a grouping key"),
        });
    }
    let mut s = base.as_str().trim_end_matches('/').to_string();
    s.push_str(&format!("/metrics/job/takeover/scenario/{scenario}"));
    Url::parse(&s).map_err(|e| MetricsError::BadUrl {
        url: s.clone(),
        reason: e.to_string(),
    })
}

/// Pushes each report's metrics to its own group (PUT: the group's earlier
/// metrics are replaced). Returns the group URLs pushed to.
pub async fn push(base: &Url, reports: &[&Report]) -> Result<Vec<Url>, MetricsError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| MetricsError::Push {
            url: base.to_string(),
            reason: e.to_string(),
        })?;
    let mut pushed = Vec::new();
    for r in reports {
        let url = group_url(base, &r.scenario.name)?;
        let fail = |reason: String| MetricsError::Push {
            url: url.to_string(),
            reason,
        };
        let resp = client
            .put(url.clone())
            // The Pushgateway reads the Prometheus text format; the OpenMetrics
            // text here is a subset of it (`# EOF` reads as a comment).
            .header("content-type", "text/plain; version=0.0.4")
            .body(openmetrics::render(&[r]))
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(fail(format!("{status}: {}", body.trim())));
        }
        pushed.push(url);
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_pushgateways_unless_allowed() {
        assert!(check_url("http://127.0.0.1:9091", false).is_ok());
        assert!(check_url("http://localhost:9091/", false).is_ok());
        assert!(check_url("http://[::1]:9091", false).is_ok());
        let err = check_url("http://10.0.0.5:9091", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--pushgateway-allow-remote"), "{err}");
        assert!(check_url("http://10.0.0.5:9091", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", false).is_err());
    }

    #[test]
    fn each_scenario_is_its_own_group() {
        let base = Url::parse("http://127.0.0.1:9091/").unwrap();
        assert_eq!(
            group_url(&base, "kill-primary").unwrap().as_str(),
            "http://127.0.0.1:9091/metrics/job/takeover/scenario/kill-primary"
        );
        assert!(group_url(&base, "a/b").is_err());
    }

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = std::env::temp_dir().join(format!("takeover-metrics-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/takeover.prom");
        write_atomic(&path, "a 1\n").unwrap();
        write_atomic(&path, "a 2\n# EOF\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n# EOF\n");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["takeover.prom"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
