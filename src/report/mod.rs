//! Reports of a drill: the model every format renders from, and the formats.

pub mod json;
pub mod model;
