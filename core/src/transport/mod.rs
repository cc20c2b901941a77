//! std transports: a background thread that drains every ring to a file, stdout or a TCP
//! connection. Over TCP the host can also control the recording (`tickspan attach --listen
//! ADDR --trace-for 5s`): [`to_tcp`].
//!
//! ```no_run
//! fn main() -> std::io::Result<()> {
//!     let trace = tickspan::transport::to_file("trace.tspn")?;
//!     {
//!         let _g = tickspan::span!("work");
//!     }
//!     trace.finish()?; // drains what is left, so the last spans are not lost
//!     Ok(())
//! }
//! ```
//!
//! Memory is bounded: the thread encodes into one 64 KiB buffer and writes it out; when the
//! writer is slower than the recorders the rings fill and count their losses, the recording
//! threads never wait. Bare-metal targets drain with [`Drain::read`] or [`Drain::write_to`]
//! (any `embedded_io::Write`) instead.

#[cfg(feature = "rtt")]
pub mod rtt;
mod tcp;

use crate::drain::Drain;
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a transport thread wakes up to drain.
pub const DEFAULT_PERIOD: Duration = Duration::from_millis(10);
/// How often it emits a clock anchor.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// The thread's encode buffer.
const BUF_LEN: usize = 64 * 1024;

/// Set while a transport thread owns the global rings (they allow one reader).
static RUNNING: AtomicBool = AtomicBool::new(false);

/// The running drain thread. [`finish`](Self::finish) (or dropping it) drains what is left,
/// flushes the writer and stops the thread.
#[must_use = "dropping the handle stops the drain thread at once"]
pub struct DrainHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<io::Result<u64>>>,
}

/// What the handle and the thread share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Passes asked for by [`DrainHandle::flush`] (a ticket each).
    asked: AtomicU64,
    /// The last ticket a finished pass covered (`u64::MAX` once the thread has ended).
    done: Mutex<u64>,
    passed: Condvar,
}

impl Shared {
    fn passed(&self, ticket: u64) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = ticket;
        self.passed.notify_all();
    }
}

impl DrainHandle {
    /// Waits until the thread has drained, written and flushed every record written before
    /// the call (by any thread that this one synchronised with): a pass of its loop that
    /// starts after the call. Returns at once if the thread has ended (its error, if any,
    /// comes from [`finish`](Self::finish)).
    pub fn flush(&self) -> io::Result<()> {
        let Some(thread) = &self.thread else { return Ok(()) };
        // AcqRel: the records written before are visible to the pass that reads the ticket.
        let ticket = self.shared.asked.fetch_add(1, Ordering::AcqRel) + 1;
        thread.thread().unpark();
        let mut done = self.shared.done.lock().unwrap_or_else(|e| e.into_inner());
        while *done < ticket {
            done = self.shared.passed.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }

    /// Drains every ring one last time, flushes, stops the thread and returns the bytes
    /// written, or the writer's first error. Spans still open at this point are not in the
    /// stream: call it after their guards have dropped.
    pub fn finish(mut self) -> io::Result<u64> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<u64> {
        let Some(thread) = self.thread.take() else { return Ok(0) };
        self.shared.stop.store(true, Ordering::Release);
        thread.thread().unpark();
        let result =
            thread.join().unwrap_or_else(|_| Err(io::Error::other("tickspan drain thread panicked")));
        RUNNING.store(false, Ordering::Release);
        result
    }
}

impl Drop for DrainHandle {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `finish` returns them.
        let _ = self.stop();
    }
}

/// Starts a thread that drains every context's ring into `writer` every `period`.
///
/// Fails with [`io::ErrorKind::AlreadyExists`] while another transport thread runs: the rings
/// have a single reader.
pub fn spawn<W: Write + Send + 'static>(writer: W, period: Duration) -> io::Result<DrainHandle> {
    spawn_with(writer, period, None)
}

fn spawn_with<W: Write + Send + 'static>(
    writer: W,
    period: Duration,
    control: Option<tcp::Control>,
) -> io::Result<DrainHandle> {
    if RUNNING.swap(true, Ordering::AcqRel) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a tickspan drain thread is already running",
        ));
    }
    let shared = Arc::new(Shared::default());
    let shared2 = shared.clone();
    // Built here, not in the thread: the clock's frequency may take a calibration (20 ms for
    // the TSC), during which the thread would not drain while the caller records.
    let drain = Drain::global();
    let spawned = std::thread::Builder::new().name("tickspan-drain".into()).spawn(move || {
        let result = run(drain, writer, period, &shared2, control);
        shared2.passed(u64::MAX);
        result
    });
    match spawned {
        Ok(thread) => Ok(DrainHandle { shared, thread: Some(thread) }),
        Err(e) => {
            RUNNING.store(false, Ordering::Release);
            Err(e)
        }
    }
}

/// Drains to a new file at `path` (truncated if it exists).
pub fn to_file(path: impl AsRef<Path>) -> io::Result<DrainHandle> {
    spawn(std::fs::File::create(path)?, DEFAULT_PERIOD)
}

/// Drains to standard output.
pub fn to_stdout() -> io::Result<DrainHandle> {
    spawn(io::stdout(), DEFAULT_PERIOD)
}

/// Connects to `addr` (e.g. `tickspan attach --listen ADDR`, `tickspan tree --listen ADDR`,
/// or `nc -l`) and drains to it.
///
/// The host may send control messages back on the connection ([`crate::control`]: arm,
/// disarm, trace for a while; `tickspan attach --listen ADDR --trace-for 5s`): the drain
/// thread reads them at each pass and acknowledges each in the stream. To drain over TCP
/// without taking any, pass the connection to [`spawn`] instead.
pub fn to_tcp(addr: impl ToSocketAddrs) -> io::Result<DrainHandle> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    // Shared by both handles: the control poll must not wait (`tcp::Link` waits on writes).
    stream.set_nonblocking(true)?;
    let control = tcp::Control::new(stream.try_clone()?);
    spawn_with(tcp::Link(stream), DEFAULT_PERIOD, Some(control))
}

fn run<W: Write>(
    mut drain: Drain<'static>,
    mut writer: W,
    period: Duration,
    shared: &Shared,
    mut control: Option<tcp::Control>,
) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF_LEN];
    let mut total = 0u64;
    let mut last_sync = Instant::now();
    loop {
        // Read the flags first: records written before `finish` or `flush` are then all in
        // the rings.
        let stopping = shared.stop.load(Ordering::Acquire);
        let ticket = shared.asked.load(Ordering::Acquire);
        // First: the acknowledgements go out in this pass.
        if let Some(c) = control.as_mut() {
            c.poll();
        }
        loop {
            let n = drain.read(&mut buf);
            if n == 0 {
                break;
            }
            writer.write_all(&buf[..n])?;
            total += n as u64;
        }
        writer.flush()?;
        shared.passed(ticket);
        if stopping {
            return Ok(total);
        }
        if last_sync.elapsed() >= SYNC_EVERY {
            last_sync = Instant::now();
            drain.request_sync();
        }
        std::thread::park_timeout(period);
    }
}
