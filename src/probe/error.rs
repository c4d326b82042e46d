//! What can go wrong when setting up probes.

/// Why a prober or the front-door poller could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL does not parse.
    #[error("probe URL {url:?} is not a valid URL: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The URL points somewhere other than this machine.
    #[error(
        "probe URL {url:?} is not on loopback: takeover only probes 127.0.0.0/8, ::1, localhost \
         or the multi-host test bed's 198.18.0.0/15 (publish the service on 127.0.0.1 and probe \
         that, or set `stack.allow_remote: true` for real hosts)"
    )]
    NotLoopback {
        /// The URL as given.
        url: String,
    },
    /// A setting is out of range.
    #[error("probe setting {name} is invalid: {reason}")]
    BadSetting {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the probe HTTP client: {0}")]
    Client(String),
    /// The scheduler thread or the probes' runtime could not be started.
    #[error("could not start the prober's thread or runtime: {0}")]
    Thread(#[from] std::io::Error),
}
