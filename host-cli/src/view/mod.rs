//! Text views of a trace: call trees, statistics, utilization per context, raw records.
pub mod dump;
pub mod stats;
pub mod tree;
pub mod util;
