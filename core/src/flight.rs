//! A flight recorder for std programs, after Go's `runtime/trace.FlightRecorder`: record all
//! the time into a bounded in-memory window of the last moments, and write that window out
//! when something interesting happens (a slow request, an error), while recording goes on.
//!
//! ```no_run
//! use std::time::Duration;
//! use tickspan::{FlightRecorder, FlightRecorderConfig};
//!
//! # fn handle() {}
//! fn main() -> std::io::Result<()> {
//!     let fr = FlightRecorder::new(FlightRecorderConfig {
//!         min_age: Duration::from_secs(5),
//!         max_bytes: 4 << 20,
//!     });
//!     fr.start()?;
//!     loop {
//!         let t = std::time::Instant::now();
//!         {
//!             let _g = tickspan::span!("request");
//!             handle();
//!         }
//!         if t.elapsed() > Duration::from_millis(300) {
//!             // The request's spans and the seconds before it, as a .tspn stream.
//!             fr.write_to(&mut std::fs::File::create("slow.tspn")?)?;
//!             break;
//!         }
//!     }
//!     fr.stop()
//! }
//! ```
//!
//! The recorder runs the std drain thread (`transport::spawn`) with the window as its writer,
//! so recording costs what it always costs and the rings behave as they always do (drop-newest
//! or, with feature `flight-recorder`, overwrite-oldest: the feature is the rings' mode, this
//! is the std window; they are independent). Losses in the rings are counted in the window's
//! batches as in any stream and shown by the CLI.
//!
//! **Bounds.** The window drops whole frames, oldest first: while it holds more than
//! `max_bytes`, and while the frames after the oldest still reach back `min_age`. So every
//! record the drain took in the last `min_age` is in a snapshot unless that would take more
//! than `max_bytes`: **`max_bytes` wins** (as in Go). The header, the callsite dictionary and
//! the context names count towards `max_bytes` but are never dropped. Memory: the window's
//! buffer (`max_bytes` plus two frames, allocated at [`start`](FlightRecorder::start)), and
//! during a [`write_to`](FlightRecorder::write_to) a copy of the window.
//!
//! **Snapshots** are complete streams: header, clock anchor, dictionary, context names, then
//! per context a [`WINDOW_MARKER`] value at its first record in the window (how many of its
//! batches were dropped before), then the window. `tickspan tree`/`stats`/`export` read them
//! like any trace and say that it is a window; spans begun before the window have no start in
//! it and are counted as span ends without a start, not shown.

mod window;

use crate::transport::{self, DrainHandle};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use window::Window;
pub use window::{WindowStats, WINDOW_MARKER};

/// The window's bounds (Go's `FlightRecorderConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlightRecorderConfig {
    /// How far back the window reaches at least (within the drain's period, 10 ms), unless
    /// that would exceed `max_bytes`. Default 10 s.
    pub min_age: Duration,
    /// Most bytes the window holds (it wins over `min_age`). Default 10 MiB.
    pub max_bytes: usize,
}

impl Default for FlightRecorderConfig {
    fn default() -> Self {
        FlightRecorderConfig { min_age: Duration::from_secs(10), max_bytes: 10 << 20 }
    }
}

/// See the module docs. Share it between threads by reference (`&self` everywhere): a
/// request handler calls [`write_to`](Self::write_to) while the recorder runs.
pub struct FlightRecorder {
    config: FlightRecorderConfig,
    running: Mutex<Option<Running>>,
}

struct Running {
    drain: DrainHandle,
    window: Arc<Mutex<Window>>,
}

/// The drain thread's writer: every byte goes into the window.
struct Feed(Arc<Mutex<Window>>);

impl Write for Feed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lock(&self.0).push(buf, Instant::now());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FlightRecorder {
    /// A recorder with these bounds, not started.
    pub fn new(config: FlightRecorderConfig) -> FlightRecorder {
        FlightRecorder { config, running: Mutex::new(None) }
    }

    /// The bounds it was made with.
    pub fn config(&self) -> FlightRecorderConfig {
        self.config
    }

    /// Starts the drain thread into a new, empty window. Fails with
    /// [`io::ErrorKind::AlreadyExists`] if this recorder runs, or another one, or any other
    /// drain thread (`transport::spawn`, `to_file`, …): the rings have one reader.
    pub fn start(&self) -> io::Result<()> {
        let mut running = lock(&self.running);
        if running.is_some() {
            let msg = "the flight recorder is already running";
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, msg));
        }
        let window = Arc::new(Mutex::new(Window::new(self.config.min_age, self.config.max_bytes)));
        let drain = transport::spawn(Feed(window.clone()), transport::DEFAULT_PERIOD)?;
        *running = Some(Running { drain, window });
        Ok(())
    }

    /// Whether it runs.
    pub fn enabled(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Writes a snapshot of the window to `w`, as a complete `.tspn` stream, and returns the
    /// bytes written. It holds every record written before the call (the drain thread is
    /// asked for one more pass first). Recording goes on meanwhile; the window is copied, so
    /// a slow `w` holds nothing up. Calls are served one at a time. Fails if the recorder is
    /// not running ([`io::ErrorKind::NotConnected`]) or `w` does.
    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<u64> {
        let mut out = Vec::new();
        {
            let running = lock(&self.running);
            let Some(r) = running.as_ref() else {
                let msg = "the flight recorder is not running";
                return Err(io::Error::new(io::ErrorKind::NotConnected, msg));
            };
            r.drain.flush()?;
            let mut window = lock(&r.window);
            window.evict(Instant::now());
            window.snapshot(&mut out);
        }
        w.write_all(&out)?;
        w.flush()?;
        Ok(out.len() as u64)
    }

    /// What the window holds now (`None` when not running).
    pub fn window(&self) -> Option<WindowStats> {
        let running = lock(&self.running);
        let r = running.as_ref()?;
        let window = lock(&r.window);
        Some(window.stats(Instant::now()))
    }

    /// Stops the drain thread (after a last pass) and frees the window. Waits for a
    /// [`write_to`](Self::write_to) in progress. Does nothing if not running.
    pub fn stop(&self) -> io::Result<()> {
        let running = lock(&self.running).take();
        match running {
            Some(r) => r.drain.finish().map(drop),
            None => Ok(()),
        }
    }
}

impl Drop for FlightRecorder {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `stop` returns them.
        let _ = self.stop();
    }
}

/// Locks, ignoring poisoning: the window stays consistent (every change is one call).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
