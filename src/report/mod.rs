//! Reports of a drill: the model every format renders from, and the formats.

pub mod chart;
pub mod compare;
pub mod display;
pub mod figure;
pub mod figures;
pub mod files;
pub mod history;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod metrics_export;
pub mod model;
pub mod openmetrics;
pub mod seams;
pub mod state;
#[cfg(test)]
mod testdata;

pub use files::{publish, write_all, write_formats, write_junit, Format, Published, RenderError};
