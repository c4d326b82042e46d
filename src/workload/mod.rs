//! The drill's job: the script it synthesizes, the HTTP calls that submit and
//! fetch it through the front door, and the follower that polls its progress.

pub mod client;
pub mod follow;
pub mod script;

pub use client::{JobClient, WorkloadError};
pub use follow::{follow_job, state_name, FollowHandle, Progress, StatusPoll};
pub use script::{pace_rtf, read_script, ScriptError};
