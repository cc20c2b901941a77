//! Control messages over RTT (std build of the bare-metal transport): this test plays the
//! host, writing messages into the down channel of `_TICKSPAN_RTT` found by its symbol and
//! reading the up channel, as a debugger does through target memory. Every message is
//! acknowledged in the stream (applied, refused, damaged, frozen), the recording markers bound
//! the interval, and the `trace for` deadline ends it. One test: the flag is global.
#![cfg(all(feature = "std", feature = "decode", feature = "rtt-control", not(feature = "disabled")))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use tickspan::control::{Ack, Message, Op, Status, ACK_MARKER};
use tickspan::drain::Drain;
use tickspan::transport::rtt;
use tickspan::wire::{Decoder, Item};

/// SEGGER's channel descriptor on this host: name and buffer pointers, then size, write,
/// read and flags words.
#[repr(C)]
struct Chan([*mut u8; 2], [AtomicU32; 4]);

impl Chan {
    fn buffer(&self) -> *mut u8 {
        self.0[1]
    }
    fn size(&self) -> u32 {
        self.1[0].load(Ordering::Relaxed)
    }
    fn write(&self) -> &AtomicU32 {
        &self.1[1]
    }
    fn read(&self) -> &AtomicU32 {
        &self.1[2]
    }
}

#[repr(C)]
struct Cb {
    id: [u8; 16],
    max_up: i32,
    max_down: i32,
    up: Chan,
    down: Chan,
}

extern "C" {
    #[link_name = "_TICKSPAN_RTT"]
    static CONTROL_BLOCK: Cb;
}

fn cb() -> &'static Cb {
    // SAFETY: `_TICKSPAN_RTT` is the transport's control block, laid out as `Cb` with feature
    // `rtt-control` (the test checks the counts and names first).
    unsafe { &*std::ptr::addr_of!(CONTROL_BLOCK) }
}

fn name(c: &Chan) -> String {
    // SAFETY: descriptor names point at NUL-terminated statics.
    unsafe { std::ffi::CStr::from_ptr(c.0[0] as *const std::ffi::c_char) }.to_string_lossy().into_owned()
}

/// Writes `bytes` into the down channel as a host does: the bytes, then the write offset.
fn send(bytes: &[u8]) {
    let d = &cb().down;
    let mut w = d.write().load(Ordering::Relaxed);
    for &b in bytes {
        // SAFETY: `w < size`; the target reads only below the published write offset.
        unsafe { d.buffer().add(w as usize).write_volatile(b) };
        w = (w + 1) % d.size();
    }
    d.write().store(w, Ordering::Release);
}

/// Reads what the up channel holds, handing the space back.
fn receive() -> Vec<u8> {
    let u = &cb().up;
    let (w, r) = (u.write().load(Ordering::Acquire), u.read().load(Ordering::Relaxed));
    let mut out = Vec::new();
    let mut i = r;
    while i != w {
        // SAFETY: `[read, write)` is published by the target and `i < size`.
        out.push(unsafe { u.buffer().add(i as usize).read_volatile() });
        i = (i + 1) % u.size();
    }
    u.read().store(w, Ordering::Release);
    out
}

#[derive(Default)]
struct Seen {
    names: HashMap<u32, String>,
    /// (name, value) of the markers and acknowledgements, and other records by name.
    records: Vec<(String, u64)>,
}

fn pump(drain: &mut Drain<'static>, dec: &mut Decoder, seen: &mut Seen) {
    loop {
        let d = rtt::drain(drain);
        let bytes = receive();
        dec.feed(&bytes, &mut |item| match item {
            Item::Callsite(c) => {
                seen.names.insert(c.id, c.name.to_owned());
            }
            Item::Record { kind, callsite, a, b, .. } if kind != tickspan::Kind::Sync => {
                let n = seen.names.get(&callsite).cloned().unwrap_or_default();
                seen.records.push((n, u64::from(a) | u64::from(b) << 32));
            }
            _ => {}
        })
        .unwrap();
        if d.complete {
            return;
        }
    }
}

fn acks(seen: &Seen) -> Vec<Ack> {
    seen.records.iter().filter(|r| r.0 == ACK_MARKER).map(|r| Ack::from_value(r.1).unwrap()).collect()
}

fn msg(op: Op, seq: u16, arg: u32) -> [u8; tickspan::control::LEN] {
    Message { op, seq, arg }.encode()
}

#[test]
fn host_messages_arm_disarm_and_trace_for_and_each_is_acknowledged() {
    let c = cb();
    assert_eq!((c.max_up, c.max_down), (1, 1));
    assert_eq!((name(&c.up), name(&c.down)), ("tickspan".into(), rtt::CONTROL_CHANNEL_NAME.into()));
    let mut drain = Drain::global();
    let (mut dec, mut seen) = (Decoder::new(), Seen::default());
    tickspan::disarm();
    tickspan::event!("disarmed_event");
    pump(&mut drain, &mut dec, &mut seen);

    // trace for a long time: acknowledged after the recording marker, armed from then on.
    send(&msg(Op::TraceFor, 41, u32::MAX));
    pump(&mut drain, &mut dec, &mut seen);
    assert!(tickspan::armed());
    tickspan::event!("armed_event");
    // disarm: acknowledged before the pause marker, in the interval.
    send(&msg(Op::Disarm, 42, 0));
    pump(&mut drain, &mut dec, &mut seen);
    assert!(!tickspan::armed());
    // Refused and damaged messages are acknowledged too, disarmed as it is; garbage before a
    // message is skipped and the message behind it still applies.
    send(&msg(Op::TraceFor, 43, 0));
    send(b"xyz");
    send(&msg(Op::Arm, 44, 0));
    pump(&mut drain, &mut dec, &mut seen);
    assert!(tickspan::armed());
    tickspan::freeze();
    send(&msg(Op::Arm, 45, 0));
    pump(&mut drain, &mut dec, &mut seen);
    assert!(!tickspan::armed(), "frozen stays frozen");

    let marker = tickspan::arming::MARKER;
    let shape: Vec<String> = seen
        .records
        .iter()
        .map(|(n, v)| match n.as_str() {
            ACK_MARKER => {
                let a = Ack::from_value(*v).unwrap();
                format!("ack {} {:?}", a.seq, a.status)
            }
            n if n == marker => format!("recording {v}"),
            n => n.to_string(),
        })
        .collect();
    assert_eq!(
        shape,
        [
            "recording 0",
            "recording 1",
            "ack 41 Applied",
            "armed_event",
            "ack 42 Applied",
            "recording 0",
            "ack 43 BadArgument",
            "ack 0 Damaged",
            "recording 1",
            "ack 44 Applied",
            "recording 2",
            "ack 45 Frozen",
        ]
    );
    assert_eq!(acks(&seen)[0].op, Op::TraceFor as u8);
    assert_eq!(Status::Applied as u8, 0);
}
