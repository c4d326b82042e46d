//! `takeover bench sweep`: the shipped kill, pause and partition drills and
//! the no-fault drill under every combination of a grid of front-door and
//! lease settings, with each setting's outage percentiles and false
//! failovers side by side, so that an SRE can pick settings.
//!
//! [`grid`] parses and expands the grid, [`drive`] applies each setting to
//! the shipped scenarios in memory and runs them with the drill machinery,
//! [`table`] turns the reports into cells, the table and the winner (pure).

pub mod drive;
pub mod grid;
pub mod table;

pub use drive::{SweepError, SweepPlan, FAULTS};
pub use grid::{Grid, GridError, Knob, Setting, Value};
pub use table::{Cell, FaultCell, SteadyCell, Winner};
