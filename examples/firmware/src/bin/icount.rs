//! Instructions per tickspan record on a Cortex-M3, counted under QEMU.
//!
//! Method (see `README.md`): the system clock runs undivided (5 ns per SysTick tick) and QEMU
//! runs with `-icount shift=3` (8 ns per instruction), so instructions = ticks × 5 / 8, the
//! same on every run. Each case runs `N` times in a loop; an empty loop of the same shape is
//! subtracted. "inline" is the macro at the call site (timestamp read included); "out of line"
//! calls an `#[inline(never)]` wrapper (call, return and frame included). Last, the drain's
//! cost per record, encoding alone and with the bytes written to UART0, then the raw drain's
//! (`RawDrain`) the same two ways. Between them, the trace context: a span linked to a remote
//! or local parent, and the 25-byte binary form.
//!
//! Run: `./icount.sh` (or `cargo run --release --bin icount`).
#![no_std]
#![no_main]

use core::hint::black_box;
use core::sync::atomic::{compiler_fence, Ordering};
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use tickspan::context::RINGS;
use tickspan::drain::{Drain, RawDrain};
use tickspan::trace_context::{self as tc, TraceContext, TraceFlags};
use tickspan::{Record, SpanGuard};
use tickspan_firmware as board;

/// Iterations per case; below the ring capacity so that every record of a case is accepted.
const N: u32 = 64;

/// Iterations per case of a linked span (up to 6 records each): under the ring's capacity too.
const N_LINKED: u32 = 32;

/// SysTick ticks taken by `N` (or `$n`) runs of `$body` (the loop itself included).
macro_rules! ticks_for {
    (n = $n:expr; $body:block) => {
        ticks_for!(n = $n; _i => $body)
    };
    (n = $n:expr; $i:ident => $body:block) => {{
        empty_rings();
        let t0 = board::ticks();
        let mut $i = 0u32;
        while $i < $n {
            $body;
            // Keeps every iteration's records and the loop shape alike across cases.
            compiler_fence(Ordering::SeqCst);
            $i = black_box($i) + 1;
        }
        let t1 = board::ticks();
        t1.wrapping_sub(t0) & 0x00FF_FFFF
    }};
    ($body:block) => {
        ticks_for!(n = N; _i => $body)
    };
    ($i:ident => $body:block) => {
        ticks_for!(n = N; $i => $body)
    };
}

/// Reads every ring empty so that the next case starts with room for all its records.
fn empty_rings() {
    let mut buf = [Record::default(); 32];
    for ring in RINGS.iter() {
        while ring.read(&mut buf).records > 0 {}
    }
}

/// Records put in the ring for one drain measurement (under the ring's capacity).
const DRAINED: u32 = 200;

/// Fills ring 0 with `DRAINED` records: spans with an event and a value inside.
fn fill_for_drain() {
    for i in 0..DRAINED / 4 {
        let _g = tickspan::span!("drained_span");
        tickspan::event!("drained_event");
        tickspan::value!("drained_value", i);
    }
}

/// SysTick ticks `drain` takes to send `DRAINED` fresh records ([`fill_for_drain`]).
fn drain_ticks(mut drain: impl FnMut() -> bool) -> u32 {
    fill_for_drain();
    let t0 = board::ticks();
    black_box(drain());
    board::ticks().wrapping_sub(t0) & 0x00FF_FFFF
}

/// An `embedded_io::Write` that counts and discards what it is given.
struct Discard(usize);

impl embedded_io::ErrorType for Discard {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0 += black_box(buf).len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Out of line the guard must be nameable: the `SpanGuard` API instead of `span!`'s own type.
static OOL_SPAN: tickspan::Callsite = tickspan::Callsite::new(
    "ool_span",
    file!(),
    line!(),
    tickspan::Level::Info,
    tickspan::CallsiteKind::Span,
);

#[inline(never)]
fn ool_enter() -> SpanGuard {
    SpanGuard::enter(&OOL_SPAN)
}

#[inline(never)]
fn ool_exit(g: SpanGuard) {
    drop(g)
}

#[inline(never)]
fn ool_event() {
    tickspan::event!("ool_event")
}

#[inline(never)]
fn ool_value(v: u32) {
    tickspan::value!("ool_value", v)
}

#[inline(never)]
fn ool_format(i: u32) {
    tickspan::event!(Info, "retry {} of {}", i, black_box(5u32))
}

#[inline(never)]
fn ool_event_f1(i: u32) {
    tickspan::event!("ool_f1", id = i)
}

#[inline(never)]
fn ool_event_f3(i: u32) {
    tickspan::event!("ool_f3", id = i, ok = i & 1 == 0, mode = tickspan::intern!("fast"))
}

#[inline(never)]
fn ool_link_remote(parent: &TraceContext) -> TraceContext {
    tc::link_remote(parent)
}

#[inline(never)]
fn ool_link_child(cx: &TraceContext) -> TraceContext {
    tc::link_child(cx)
}

/// Instructions per iteration × 100 of `n` iterations, relative to the empty loop of as many.
fn per_op_x100(ticks: u32, empty: u32, n: u32) -> i32 {
    // instructions = ticks × 5 / 8
    ((ticks as i64 - empty as i64) * 5 * 100 / (8 * n as i64)) as i32
}

fn show(name: &str, inline: Option<i32>, ool: Option<i32>) {
    struct Cell(Option<i32>);
    impl core::fmt::Display for Cell {
        fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
            match self.0 {
                Some(v) => write!(f, "{:>10}.{:02}", v / 100, (v % 100).abs()),
                None => write!(f, "{:>13}", "-"),
            }
        }
    }
    hprintln!("{:<34}{}{}", name, Cell(inline), Cell(ool));
}

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::full_speed();
    board::start_systick(&mut cp.SYST, 0x00FF_FFFF, false);

    let empty = ticks_for!({});
    let event = ticks_for!({ tickspan::event!("event") });
    let value = ticks_for!(i => { tickspan::value!("value", i) });
    let enter = ticks_for!({ core::mem::forget(tickspan::span!("enter")) });
    let pair = ticks_for!({
        let _g = tickspan::span!("pair");
    });
    let isr_pair = ticks_for!({
        let _isr = tickspan::isr!("isr");
    });
    let ool_ev = ticks_for!({ ool_event() });
    let ool_val = ticks_for!(i => { ool_value(i) });
    let ool_en = ticks_for!({ core::mem::forget(ool_enter()) });
    let ool_pair = ticks_for!({ ool_exit(ool_enter()) });

    // Distributed tracing: what a device does with a command carrying a caller's context.
    tc::seed(0x7469_636b_0000_0002);
    let wire = TraceContext::new(
        0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
        0x00f0_67aa_0ba9_02b7,
        TraceFlags::new(1),
    )
    .expect("non-zero ids")
    .to_bytes();
    let parent = TraceContext::from_bytes(&wire).expect("its own binary form");
    let empty_linked = ticks_for!(n = N_LINKED; {});
    let remote = ticks_for!(n = N_LINKED; {
        let _g = tickspan::span!("remote");
        black_box(tc::link_remote(black_box(&parent)));
    });
    let child = ticks_for!(n = N_LINKED; {
        let _g = tickspan::span!("child");
        black_box(tc::link_child(black_box(&parent)));
    });
    let ool_remote = ticks_for!(n = N_LINKED; {
        let _g = tickspan::span!("remote");
        black_box(ool_link_remote(black_box(&parent)));
    });
    let ool_child = ticks_for!(n = N_LINKED; {
        let _g = tickspan::span!("child");
        black_box(ool_link_child(black_box(&parent)));
    });
    let from_bytes = ticks_for!(n = N_LINKED; {
        let _ = black_box(TraceContext::from_bytes(black_box(&wire)));
    });
    let to_bytes = ticks_for!(n = N_LINKED; {
        black_box(black_box(&parent).to_bytes());
    });
    // A formatted event with two arguments (3 records), as `defmt` would log it.
    let fmt2 = ticks_for!(n = N_LINKED; i => {
        tickspan::event!(Info, "retry {} of {}", i, black_box(5u32))
    });
    let ool_fmt2 = ticks_for!(n = N_LINKED; i => { ool_format(i) });
    // Fields (one record each after the event's or the span enter's): a u32; a u32, a bool and
    // an interned string. The event without fields is measured the same way, as the base.
    let ev_f0 = ticks_for!(n = N_LINKED; { tickspan::event!("f0") });
    let ev_f1 = ticks_for!(n = N_LINKED; i => { tickspan::event!("f1", id = i) });
    let ev_f3 = ticks_for!(n = N_LINKED; i => {
        tickspan::event!("f3", id = i, ok = i & 1 == 0, mode = tickspan::intern!("fast"))
    });
    let ool_ev_f1 = ticks_for!(n = N_LINKED; i => { ool_event_f1(i) });
    let ool_ev_f3 = ticks_for!(n = N_LINKED; i => { ool_event_f3(i) });
    let span_f0 = ticks_for!(n = N_LINKED; {
        let _g = tickspan::span!("s0");
    });
    let span_f3 = ticks_for!(n = N_LINKED; i => {
        let _g = tickspan::span!("s3", id = i, ok = i & 1 == 0, mode = tickspan::intern!("fast"));
    });

    // Drop-newest with a full ring: the record is refused and counted.
    let full = {
        let mut buf = [Record::default(); 32];
        while RINGS[0].read(&mut buf).records > 0 {}
        for _ in 0..RINGS[0].capacity() {
            tickspan::event!("fill");
        }
        let t0 = board::ticks();
        let mut i = 0u32;
        while i < N {
            tickspan::event!("lost");
            compiler_fence(Ordering::SeqCst);
            i = black_box(i) + 1;
        }
        let t1 = board::ticks();
        t1.wrapping_sub(t0) & 0x00FF_FFFF
    };

    // Disarmed (`tickspan::disarm`): the ring cache is empty, so each trace point takes the
    // branch to its ring lookup, reads the flag there and writes nothing.
    tickspan::disarm();
    let written = RINGS[0].written();
    let off_event = ticks_for!({ tickspan::event!("off_event") });
    let off_value = ticks_for!(i => { tickspan::value!("off_value", i) });
    let off_pair = ticks_for!({
        let _g = tickspan::span!("off_pair");
    });
    let off_ool_ev = ticks_for!({ ool_event() });
    let off_ool_pair = ticks_for!({ ool_exit(ool_enter()) });
    assert_eq!(RINGS[0].written(), written, "disarmed trace points wrote records");
    tickspan::arm();

    // The RTT control poll (`FEATURES=control`): what every `rtt::drain` call adds while the
    // host sends nothing (the down channel's two offsets compared).
    #[cfg(feature = "control")]
    let control_poll = ticks_for!({ tickspan::transport::rtt::poll_control() });

    // The drain: header and clock anchor first (not counted), then `DRAINED` records of a
    // typical mix, encoded into a sink that discards them and then into UART0.
    let mut drain = Drain::global();
    let _ = drain.write_to(&mut Discard(0));
    let mut sink = Discard(0);
    let drain_encode = drain_ticks(|| drain.write_to(&mut sink).is_ok());
    let drain_uart = drain_ticks(|| drain.write_to(&mut board::Uart0).is_ok());
    // The raw drain (slots as they are, `RawDrain`), the same way.
    let mut raw = RawDrain::global();
    let mut raw_sink = Discard(0);
    let raw_encode = drain_ticks(|| raw.write_to(&mut raw_sink).is_ok());
    let raw_uart = drain_ticks(|| raw.write_to(&mut board::Uart0).is_ok());
    // Bytes on the wire per formatted event: `N_LINKED` of them in one drain call.
    empty_rings();
    let mut fmt_sink = Discard(0);
    let _ = drain.write_to(&mut fmt_sink);
    fmt_sink.0 = 0;
    for i in 0..N_LINKED {
        tickspan::event!(Info, "retry {} of {}", i, 5u32);
    }
    let _ = drain.write_to(&mut fmt_sink);
    // Bytes on the wire per event with three fields, the same way.
    empty_rings();
    let mut f3_sink = Discard(0);
    let _ = drain.write_to(&mut f3_sink);
    f3_sink.0 = 0;
    for i in 0..N_LINKED {
        tickspan::event!("f3", id = i, ok = i & 1 == 0, mode = tickspan::intern!("fast"));
    }
    let _ = drain.write_to(&mut f3_sink);

    let d = |t| per_op_x100(t, empty, N);
    let dl = |t| per_op_x100(t, empty_linked, N_LINKED);
    hprintln!("tickspan instructions per record, Cortex-M3 (QEMU lm3s6965evb, -icount shift=3)");
    hprintln!("{:<34}{:>13}{:>13}", "record", "inline", "out-of-line");
    show("span enter", Some(d(enter)), Some(d(ool_en)));
    show(
        "span exit",
        Some(d(pair) - d(enter)),
        Some(d(ool_pair) - d(ool_en)),
    );
    show("span enter+exit", Some(d(pair)), Some(d(ool_pair)));
    show("event", Some(d(event)), Some(d(ool_ev)));
    show("value (u32)", Some(d(value)), Some(d(ool_val)));
    show("isr enter+exit", Some(d(isr_pair)), None);
    show("event, ring full (counted loss)", Some(d(full)), None);
    show("disarmed: event", Some(d(off_event)), Some(d(off_ool_ev)));
    show("disarmed: value (u32)", Some(d(off_value)), None);
    show("disarmed: span enter+exit", Some(d(off_pair)), Some(d(off_ool_pair)));
    // Inline, the code around the call changes what the compiler makes of it (tens of
    // instructions from one build to the next); out of line, the call is a function's.
    // Both columns add the link to an inline span enter+exit, subtracted below.
    for (link, records, inline, ool) in [
        ("link_remote", 4, remote, ool_remote),
        ("link_child", 2, child, ool_child),
    ] {
        hprintln!("span enter+exit + {}", link);
        show("  total", Some(dl(inline)), Some(dl(ool)));
        show(
            "  the link",
            Some(dl(inline) - d(pair)),
            Some(dl(ool) - d(pair)),
        );
        hprintln!("  ({} link records and a span id)", records);
    }
    #[cfg(feature = "control")]
    show("rtt control poll, nothing sent", Some(d(control_poll)), None);
    show("event \"retry {} of {}\", 2 u32 args", Some(dl(fmt2)), Some(dl(ool_fmt2)));
    show("event, no field (same loop)", Some(dl(ev_f0)), None);
    show("event + 1 field (u32)", Some(dl(ev_f1)), Some(dl(ool_ev_f1)));
    show("event + 3 fields (u32, bool, str)", Some(dl(ev_f3)), Some(dl(ool_ev_f3)));
    show("  per field (3 fields - none) / 3", Some((dl(ev_f3) - dl(ev_f0)) / 3), None);
    show("span enter+exit, no field", Some(dl(span_f0)), None);
    show("span enter+exit + 3 fields", Some(dl(span_f3)), None);
    show("  per field (3 fields - none) / 3", Some((dl(span_f3) - dl(span_f0)) / 3), None);
    show("context from_bytes (25 B)", Some(dl(from_bytes)), None);
    show("context to_bytes (25 B)", Some(dl(to_bytes)), None);
    hprintln!("empty loop: {} ticks for {} iterations", empty, N);
    let per_record = |t: u32| t as u64 * 5 * 100 / (8 * DRAINED as u64);
    let show_drain = |what: &str, x100: u64| {
        hprintln!("{:<34}{:>10}.{:02}", what, x100 / 100, x100 % 100);
    };
    hprintln!(
        "drain, per record ({} records: span enter/exit, event, value)",
        DRAINED
    );
    show_drain("  encode (COBS, CRC-32C frames)", per_record(drain_encode));
    show_drain("  encode + write to UART0", per_record(drain_uart));
    show_drain("  bytes on the wire", sink.0 as u64 * 100 / DRAINED as u64);
    show_drain(
        "  formatted event, 2 args: bytes",
        fmt_sink.0 as u64 * 100 / N_LINKED as u64,
    );
    show_drain("  event + 3 fields: bytes", f3_sink.0 as u64 * 100 / N_LINKED as u64);
    hprintln!("raw drain, per record ({} records, the same mix)", DRAINED);
    show_drain("  raw frames (Fletcher sum)", per_record(raw_encode));
    show_drain("  raw frames + write to UART0", per_record(raw_uart));
    show_drain("  bytes on the wire", raw_sink.0 as u64 * 100 / DRAINED as u64);
    hprintln!(
        "Drain state (on the caller's stack): {} bytes; RawDrain: {} bytes",
        core::mem::size_of::<Drain<'static>>(),
        core::mem::size_of::<RawDrain<'static>>()
    );
    board::exit(true)
}
