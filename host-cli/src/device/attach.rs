//! A live RTT capture as a byte stream (`std::io::Read`), so that the CLI decodes it like a
//! file or a serial port.
//!
//! Each poll: stop the target if the memory source needs it (GDB stubs), read the channel and
//! hand its space back, let the target run again. The stream ends when the target stops by
//! itself (breakpoint, trapped fault, exit) and the channel is empty, or at the deadline.

use super::control::DownChannel;
use super::rtt::UpChannel;
use super::Memory;
use anyhow::{Context as _, Result};
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// How long a read waits for data before reporting the stream idle.
pub const IDLE: Duration = Duration::from_millis(200);
/// How long to wait for the firmware to initialise its control block.
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// The RTT channel as a stream.
pub struct RttStream {
    mem: Box<dyn Memory>,
    chan: UpChannel,
    buf: Vec<u8>,
    pos: usize,
    poll: Duration,
    deadline: Option<Instant>,
    ended: bool,
    side: Option<SideChannel>,
    /// The control channel and the message waiting to go into it at the next poll.
    control: Option<(DownChannel, Option<[u8; tickspan::control::LEN]>)>,
}

/// A second control block read at the same stops (defmt-rtt's), its bytes copied to `out`.
pub struct SideChannel {
    cb: u64,
    id: &'static [u8],
    chan: Option<UpChannel>,
    out: Box<dyn std::io::Write>,
}

impl SideChannel {
    /// Up channel 0 of the control block at `cb` with `id`; attached at the first poll that
    /// finds it initialised.
    pub fn new(cb: u64, id: &'static [u8], out: Box<dyn std::io::Write>) -> SideChannel {
        SideChannel { cb, id, chan: None, out }
    }

    fn poll(&mut self, mem: &mut dyn Memory) -> Result<()> {
        if self.chan.is_none() {
            self.chan = UpChannel::attach(mem, self.cb, self.id, None).ok();
        }
        if let Some(chan) = self.chan.as_mut() {
            let mut buf = Vec::new();
            chan.read(mem, &mut buf)?;
            self.out.write_all(&buf)?;
        }
        Ok(())
    }
}

impl RttStream {
    /// Attaches to the control block at `cb` (with `id`), retrying while the firmware has not
    /// initialised it yet (a target held at reset), then lets the target run.
    pub fn attach(
        mut mem: Box<dyn Memory>,
        cb: u64,
        id: &[u8],
        channel: Option<&str>,
        poll: Duration,
        duration: Option<Duration>,
    ) -> Result<RttStream> {
        let give_up = Instant::now() + ATTACH_TIMEOUT;
        let chan = loop {
            mem.halt()?;
            let attempt = UpChannel::attach(mem.as_mut(), cb, id, channel);
            match attempt {
                Ok(chan) => break chan,
                Err(_) if Instant::now() < give_up && !mem.stopped()? => {
                    mem.resume()?;
                    std::thread::sleep(poll);
                }
                Err(e) => return Err(e).context("attaching to the RTT channel"),
            }
        };
        // Stubs halt the target when a debugger connects (QEMU `-S` holds it at reset):
        // capturing means letting it run.
        mem.resume()?;
        let stream = RttStream {
            mem,
            chan,
            buf: Vec::new(),
            pos: 0,
            poll,
            deadline: duration.map(|d| Instant::now() + d),
            ended: false,
            side: None,
            control: None,
        };
        Ok(stream)
    }

    /// Also reads `side` at every poll.
    pub fn with_side_channel(mut self, side: SideChannel) -> RttStream {
        self.side = Some(side);
        self
    }

    /// Opens the control channel of the block at `cb` (`attach --trace-for`…): fails if the
    /// firmware has none.
    pub fn with_control(mut self, cb: u64) -> Result<RttStream> {
        let paused = self.mem.halt()?;
        let down = DownChannel::attach(self.mem.as_mut(), cb);
        if paused {
            self.mem.resume()?;
        }
        self.control = Some((down?, None));
        Ok(self)
    }

    /// Sends `msg` into the control channel at the next poll.
    pub fn queue_control(&mut self, msg: [u8; tickspan::control::LEN]) {
        if let Some((_, outbox)) = self.control.as_mut() {
            *outbox = Some(msg);
        }
    }

    /// Ends the stream at the next poll (on a frame boundary), as a deadline does.
    pub fn end_now(&mut self) {
        self.deadline = Some(Instant::now());
    }

    /// One poll: reads the channel; sets `ended` once nothing more will come.
    fn poll_once(&mut self) -> Result<()> {
        let stopped = self.mem.stopped()?;
        let paused = self.mem.halt()?;
        let stopped = stopped || self.mem.stopped()?;
        self.buf.clear();
        self.pos = 0;
        let out_of_time = self.deadline.is_some_and(|d| Instant::now() >= d);
        if out_of_time {
            // The last read: end on a frame boundary, leave the rest for the next host.
            self.chan.read_whole_frames(self.mem.as_mut(), &mut self.buf)?;
        } else {
            self.chan.read(self.mem.as_mut(), &mut self.buf)?;
        }
        if let Some(side) = self.side.as_mut() {
            side.poll(self.mem.as_mut())?;
        }
        if let Some((down, outbox)) = self.control.as_mut() {
            if let Some(msg) = outbox.take() {
                down.send(self.mem.as_mut(), &msg)?;
            }
        }
        if paused && !stopped {
            self.mem.resume()?;
        }
        // A stopped target may still have bytes in the channel; read until it is empty.
        self.ended = (stopped && self.buf.is_empty()) || out_of_time;
        Ok(())
    }
}

impl Read for RttStream {
    /// Blocks until data arrives or the stream ends; an [`io::ErrorKind::WouldBlock`] error
    /// after [`IDLE`] without data lets a live pipeline flush what it holds.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let since = Instant::now();
        loop {
            if self.pos < self.buf.len() {
                let n = (self.buf.len() - self.pos).min(out.len());
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.ended {
                if let Some(side) = self.side.as_mut() {
                    side.out.flush()?;
                }
                return Ok(0);
            }
            self.poll_once().map_err(io::Error::other)?;
            if self.buf.is_empty() && !self.ended {
                if since.elapsed() >= IDLE {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                std::thread::sleep(self.poll);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rtt::tests::{image, Ram};
    use super::super::rtt::TICKSPAN_ID;
    use super::*;

    /// Memory that reports "stopped by itself" after a number of polls.
    struct Stopping(Ram, u32);

    impl Memory for Stopping {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
            self.0.read(addr, buf)
        }
        fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
            self.0.write(addr, data)
        }
        fn stopped(&mut self) -> Result<bool> {
            self.1 = self.1.saturating_sub(1);
            Ok(self.1 == 0)
        }
    }

    #[test]
    fn streams_the_channel_and_ends_when_the_target_stops() {
        let base = 0x2000_0000;
        let ram = Ram { base, bytes: image(base, 16, 5, 0, b"hello") };
        let mem = Box::new(Stopping(ram, 5));
        let mut s = RttStream::attach(mem, base, TICKSPAN_ID, None, Duration::from_millis(1), None).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
            }
        }
        assert_eq!(all, b"hello");
    }
}
