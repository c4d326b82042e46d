//! Finding the host programs the process runtime starts: `redis-server`,
//! `haproxy` (or `nginx`) and `synth-worker`.

use std::path::{Path, PathBuf};

use crate::stack::{images, FrontdoorKind, StackError, StackSpec};

/// Environment variable naming the `redis-server` program.
pub const REDIS_SERVER_ENV: &str = "TAKEOVER_REDIS_SERVER";
/// Environment variable naming the `haproxy` program.
pub const HAPROXY_ENV: &str = "TAKEOVER_HAPROXY";
/// Environment variable naming the `nginx` program.
pub const NGINX_ENV: &str = "TAKEOVER_NGINX";

/// The programs of one process stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    /// `redis-server`.
    pub redis_server: PathBuf,
    /// The front door: `haproxy`, or `nginx` with `frontdoor.kind: nginx`.
    pub frontdoor: PathBuf,
    /// `synth-worker`.
    pub worker: PathBuf,
}

/// Finds every program the stack needs, or says which is missing and how to name it.
pub fn resolve(spec: &StackSpec) -> Result<Programs, StackError> {
    Ok(Programs {
        redis_server: find(
            "redis-server",
            spec.process.redis_server.as_deref(),
            REDIS_SERVER_ENV,
            "stack.process.redis_server",
            "--redis-server",
        )?,
        frontdoor: match spec.frontdoor.kind {
            FrontdoorKind::Haproxy => find(
                "haproxy",
                spec.process.haproxy.as_deref(),
                HAPROXY_ENV,
                "stack.process.haproxy",
                "--haproxy",
            )?,
            FrontdoorKind::Nginx => find(
                "nginx",
                spec.process.nginx.as_deref(),
                NGINX_ENV,
                "stack.process.nginx",
                "--nginx",
            )?,
        },
        worker: images::find_worker_binary(spec.images.worker_binary.as_deref())?,
    })
}

/// Where `name` is looked for, in order: the explicit path, `$env_var`, the
/// folder of the running `takeover`, then [`images::host_program_dirs`] (`PATH`
/// and the usual system folders, or `$TAKEOVER_PROGRAM_PATH` alone).
pub fn candidates(name: &str, explicit: Option<&Path>, env_var: &str) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push(dir.join(name));
    }
    out.extend(
        images::host_program_dirs()
            .into_iter()
            .map(|d| d.join(name)),
    );
    out
}

fn find(
    name: &str,
    explicit: Option<&Path>,
    env_var: &str,
    key: &str,
    flag: &str,
) -> Result<PathBuf, StackError> {
    let candidates = candidates(name, explicit, env_var);
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| StackError::HostProgramMissing {
            program: name.to_string(),
            hint: format!(
                "the process runtime runs it from the host (looked at: {}); install it, put it next to \
                 `takeover`, or name it with {env_var}=PATH, `takeover run {flag} PATH` or {key}",
                candidates
                    .iter()
                    .take(4)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_path_wins_and_a_missing_one_is_named() {
        let c = candidates("haproxy", Some(Path::new("/opt/x/haproxy")), HAPROXY_ENV);
        assert_eq!(c, vec![PathBuf::from("/opt/x/haproxy")]);
        let err = find(
            "haproxy",
            Some(Path::new("/no/such/haproxy")),
            HAPROXY_ENV,
            "stack.process.haproxy",
            "--haproxy",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/no/such/haproxy"), "{err}");
        assert!(err.contains("TAKEOVER_HAPROXY"), "{err}");
    }

    #[test]
    fn the_folder_of_takeover_comes_before_path() {
        let c = candidates("redis-server", None, "TAKEOVER_TEST_UNSET_VARIABLE");
        let exe_dir = std::env::current_exe().unwrap();
        assert_eq!(c[0], exe_dir.parent().unwrap().join("redis-server"));
        assert!(c.len() > 2);
    }
}
