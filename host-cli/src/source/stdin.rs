//! Standard input (`-`), e.g. `tickspan-app | tickspan tree -`.
//!
//! Read on a thread of its own into a channel: a pipe that pauses (a target that went quiet
//! behind `tickspan attach -o -`) is then idle like a live TCP or serial source, so the views
//! and `relay` flush what they hold back instead of waiting for more bytes.

use super::channel::{channel, ChannelSource};
use super::Source;
use std::io::{self, Read};

/// Bytes read from standard input at a time.
const CHUNK: usize = 64 * 1024;

/// Reads standard input until it closes.
pub struct StdinSource {
    channel: ChannelSource,
    /// A read error, reported once the bytes before it were read.
    error: std::sync::mpsc::Receiver<io::Error>,
}

impl StdinSource {
    /// Standard input, read from now on by a thread of its own.
    #[allow(clippy::new_without_default)] // a reader of the process's stdin, not a default value
    pub fn new() -> Self {
        let (tx, channel) = channel("standard input");
        let (etx, error) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut buf = vec![0u8; CHUNK];
                match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(buf).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = etx.send(e);
                        return;
                    }
                }
            }
        });
        StdinSource { channel, error }
    }
}

impl Source for StdinSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.channel.read(buf)? {
            0 => self.error.try_recv().map_or(Ok(0), Err),
            n => Ok(n),
        }
    }

    fn describe(&self) -> String {
        self.channel.describe()
    }
}
