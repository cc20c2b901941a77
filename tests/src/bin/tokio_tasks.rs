//! A tokio runtime with tickspan's hooks (`tickspan::task::tokio`): two workers, three traced
//! tasks (ids 1–3) that each sleep twice, so each is polled at least three times and woken by
//! the timer at least twice, with idle stretches in between. Writes the trace to the file given
//! as the first argument.

use std::time::Duration;

fn main() {
    let out = std::env::args().nth(1).expect("usage: tokio_tasks OUT.tspn");
    let drain = tickspan::transport::to_file(&out).expect("open the trace file");
    let rt = tickspan::task::tokio::instrument(&mut tokio::runtime::Builder::new_multi_thread())
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let jobs: Vec<_> = (1..=3u32)
            .map(|id| {
                tickspan::spawn!("job", id = id, async move {
                    for step in 0..2u64 {
                        let _s = tickspan::span!("compute");
                        std::hint::black_box((0..1000u64).sum::<u64>());
                        drop(_s);
                        tokio::time::sleep(Duration::from_millis(5 + step)).await;
                    }
                })
            })
            .collect();
        for j in jobs {
            j.await.expect("a job");
        }
    });
    drop(rt); // the workers stop: their last stretches end
    drain.finish().expect("write the trace");
}
