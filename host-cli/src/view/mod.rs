//! Text views of a trace: call trees, statistics, utilization per context, raw records.
pub mod dump;
mod latency;
pub mod stats;
pub mod tree;
pub mod util;
