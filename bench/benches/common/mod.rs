//! What the benchmarks share and the library cannot hold (criterion is a dev-dependency).

use criterion::Criterion;
use std::time::Duration;

/// Criterion as every benchmark here runs it: 50 samples of 2 s after 0.5 s of warm-up, then
/// what the command line says.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}
