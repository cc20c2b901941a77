//! Bytes handed over by another thread, read as a live source: this process's own trace
//! (tickspan's drain thread writes into the channel, for the in-process dashboard and OTLP
//! push) and standard input (read on a thread of its own, so that a pause is seen as one).

use super::{idle, Source, IDLE_POLL};
use crate::run::Fail;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};

/// Batches the drain may hand over before it waits for the decoder. The drain thread waits,
/// never the recording code: while it waits the rings fill and losses are counted as usual.
const BATCHES: usize = 64;

/// Starts tickspan's drain thread into a channel and returns its handle and the channel's
/// reading end. Only one drain can run, so this replaces `tickspan::transport::to_file` and the
/// like.
pub fn drain() -> Result<(tickspan::transport::DrainHandle, ChannelSource), Fail> {
    let (tx, src) = channel("this process");
    let handle = tickspan::transport::spawn(ChannelWriter(tx), tickspan::transport::DEFAULT_PERIOD)
        .map_err(|e| Fail::io("starting the tickspan drain", e))?;
    Ok((handle, src))
}

/// A channel of byte batches and the source that reads it, called `name` in messages.
pub(crate) fn channel(name: &'static str) -> (SyncSender<Vec<u8>>, ChannelSource) {
    let (tx, rx) = mpsc::sync_channel(BATCHES);
    (tx, ChannelSource { rx, pending: Vec::new(), at: 0, name })
}

/// The drain's writer: each batch goes to the decoding thread.
struct ChannelWriter(SyncSender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf.to_vec()).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading side of a channel: a live source, idle when nothing came for a while, ended
/// when the writing side is gone.
pub struct ChannelSource {
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    at: usize,
    name: &'static str,
}

impl Source for ChannelSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.pending.len() {
            match self.rx.recv_timeout(IDLE_POLL) {
                Ok(v) => (self.pending, self.at) = (v, 0),
                Err(RecvTimeoutError::Timeout) => return Err(idle()),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }

    fn describe(&self) -> String {
        self.name.into()
    }
}
