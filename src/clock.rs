//! One monotonic time base for every event of an iteration.
//!
//! Events come from three clocks: `Instant`s taken by the harness, Docker
//! event timestamps (Unix nanoseconds) and HAProxy's view read at a known
//! `Instant`. [`Clock`] maps all of them onto milliseconds since the start of
//! the iteration, so that a timeline can be sorted and subtracted.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Maps instants and wall-clock timestamps onto ms since the iteration's start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    t0: Instant,
    unix_nanos_at_t0: i128,
}

impl Clock {
    /// Starts a time base now.
    pub fn start() -> Self {
        let t0 = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self {
            t0,
            unix_nanos_at_t0: wall.as_nanos() as i128,
        }
    }

    /// The instant the time base starts at.
    pub fn t0(&self) -> Instant {
        self.t0
    }

    /// Milliseconds from the start to `at` (negative if `at` is earlier).
    pub fn ms(&self, at: Instant) -> f64 {
        if at >= self.t0 {
            at.duration_since(self.t0).as_secs_f64() * 1e3
        } else {
            -(self.t0.duration_since(at).as_secs_f64() * 1e3)
        }
    }

    /// Milliseconds since the start right now.
    pub fn now_ms(&self) -> f64 {
        self.ms(Instant::now())
    }

    /// Milliseconds from the start to a Unix timestamp in nanoseconds (as Docker events carry).
    pub fn ms_from_unix_nanos(&self, unix_nanos: i64) -> f64 {
        (unix_nanos as i128 - self.unix_nanos_at_t0) as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_unix_times_share_one_scale() {
        let clock = Clock::start();
        let later = clock.t0() + Duration::from_millis(250);
        assert!((clock.ms(later) - 250.0).abs() < 1e-6);
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        // The wall clock read now maps close to the monotonic "now".
        assert!((clock.ms_from_unix_nanos(unix_now) - clock.now_ms()).abs() < 50.0);
    }
}
