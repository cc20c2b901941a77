//! Host side of control messages (`tickspan::control`): `attach`/`run` `--trace-for`, `--arm`,
//! `--disarm`. For firmware the message goes into the down channel `"tickspan-control"` of the
//! target's RTT block (tickspan's feature `rtt-control`) through the same [`Memory`] the
//! capture reads with (probe or GDB stub); for a std process it goes back on the TCP
//! connection its drain opened (`tickspan::transport::to_tcp`, [`super::tcp`]). The target's
//! acknowledgement and the recording markers come back in the stream, where [`Controller`]
//! watches for them.

use super::{read_words, Memory};
use crate::units::{self, Clock};
use anyhow::{bail, Result};
use std::io;
use std::time::{Duration, Instant};
use tickspan::control::{Ack, Message, Op, Status, ACK_MARKER, LEN};
use tickspan::wire::{Decoder, Item};

/// Name of tickspan's down channel.
pub const CHANNEL_NAME: &str = "tickspan-control";
/// How long the target may take to acknowledge (it does so at its next drain call).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// The same over TCP: a std drain thread passes every 10 ms.
pub const TCP_ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// The link a message goes over: where to wait how long, and what to suggest when no answer comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The RTT down channel of firmware.
    Rtt,
    /// The TCP connection of a std process's drain.
    Tcp,
}

impl Link {
    fn timeout(self) -> Duration {
        match self {
            Link::Rtt => ACK_TIMEOUT,
            Link::Tcp => TCP_ACK_TIMEOUT,
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Link::Rtt => "Does the firmware drain with tickspan::transport::rtt::drain (or call rtt::poll_control)?",
            Link::Tcp => {
                "Does the app drain with tickspan::transport::to_tcp? A drain to stdout or a file relayed over the \
                 network (e.g. `app - | nc HOST PORT`), or transport::spawn on a TcpStream, reads no control messages"
            }
        }
    }
}

/// The down channel of a control block, written by the host.
#[derive(Debug)]
pub struct DownChannel {
    desc: u64,
    buffer: u64,
    size: u32,
}

impl DownChannel {
    /// Opens the down channel [`CHANNEL_NAME`] of the (checked) control block at `cb`.
    pub fn attach(mem: &mut dyn Memory, cb: u64) -> Result<DownChannel> {
        let mut counts = [0u32; 2];
        read_words(mem, cb + 16, &mut counts)?;
        let [max_up, max_down] = counts;
        if max_up > 16 || max_down > 16 {
            bail!("RTT control block at {cb:#x} claims {max_up} up and {max_down} down channels");
        }
        for i in 0..max_down {
            let desc = cb + 24 + 24 * u64::from(max_up + i);
            let mut w = [0u32; 6];
            read_words(mem, desc, &mut w)?;
            if w[0] == 0 || super::rtt::read_cstr(mem, w[0].into())? != CHANNEL_NAME {
                continue;
            }
            let (buffer, size) = (u64::from(w[1]), w[2]);
            if buffer == 0 || !(LEN as u32 + 1..=1 << 16).contains(&size) {
                bail!("RTT down channel at {desc:#x} has an implausible buffer ({buffer:#x}, {size} bytes)");
            }
            return Ok(DownChannel { desc, buffer, size });
        }
        bail!(
            "the target's RTT block has no `{CHANNEL_NAME}` down channel: build tickspan with its feature \
             `rtt-control` (e.g. tickspan = {{ …, features = [\"rtt-control\"] }}) to control it from the host"
        )
    }

    /// Puts `msg` into the channel: its bytes, then the write offset (one 32-bit store), so
    /// the target never sees part of it.
    pub fn send(&self, mem: &mut dyn Memory, msg: &[u8]) -> Result<()> {
        let mut off = [0u32; 2];
        read_words(mem, self.desc + 12, &mut off)?;
        let (write, read) = (off[0], off[1]);
        if write >= self.size || read >= self.size {
            bail!("RTT down channel offsets out of range (write {write}, read {read}, size {})", self.size);
        }
        let free = (read + self.size - write - 1) % self.size;
        if (free as usize) < msg.len() {
            bail!(
                "the control channel is full: the target has not taken the previous messages (is its drain running?)"
            );
        }
        let first = msg.len().min((self.size - write) as usize);
        mem.write(self.buffer + u64::from(write), &msg[..first])?;
        if first < msg.len() {
            mem.write(self.buffer, &msg[first..])?;
        }
        let next = (write + msg.len() as u32) % self.size;
        mem.write(self.desc + 12, &next.to_le_bytes())
    }
}

/// What the host asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Request {
    /// `--arm`.
    Arm,
    /// `--disarm`.
    Disarm,
    /// `--trace-for`.
    TraceFor(units::Duration),
}

impl Request {
    fn describe(self, clock: Clock, ticks: u64) -> String {
        match self {
            Request::Arm => "arm".into(),
            Request::Disarm => "disarm".into(),
            Request::TraceFor(_) if clock.is_real() => {
                format!("trace for {} ({ticks} ticks at {} Hz)", clock.dur(ticks), clock.hz)
            }
            Request::TraceFor(_) => format!("trace for {ticks} ticks"),
        }
    }
}

/// The message for `req` on a clock of `hz` ticks per second (from the stream header), and the
/// ticks it asks to record for. A duration of more ticks than 32 bits hold goes in milliseconds
/// (`Op::TraceForMs`, control version 2).
pub fn message(req: Request, seq: u16, hz: u64) -> Result<(Message, u64)> {
    let (op, arg) = match req {
        Request::Arm => (Op::Arm, 0),
        Request::Disarm => (Op::Disarm, 0),
        Request::TraceFor(d) => {
            if hz == 0 && matches!(d, units::Duration::Ns(_)) {
                bail!(
                    "the target does not report its clock rate (TICKSPAN_CLOCK_HZ unset), so --trace-for cannot be \
                     converted to ticks: give it in ticks (e.g. --trace-for 1000000ticks)"
                );
            }
            let ticks = d.ticks(Clock { hz }).max(1);
            if let Ok(t) = u32::try_from(ticks) {
                return Ok((Message { op: Op::TraceFor, seq, arg: t }, ticks));
            }
            let ms = match d {
                units::Duration::Ns(ns) => u32::try_from(ns.div_ceil(1_000_000)).ok(),
                units::Duration::Ticks(_) => None,
            };
            let Some(ms) = ms else {
                bail!(
                    "--trace-for is {ticks} ticks, more than the target takes (2^32 − 1 ticks, or 2^32 − 1 ms \
                     given in seconds)"
                );
            };
            return Ok((Message { op: Op::TraceForMs, seq, arg: ms }, u64::from(ms) * hz / 1000));
        }
    };
    Ok((Message { op, seq, arg }, arg.into()))
}

/// Where a request is.
#[derive(Debug, PartialEq)]
enum State {
    /// Waiting for the stream header (its clock rate).
    Header,
    /// Handed to the stream to send.
    Sent(Instant),
    /// The target acknowledged; recording is on (`start`) or was turned off.
    Acked,
    /// A `trace for` interval ended.
    Done,
}

/// Follows the stream for the request's acknowledgement and, for `trace for`, the end of its
/// interval; says both.
pub struct Controller {
    req: Request,
    seq: u16,
    dec: Decoder,
    ack_id: Option<u32>,
    marker_id: Option<u32>,
    clock: Clock,
    ticks: u64,
    state: State,
    link: Link,
    /// First record time, the origin of the times printed (as the views count).
    origin: Option<u64>,
    /// The latest `recording` marker (context, time), if it is the last record of its context.
    armed_at: Option<(u32, u64)>,
    start: Option<u64>,
    /// Set once the capture may end (the interval is over).
    pub finished: bool,
}

impl Controller {
    /// Watches for `req`'s acknowledgement; `seq` tells it from earlier hosts' messages.
    pub fn new(req: Request, seq: u16) -> Controller {
        Controller {
            req,
            seq,
            dec: Decoder::new(),
            ack_id: None,
            marker_id: None,
            clock: Clock::default(),
            ticks: 0,
            state: State::Header,
            link: Link::Rtt,
            origin: None,
            armed_at: None,
            start: None,
            finished: false,
        }
    }

    /// The same, sent over `link` (default: RTT).
    pub fn over(mut self, link: Link) -> Controller {
        self.link = link;
        self
    }

    /// A sequence number unlikely to repeat between hosts (never 0, which damage acks use).
    pub fn fresh_seq() -> u16 {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        ((t.subsec_nanos() ^ std::process::id()) as u16).max(1)
    }

    /// Feeds bytes of the stream as the capture passes them on. Returns the message to send
    /// once the header has said the clock rate; fails when the target refuses it.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<[u8; LEN]>> {
        let mut header_hz = None;
        let mut events = Vec::new();
        let r = self.dec.feed(bytes, &mut |item| match item {
            Item::Header(h) => header_hz = Some(h.clock_hz),
            Item::Callsite(c) if c.name == ACK_MARKER => events.push(Ev::AckId(c.id)),
            Item::Callsite(c) if c.name == tickspan::arming::MARKER => events.push(Ev::MarkerId(c.id)),
            Item::Record { ctx, ts, kind, callsite, a, b } if kind != tickspan::Kind::Sync => {
                events.push(Ev::Record { ctx, ts, callsite, v: u64::from(a) | u64::from(b) << 32 })
            }
            _ => {}
        });
        if let Err(e) = r {
            bail!("decoding the stream: {e}");
        }
        for ev in events {
            self.event(ev)?;
        }
        match header_hz {
            Some(hz) if self.state == State::Header => {
                self.clock = Clock { hz };
                let (msg, ticks) = message(self.req, self.seq, hz)?;
                self.ticks = ticks;
                self.state = State::Sent(Instant::now());
                Ok(Some(msg.encode()))
            }
            _ => Ok(None),
        }
    }

    /// Follows the capture's read `r` into `buf`: once the stream header has said the clock
    /// rate, hands the message to `send`; fails when the target refuses it or does not answer
    /// in time. Returns whether the request is done with (its interval ended). A read error
    /// other than idleness is the caller's to return.
    pub fn follow(
        &mut self,
        r: &io::Result<usize>,
        buf: &[u8],
        send: impl FnOnce([u8; LEN]) -> io::Result<()>,
    ) -> io::Result<bool> {
        let n = match r {
            Ok(n) => *n,
            Err(e) if crate::source::is_idle(e) => 0,
            Err(_) => return Ok(false),
        };
        if let Some(msg) = self.feed(&buf[..n]).map_err(io::Error::other)? {
            send(msg)?;
        }
        self.check(matches!(r, Ok(0))).map_err(io::Error::other)?;
        Ok(self.finished)
    }

    /// Fails once the target has had [`ACK_TIMEOUT`] ([`TCP_ACK_TIMEOUT`]) to acknowledge, or
    /// when the capture ended (`ended`) before it did.
    pub fn check(&self, ended: bool) -> Result<()> {
        let why = match self.state {
            State::Header if ended => "the capture ended before the stream header (the target's clock rate)".into(),
            State::Sent(_) if ended => "the capture ended first (the target stopped or closed the link)".into(),
            State::Sent(at) if at.elapsed() > self.link.timeout() => {
                format!("no answer within {} s", self.link.timeout().as_secs())
            }
            _ => return Ok(()),
        };
        bail!(
            "control message `{}` (seq {}) not acknowledged: {why}. {}",
            self.req.describe(self.clock, self.ticks),
            self.seq,
            self.link.hint()
        )
    }

    fn at(&self, ts: u64) -> String {
        self.clock.dur(ts.saturating_sub(self.origin.unwrap_or(ts))).to_string()
    }

    fn event(&mut self, ev: Ev) -> Result<()> {
        let (ctx, ts, callsite, v) = match ev {
            Ev::AckId(id) => {
                self.ack_id = Some(id);
                return Ok(());
            }
            Ev::MarkerId(id) => {
                self.marker_id = Some(id);
                return Ok(());
            }
            Ev::Record { ctx, ts, callsite, v } => (ctx, ts, callsite, v),
        };
        self.origin.get_or_insert(ts);
        let armed_at = self.armed_at.take();
        if Some(callsite) == self.marker_id {
            match v {
                1 => self.armed_at = Some((ctx, ts)),
                0 | 2 if self.state == State::Acked && matches!(self.req, Request::TraceFor(_)) => {
                    let start = self.start.unwrap_or(ts);
                    let how = if v == 2 { "frozen (tickspan::freeze)" } else { "ended" };
                    crate::note!(
                        "recording interval {} to {} ({}, asked {}): {how}",
                        self.at(start),
                        self.at(ts),
                        self.clock.dur(ts - start),
                        self.clock.dur(self.ticks)
                    );
                    self.state = State::Done;
                    self.finished = true;
                }
                _ => {}
            }
            return Ok(());
        }
        if Some(callsite) != self.ack_id || !matches!(self.state, State::Sent(_)) {
            return Ok(());
        }
        let Some(ack) = Ack::from_value(v).filter(|a| a.seq == self.seq) else { return Ok(()) };
        let what = self.req.describe(self.clock, self.ticks);
        match ack.status {
            Status::Applied => {}
            Status::Frozen => {
                bail!("the target ignored `{what}`: it is frozen (tickspan::freeze) and records nothing until reset")
            }
            Status::UnknownOp if matches!(self.req, Request::TraceFor(_)) && self.ticks > u32::MAX.into() => bail!(
                "the target refused `{what}`: it does not take a duration in milliseconds (its tickspan is older \
                 than control version 2); give at most {} ({} ticks)",
                self.clock.dur(u32::MAX.into()),
                u32::MAX
            ),
            s => bail!("the target refused `{what}` (seq {}): {s:?}", self.seq),
        }
        self.state = State::Acked;
        // Arming writes its marker just before the acknowledgement; without one, the target
        // was armed already and the interval starts here.
        self.start = Some(armed_at.filter(|a| a.0 == ctx).map_or(ts, |a| a.1));
        crate::note!("the target acknowledged `{what}` (seq {}) at {}", self.seq, self.at(ts));
        Ok(())
    }
}

enum Ev {
    AckId(u32),
    MarkerId(u32),
    Record { ctx: u32, ts: u64, callsite: u32, v: u64 },
}

#[cfg(test)]
mod tests {
    use super::super::rtt::tests::Ram;
    use super::*;

    /// A control block at `base` with one up channel and the down channel, `size` bytes at
    /// `base + 0x100`, its offsets `write`, `read`.
    fn block(base: u64, size: u32, write: u32, read: u32) -> Ram {
        let mut m = vec![0u8; 0x100 + size as usize];
        m[..16].copy_from_slice(&super::super::rtt::id_field(super::super::rtt::TICKSPAN_ID));
        let words = [1u32, 1, 0, 0, 0, 0, 0, 0, base as u32 + 0x80, base as u32 + 0x100, size, write, read, 0];
        for (i, w) in words.iter().enumerate() {
            m[16 + 4 * i..20 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        m[0x80..0x80 + CHANNEL_NAME.len()].copy_from_slice(CHANNEL_NAME.as_bytes());
        Ram { base, bytes: m }
    }

    #[test]
    fn writes_a_message_across_the_wrap_and_refuses_a_full_channel_or_none() {
        let base = 0x2000_0000;
        let mut ram = block(base, 28, 20, 20);
        let ch = DownChannel::attach(&mut ram, base).unwrap();
        let msg = Message { op: Op::TraceFor, seq: 9, arg: 400_000 }.encode();
        ch.send(&mut ram, &msg).unwrap();
        let buf = &ram.bytes[0x100..0x100 + 28];
        let got: Vec<u8> = buf[20..].iter().chain(&buf[..4]).copied().collect();
        assert_eq!(got, msg);
        assert_eq!(ram.bytes[16 + 4 * 11..16 + 4 * 12], 4u32.to_le_bytes(), "write offset after the bytes");
        // 28 bytes hold two messages; the target has taken none: the third does not fit.
        ch.send(&mut ram, &msg).unwrap();
        let err = ch.send(&mut ram, &msg).unwrap_err().to_string();
        assert!(err.contains("full"), "{err}");
        // A block without a down channel (firmware without `rtt-control`) says what to change.
        let mut none =
            super::super::rtt::tests::Ram { base, bytes: super::super::rtt::tests::image(base, 16, 0, 0, &[]) };
        let err = DownChannel::attach(&mut none, base).unwrap_err().to_string();
        assert!(err.contains("rtt-control"), "{err}");
    }

    #[test]
    fn converts_seconds_with_the_reported_clock_and_refuses_what_does_not_fit() {
        let d = |s: &str| Request::TraceFor(s.parse().unwrap());
        assert_eq!(message(d("5s"), 1, 200_000_000).unwrap().1, 1_000_000_000);
        assert_eq!(message(d("2ms"), 1, 200_000_000).unwrap().1, 400_000);
        assert_eq!(message(d("7ticks"), 1, 0).unwrap().1, 7);
        assert!(message(d("5s"), 1, 0).unwrap_err().to_string().contains("clock rate"));
        // More ticks than 32 bits hold: in milliseconds (control version 2), rounded up.
        let (m, ticks) = message(d("30s"), 1, 200_000_000).unwrap();
        assert_eq!((m.op, m.arg, ticks), (Op::TraceForMs, 30_000, 6_000_000_000));
        assert_eq!(message(d("2.0000001s"), 1, 2_300_000_000).unwrap().0.arg, 2001);
        assert!(message(d("5000000000ticks"), 1, 0).unwrap_err().to_string().contains("2^32"));
        assert_eq!(message(Request::Disarm, 3, 0).unwrap().0, Message { op: Op::Disarm, seq: 3, arg: 0 });
    }

    /// The stream a target sends: the header, then names and records of ctx 0 (callsite,
    /// value, ts).
    fn stream(hz: u64, records: &[(u32, u64, u64)]) -> (Vec<u8>, Vec<u8>) {
        use tickspan::wire::encode::FrameEncoder;
        use tickspan::wire::{CallsiteInfo, StreamHeader, ENCODED_CAPACITY};
        let mut enc = FrameEncoder::new();
        let mut buf = [0u8; ENCODED_CAPACITY];
        let mut out = Vec::new();
        let mut put = |enc: &mut FrameEncoder, out: &mut Vec<u8>| {
            let n = enc.finish(&mut buf);
            out.extend_from_slice(&buf[..n]);
        };
        let target = "t";
        enc.header(&StreamHeader { version: 3, clock_hz: hz, clock_wrap: 0, node: 0, target, name: "" });
        put(&mut enc, &mut out);
        let header = std::mem::take(&mut out);
        for (id, name) in [(0x40, ACK_MARKER), (0x80, tickspan::arming::MARKER), (0xC0, "work")] {
            let kind = tickspan::CallsiteKind::ValueU64;
            let cs = CallsiteInfo { id, kind, level: tickspan::Level::Info, line: 1, name, file: "f" };
            enc.callsite(&cs);
            put(&mut enc, &mut out);
        }
        enc.begin_batch(0, 0);
        for &(cs, v, ts) in records {
            enc.record(tickspan::Kind::ValueU, cs, ts, v as u32, (v >> 32) as u32);
        }
        put(&mut enc, &mut out);
        (header, out)
    }

    /// Feeds the header, then the rest; the message the header released.
    fn feed(c: &mut Controller, s: (Vec<u8>, Vec<u8>)) -> Result<Option<[u8; LEN]>> {
        let msg = c.feed(&s.0)?;
        c.feed(&s.1)?;
        Ok(msg)
    }

    #[test]
    fn reports_the_acknowledgement_and_the_interval_and_fails_on_refusal() {
        let mut c = Controller::new(Request::TraceFor("2ms".parse().unwrap()), 77);
        let ok = Ack { seq: 77, op: Op::TraceFor as u8, status: Status::Applied }.value() as u64;
        let (head, rest) = stream(
            200_000_000,
            &[(0x80, 0, 100), (0x80, 1, 1000), (0x40, ok, 1010), (0xC0, 5, 2000), (0x80, 0, 401_000)],
        );
        let msg = c.feed(&head).unwrap().expect("the message, once the header said the clock");
        assert_eq!(Message::parse(&msg), Ok(Message { op: Op::TraceFor, seq: 77, arg: 400_000 }));
        assert!(!c.finished);
        c.feed(&rest).unwrap();
        assert!(c.finished, "the interval ended");
        assert_eq!(c.start, Some(1000), "from the recording marker before the acknowledgement");
        c.check(true).unwrap();

        // Refused, frozen, never acknowledged: errors, not silence.
        for (status, says) in [(Status::BadArgument, "refused"), (Status::Frozen, "frozen")] {
            let mut c = Controller::new(Request::Arm, 5);
            let v = Ack { seq: 5, op: 1, status }.value() as u64;
            let err = feed(&mut c, stream(1_000, &[(0x40, v, 10)])).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        let mut c = Controller::new(Request::Arm, 5);
        let other = Ack { seq: 4, op: 1, status: Status::Applied }.value() as u64;
        feed(&mut c, stream(1_000, &[(0x40, other, 10)])).unwrap();
        assert!(c.check(false).is_ok(), "still within the timeout");
        assert!(c.check(true).unwrap_err().to_string().contains("not acknowledged"));
    }

    /// Target memory shared with the test, to look at after the stream has written it.
    struct Shared(std::rc::Rc<std::cell::RefCell<Ram>>);

    impl Memory for Shared {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
            self.0.borrow_mut().read(addr, buf)
        }
        fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
            self.0.borrow_mut().write(addr, data)
        }
    }

    #[test]
    fn the_capture_stream_sends_a_queued_message_at_its_next_poll() {
        use super::super::attach::RttStream;
        use super::super::rtt::{tests::image, TICKSPAN_ID};
        use std::io::Read;
        let base = 0x2000_0000;
        // tickspan's block with its up channel (16 bytes holding "hi"), then the down channel.
        let mut m = image(base, 16, 2, 0, b"hi");
        m[20..24].copy_from_slice(&1u32.to_le_bytes());
        m.resize(0x200, 0);
        let down = [base as u32 + 0x90, base as u32 + 0x180, 28, 0, 0, 0];
        for (i, w) in down.iter().enumerate() {
            m[48 + 4 * i..52 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        m[0x90..0x90 + CHANNEL_NAME.len()].copy_from_slice(CHANNEL_NAME.as_bytes());
        let ram = std::rc::Rc::new(std::cell::RefCell::new(Ram { base, bytes: m }));
        let mem = Box::new(Shared(ram.clone()));
        let poll = Duration::from_millis(1);
        let mut s = RttStream::attach(mem, base, TICKSPAN_ID, None, poll, None).unwrap().with_control(base).unwrap();
        let msg = Message { op: Op::Disarm, seq: 2, arg: 0 }.encode();
        s.queue_control(msg);
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap(), 2, "the up channel's bytes");
        let r = ram.borrow();
        assert_eq!(&r.bytes[0x180..0x180 + LEN], &msg, "the message in the down buffer");
        assert_eq!(r.bytes[60..64], (LEN as u32).to_le_bytes(), "its write offset");
    }
}
