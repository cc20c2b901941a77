//! The connection of [`to_tcp`](super::to_tcp): the trace goes out on it, and the host's
//! control messages ([`crate::control`]) come back on it, read by the drain thread at the
//! start of each pass. The socket is nonblocking so that this read never waits; a write the
//! socket cannot take yet waits in [`Link`] instead, as a blocking one would.

use crate::control;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a write waits before it tries a full socket again.
const FULL_WAIT: Duration = Duration::from_millis(1);

/// The sending side of the (nonblocking) connection.
pub(super) struct Link(pub(super) TcpStream);

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(FULL_WAIT),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The receiving side: what the host sent that is not a whole message yet.
pub(super) struct Control {
    stream: TcpStream,
    buf: [u8; 2 * control::LEN],
    len: usize,
    /// Cleared when the host closed its side or the read failed: nothing more will come.
    open: bool,
}

impl Control {
    pub(super) fn new(stream: TcpStream) -> Control {
        Control { stream, buf: [0; 2 * control::LEN], len: 0, open: true }
    }

    /// Carries out the messages that have arrived (each acknowledged into the calling
    /// thread's ring: the drain's next read sends it). Never waits.
    pub(super) fn poll(&mut self) {
        while self.open {
            match self.stream.read(&mut self.buf[self.len..]) {
                Ok(0) => self.open = false,
                Ok(n) => {
                    self.len += n;
                    let buf = self.buf;
                    // Leaves at most a partial message (< LEN bytes): room for the next read.
                    let used = control::receive(self.len, |k| buf[k], |_| {});
                    self.buf.copy_within(used..self.len, 0);
                    self.len -= used;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.open = false,
            }
        }
    }
}
