//! Text views of a trace: call trees, statistics, raw records.
pub mod dump;
pub mod stats;
pub mod tree;
