//! Text views of a timeline.
pub mod stats;
pub mod tree;
