//! Control messages from the host: arm, disarm, trace for N ticks or milliseconds, over the
//! link the trace goes out on (the RTT down channel, feature `rtt-control`; std: the reverse
//! direction of `transport::to_tcp`'s connection).
//!
//! A message is [`LEN`] bytes (`docs/wire-format.md`, "Control messages"): `"TC"`, the
//! version (the lowest that has its operation, [`MIN_VERSION`] to [`VERSION`]), the operation,
//! a 16-bit sequence number, a 32-bit argument and a Fletcher-16 check. [`apply`] carries it
//! out and writes an acknowledgement, a `ValueU` of the callsite `tickspan.control`
//! ([`ACK_MARKER`], value [`Ack::value`]), written even while disarmed: the host learns that
//! the message took effect, or why not, from the stream itself. [`receive`] finds messages in
//! the bytes a link delivered.

use crate::arming;

/// Newest format version of control messages this build reads (2 added [`Op::TraceForMs`]).
pub const VERSION: u8 = 2;
/// Oldest version it reads; messages of ops that version has are sent as it, so targets
/// built before a version know them.
pub const MIN_VERSION: u8 = 1;
/// Bytes per message.
pub const LEN: usize = 12;
/// First two bytes of every message.
pub const MAGIC: [u8; 2] = *b"TC";
/// The acknowledgement's callsite name.
pub const ACK_MARKER: &str = "tickspan.control";

/// What a message asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// [`arming::arm`]; the argument must be 0.
    Arm = 1,
    /// [`arming::disarm`]; the argument must be 0.
    Disarm = 2,
    /// [`arming::trace_for_ticks`] with the argument (ticks of the target's clock, at least 1).
    TraceFor = 3,
    /// Trace for the argument in milliseconds (at least 1), converted with the target's clock
    /// rate: for clocks whose 2^32 ticks are too short (a 2.3 GHz TSC: 1.9 s). Version 2.
    TraceForMs = 4,
}

impl Op {
    /// The op `v` of a message of `version`.
    fn from_u8(v: u8, version: u8) -> Option<Op> {
        let op = match v {
            1 => Op::Arm,
            2 => Op::Disarm,
            3 => Op::TraceFor,
            4 => Op::TraceForMs,
            _ => return None,
        };
        (op.version() <= version).then_some(op)
    }

    /// The first version that has it: the version its messages are sent as.
    pub fn version(self) -> u8 {
        match self {
            Op::TraceForMs => 2,
            _ => MIN_VERSION,
        }
    }
}

/// How the target answered a message, in its acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Done.
    Applied = 0,
    /// Ignored: [`arming::freeze`] was called, nothing but a reset arms again.
    Frozen = 1,
    /// Refused: the argument is out of range for the operation.
    BadArgument = 2,
    /// Refused: an operation this firmware does not know.
    UnknownOp = 3,
    /// Refused: a message version this firmware does not read.
    Unsupported = 4,
    /// Bytes that are not a message (bad magic or check) were skipped; the sequence number
    /// and operation of the acknowledgement are 0.
    Damaged = 5,
}

impl Status {
    fn from_u8(v: u8) -> Option<Status> {
        Some(match v {
            0 => Status::Applied,
            1 => Status::Frozen,
            2 => Status::BadArgument,
            3 => Status::UnknownOp,
            4 => Status::Unsupported,
            5 => Status::Damaged,
            _ => return None,
        })
    }
}

/// A control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// The operation.
    pub op: Op,
    /// Chosen by the host; the acknowledgement repeats it.
    pub seq: u16,
    /// Operation's argument.
    pub arg: u32,
}

/// Fletcher-16 over `b`: two running sums modulo 255.
fn fletcher16(b: &[u8]) -> u16 {
    let (mut s1, mut s2) = (0u16, 0u16);
    for &x in b {
        s1 = (s1 + x as u16) % 255;
        s2 = (s2 + s1) % 255;
    }
    s2 << 8 | s1
}

impl Message {
    /// The message's bytes.
    pub fn encode(&self) -> [u8; LEN] {
        let mut m = [0u8; LEN];
        m[..2].copy_from_slice(&MAGIC);
        m[2] = self.op.version();
        m[3] = self.op as u8;
        m[4..6].copy_from_slice(&self.seq.to_le_bytes());
        m[6..10].copy_from_slice(&self.arg.to_le_bytes());
        let c = fletcher16(&m[..10]);
        m[10..].copy_from_slice(&c.to_le_bytes());
        m
    }

    /// Reads a message; the error is the status to acknowledge it with, and the sequence
    /// number it carried (0 when damaged).
    pub fn parse(m: &[u8; LEN]) -> Result<Message, (Status, u16, u8)> {
        if m[..2] != MAGIC || fletcher16(&m[..10]).to_le_bytes() != [m[10], m[11]] {
            return Err((Status::Damaged, 0, 0));
        }
        let seq = u16::from_le_bytes([m[4], m[5]]);
        if !(MIN_VERSION..=VERSION).contains(&m[2]) {
            return Err((Status::Unsupported, seq, m[3]));
        }
        let op = Op::from_u8(m[3], m[2]).ok_or((Status::UnknownOp, seq, m[3]))?;
        Ok(Message { op, seq, arg: u32::from_le_bytes([m[6], m[7], m[8], m[9]]) })
    }
}

/// An acknowledgement as the marker's value carries it: bits 0..16 the sequence number,
/// 16..24 the operation, 24..32 the [`Status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The message's sequence number (0 for [`Status::Damaged`]).
    pub seq: u16,
    /// The message's operation byte (0 for [`Status::Damaged`]).
    pub op: u8,
    /// What the target did.
    pub status: Status,
}

impl Ack {
    /// The marker's value.
    pub fn value(&self) -> u32 {
        self.seq as u32 | (self.op as u32) << 16 | (self.status as u32) << 24
    }

    /// Reads a marker's value; `None` if it is not one this version writes.
    pub fn from_value(v: u64) -> Option<Ack> {
        if v >> 32 != 0 {
            return None;
        }
        let status = Status::from_u8((v >> 24) as u8)?;
        Some(Ack { seq: v as u16, op: (v >> 16) as u8, status })
    }
}

/// Carries out `msg` (or acknowledges why it cannot) and writes the acknowledgement: after
/// the `tickspan.recording` marker when arming, before it when disarming, so it lies inside
/// the recording interval either way.
pub fn apply(msg: Result<Message, (Status, u16, u8)>) -> Ack {
    let ack = |seq, op, status| Ack { seq, op, status };
    let a = match msg {
        Err((status, seq, op)) => ack(seq, op, status),
        Ok(m) if arming::frozen() => ack(m.seq, m.op as u8, Status::Frozen),
        Ok(m) => match (m.op, m.arg) {
            (Op::Arm, 0) => {
                arming::arm();
                ack(m.seq, m.op as u8, Status::Applied)
            }
            (Op::Disarm, 0) => {
                let a = ack(m.seq, m.op as u8, Status::Applied);
                arming::acknowledge(a.value());
                arming::disarm();
                return a;
            }
            (Op::TraceFor, t) if t > 0 => {
                arming::trace_for_ticks(t);
                ack(m.seq, m.op as u8, Status::Applied)
            }
            (Op::TraceForMs, ms) if ms > 0 && arming::trace_for_ms(ms) => {
                ack(m.seq, m.op as u8, Status::Applied)
            }
            _ => ack(m.seq, m.op as u8, Status::BadArgument),
        },
    };
    arming::acknowledge(a.value());
    a
}

/// Carries out the messages at the front of the `avail` bytes a host has sent (`byte(k)`: the
/// `k`-th), each [`apply`]ed and acknowledged, and returns how many bytes it consumed. Bytes
/// that are not a message are skipped up to the next possible start, acknowledged as
/// [`Status::Damaged`] once per stretch within a call; a possible start with fewer than
/// [`LEN`] bytes behind it is left for the next call. `consumed(n)` runs before each message is applied
/// (a reader hands the bytes back first).
pub fn receive(avail: usize, byte: impl Fn(usize) -> u8, mut consumed: impl FnMut(usize)) -> usize {
    let damaged = || apply(Err((Status::Damaged, 0, 0)));
    let (mut r, mut skipped) = (0, false);
    loop {
        let left = avail - r;
        if left == 0 || (byte(r) == MAGIC[0] && left < LEN) {
            break;
        }
        let mut m = [0u8; LEN];
        for (k, b) in m.iter_mut().enumerate() {
            *b = if k < left { byte(r + k) } else { 0 };
        }
        let msg = if left >= LEN { Message::parse(&m) } else { Err((Status::Damaged, 0, 0)) };
        if let Err((Status::Damaged, ..)) = msg {
            // Resynchronise on the next byte that can start a message.
            r += 1;
            skipped = true;
            continue;
        }
        r += LEN;
        consumed(r);
        if core::mem::take(&mut skipped) {
            damaged();
        }
        apply(msg);
    }
    if skipped {
        damaged();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_damage_is_told_apart_from_refusal() {
        let m = Message { op: Op::TraceFor, seq: 0xBEEF, arg: 1_000_000_000 };
        let b = m.encode();
        assert_eq!(&b[..4], b"TC\x01\x03");
        assert_eq!(Message::parse(&b), Ok(m));
        for i in 0..LEN {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert_eq!(Message::parse(&bad).map_err(|e| e.0), Err(Status::Damaged), "byte {i}");
        }
        let with = |version: u8, op: u8| {
            let mut m = b;
            (m[2], m[3]) = (version, op);
            let c = fletcher16(&m[..10]).to_le_bytes();
            m[10..].copy_from_slice(&c);
            Message::parse(&m)
        };
        assert_eq!(with(3, 3), Err((Status::Unsupported, 0xBEEF, 3)));
        // Ops of version 1 go as version 1 (older targets read them); version 2 reads both.
        assert_eq!(with(2, 3), Ok(m));
        let ms = Message { op: Op::TraceForMs, seq: 1, arg: 5000 };
        assert_eq!(ms.encode()[2], 2);
        assert_eq!(Message::parse(&ms.encode()), Ok(ms));
        assert_eq!(with(1, 4), Err((Status::UnknownOp, 0xBEEF, 4)), "op 4 is not in version 1");
        let mut op = b;
        op[3] = 9;
        let c = fletcher16(&op[..10]).to_le_bytes();
        op[10..].copy_from_slice(&c);
        assert_eq!(Message::parse(&op), Err((Status::UnknownOp, 0xBEEF, 9)));
        let a = Ack { seq: 7, op: 3, status: Status::BadArgument };
        assert_eq!(Ack::from_value(a.value().into()), Some(a));
        assert_eq!(Ack::from_value(6 << 24), None);
    }
}
