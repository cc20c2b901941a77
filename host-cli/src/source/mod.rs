//! Where trace bytes come from: a file, stdin, a serial port, a TCP connection, this process.
//!
//! Every input is a [`Source`]: a byte stream with two extra facts (its length, for the
//! progress bar, and whether it is live). Other inputs (debug probes, GDB stubs, RAM dumps)
//! implement the same trait and need nothing else from the pipeline.

pub mod channel;
pub mod file;
pub mod serial;
pub mod stdin;
pub mod tcp;

use std::io;
use std::time::Duration;

/// How long a live source waits for data before reporting that it is idle.
pub(crate) const IDLE_POLL: Duration = Duration::from_millis(200);

/// A stream of trace bytes.
#[allow(clippy::len_without_is_empty)] // `len` is the stream's expected size, not a collection's
pub trait Source {
    /// Reads some bytes into `buf`. `Ok(0)` ends the stream; an error of kind
    /// [`io::ErrorKind::WouldBlock`] means no data arrived for a while (a live source is idle:
    /// the pipeline flushes what it holds back and calls again).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Total length when known in advance (a regular file), for the progress bar.
    fn len(&self) -> Option<u64> {
        None
    }

    /// What to call it in messages.
    fn describe(&self) -> String;

    /// Damaged regions (offset, bytes) the source itself skipped since the last call: a
    /// source that decodes its input (raw frames, `device::raw`) reports them here.
    fn take_skipped(&mut self) -> Vec<(u64, u64)> {
        Vec::new()
    }
}

/// The idle "error" a live source returns when no data arrived within [`IDLE_POLL`].
pub(crate) fn idle() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

/// Whether an I/O error only means "no data yet".
pub(crate) fn is_idle(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}
