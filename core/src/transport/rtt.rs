//! RTT (Real-Time Transfer): the drain's stream in a RAM ring that a debugger reads while the
//! target runs, with no pin and no peripheral.
//!
//! ```no_run
//! let mut drain = tickspan::drain::Drain::global();
//! loop {
//!     // Idle loop: move whatever the channel has room for.
//!     tickspan::transport::rtt::drain(&mut drain);
//!     // … or sleep until the next interrupt
//!     # break;
//! }
//! ```
//!
//! # Layout and discovery
//! tickspan keeps its **own control block**, `_TICKSPAN_RTT`, laid out exactly like SEGGER's
//! (16-byte ID, up/down channel counts, channel descriptors `{name, buffer, size, write,
//! read, flags}`) with one up channel named `"tickspan"`, but with the ID `"TICKSPAN RTT"`:
//! - `defmt-rtt` (and `rtt-target`) own `_SEGGER_RTT` and cannot host a second writer's
//!   channel; a second block with the SEGGER ID would make tools that scan RAM for it (probe-rs
//!   without an ELF) fail with "multiple control blocks". With its own ID, defmt's tools keep
//!   finding exactly one block, and both work in one firmware.
//! - tickspan's host finds the block by its symbol in the ELF (`tickspan attach --elf`), or by
//!   scanning RAM for its ID; other SEGGER-layout readers that take an address and an ID find
//!   it too (OpenOCD: `rtt setup <addr of _TICKSPAN_RTT> 32 "TICKSPAN RTT"`).
//!
//! # Never blocks, loses nothing silently
//! [`drain`] moves only as many bytes as the channel has room for; the drain keeps a frame it
//! could not finish for the next call. While no host reads, the channel stays full, the drain
//! leaves records in the rings, and the rings refuse new ones and count them (drop-newest):
//! the loss reaches the host as loss entries in the stream once it reads again. The buffer is
//! `TICKSPAN_RTT_BUFFER_SIZE` bytes (build-time environment variable, default 1024).
//!
//! Call [`drain`] from one context at a time (the idle loop, or one interrupt priority): the
//! channel has one writer, like a ring.

use crate::drain::Drain;
use crate::sync::publish;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

/// The channel's buffer size in bytes (`TICKSPAN_RTT_BUFFER_SIZE`, default 1024).
pub const BUFFER_SIZE: usize = match option_env!("TICKSPAN_RTT_BUFFER_SIZE") {
    Some(s) => parse(s),
    None => 1024,
};

const fn parse(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut i, mut v) = (0, 0usize);
    while i < b.len() {
        assert!(
            b[i].is_ascii_digit(),
            "TICKSPAN_RTT_BUFFER_SIZE must be a decimal number"
        );
        v = v * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    assert!(
        v >= 16 && v <= 1 << 24,
        "TICKSPAN_RTT_BUFFER_SIZE must be 16..=16777216"
    );
    v
}

/// The control block's ID. Not `"SEGGER RTT"`: see the module docs.
pub const ID: [u8; 16] = *b"TICKSPAN RTT\0\0\0\0";
/// The up channel's name.
pub const CHANNEL_NAME: &str = "tickspan";
/// SEGGER's mode 1, "no block, trim": write what fits (the drain keeps the rest).
const MODE_NO_BLOCK_TRIM: u32 = 1;

/// A channel descriptor, SEGGER's `SEGGER_RTT_BUFFER_UP`/`_DOWN` on a 32-bit target.
#[repr(C)]
struct Channel {
    name: *const u8,
    buffer: *mut u8,
    size: u32,
    /// Next byte the producer writes (up: the target, down: the host); only it stores it.
    write: AtomicU32,
    /// Next byte the consumer reads (up: the host, down: the target); only it stores it.
    read: AtomicU32,
    flags: u32,
}

/// SEGGER's `SEGGER_RTT_CB` with one up channel and, with feature `rtt-control`, one down
/// channel (`"tickspan-control"`, [`crate::control`] messages).
#[repr(C)]
struct ControlBlock {
    id: [u8; 16],
    max_up: i32,
    max_down: i32,
    up: Channel,
    #[cfg(feature = "rtt-control")]
    down: Channel,
}

// SAFETY: the raw pointers are fixed at build time and point at statics; the offsets are
// atomics; the buffer bytes are only written by the single writer of `drain` in the region
// the host does not read (down: only by the host, in the region the target does not read).
unsafe impl Sync for ControlBlock {}

#[repr(C, align(4))]
struct Buffer<const L: usize>(UnsafeCell<[u8; L]>);

// SAFETY: see `drain`: one writer, and the host reads only what the writer has published.
unsafe impl<const L: usize> Sync for Buffer<L> {}

static BUFFER: Buffer<BUFFER_SIZE> = Buffer(UnsafeCell::new([0; BUFFER_SIZE]));
static NAME: [u8; 9] = *b"tickspan\0";

/// The down channel's name.
#[cfg(feature = "rtt-control")]
pub const CONTROL_CHANNEL_NAME: &str = "tickspan-control";
/// The down channel's buffer: two messages (one byte stays free).
#[cfg(feature = "rtt-control")]
const DOWN_SIZE: usize = 2 * crate::control::LEN + 4;
#[cfg(feature = "rtt-control")]
static DOWN: Buffer<DOWN_SIZE> = Buffer(UnsafeCell::new([0; DOWN_SIZE]));
#[cfg(feature = "rtt-control")]
static DOWN_NAME: [u8; 17] = *b"tickspan-control\0";

/// The control block. Initialised data: valid from reset, nothing to call first.
#[export_name = "_TICKSPAN_RTT"]
static CONTROL_BLOCK: ControlBlock = ControlBlock {
    id: ID,
    max_up: 1,
    max_down: cfg!(feature = "rtt-control") as i32,
    up: Channel {
        name: NAME.as_ptr(),
        buffer: &BUFFER as *const Buffer<BUFFER_SIZE> as *mut u8,
        size: BUFFER_SIZE as u32,
        write: AtomicU32::new(0),
        read: AtomicU32::new(0),
        flags: MODE_NO_BLOCK_TRIM,
    },
    #[cfg(feature = "rtt-control")]
    down: Channel {
        name: DOWN_NAME.as_ptr(),
        buffer: &DOWN as *const Buffer<DOWN_SIZE> as *mut u8,
        size: DOWN_SIZE as u32,
        write: AtomicU32::new(0),
        read: AtomicU32::new(0),
        flags: MODE_NO_BLOCK_TRIM,
    },
};

/// Carries out the control messages the host has put into the down channel (feature
/// `rtt-control`), each acknowledged in the stream ([`crate::control::apply`]). [`drain`] calls
/// it first; with nothing pending it is two loads and a branch. Call it from the context that
/// drains.
#[cfg(feature = "rtt-control")]
#[inline(always)]
pub fn poll_control() {
    let down = &CONTROL_BLOCK.down;
    let w = down.write.load(Ordering::Acquire);
    if w != down.read.load(Ordering::Relaxed) {
        control_pending(w);
    }
}

#[cfg(feature = "rtt-control")]
#[cold]
#[inline(never)]
fn control_pending(w: u32) {
    use crate::control::{apply, receive, Status};
    let down = &CONTROL_BLOCK.down;
    let size = DOWN_SIZE as u32;
    let r = down.read.load(Ordering::Relaxed);
    if w >= size || r >= size {
        // A confused host: drop what is there, say so.
        publish(&down.read, if w < size { w } else { 0 });
        apply(Err((Status::Damaged, 0, 0)));
        return;
    }
    let at = |k: usize| (r + k as u32) % size;
    let byte = |k: usize| {
        // SAFETY: `at` reduces the offset modulo `size`; the host writes only the region from
        // `write` on, and these bytes (fewer than `(w - r) % size` from `r`) are below the
        // `write` it published.
        unsafe { (DOWN.0.get() as *const u8).add(at(k) as usize).read_volatile() }
    };
    let used = receive(((w + size - r) % size) as usize, byte, |n| publish(&down.read, at(n)));
    publish(&down.read, at(used));
}

/// What one [`drain`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Bytes moved into the channel.
    pub bytes: usize,
    /// Every ring was emptied; `false` when the channel filled up first (no host reading, or
    /// one slower than the recorders).
    pub complete: bool,
}

/// Moves the drain's stream into the channel until the channel is full or every ring is
/// empty. Never waits. With feature `rtt-control`, first carries out the host's control
/// messages ([`poll_control`]).
pub fn drain<const N: usize, const O: bool, const R: usize>(drain: &mut Drain<'_, N, O, R>) -> Drained {
    #[cfg(feature = "rtt-control")]
    poll_control();
    let up = &CONTROL_BLOCK.up;
    let size = BUFFER_SIZE as u32;
    let mut bytes = 0;
    loop {
        let mut w = up.write.load(Ordering::Relaxed);
        // The host owns `read`; a value out of range (a confused host) stops the writer
        // rather than writing out of bounds.
        let r = up.read.load(Ordering::Acquire);
        if r >= size {
            return Drained {
                bytes,
                complete: false,
            };
        }
        if w >= size {
            w = r;
        }
        // One byte stays free so that full and empty differ.
        let end = if r > w {
            r - 1
        } else if r == 0 {
            size - 1
        } else {
            size
        };
        if end <= w {
            return Drained {
                bytes,
                complete: false,
            };
        }
        // SAFETY: `w < end <= size`, so the range lies in BUFFER; the host only reads
        // `[read, write)`, which this range does not overlap, and this function is the only
        // writer (documented), so nothing else accesses these bytes while the slice lives.
        let free = unsafe {
            core::slice::from_raw_parts_mut(
                (BUFFER.0.get() as *mut u8).add(w as usize),
                (end - w) as usize,
            )
        };
        let n = drain.read(free);
        bytes += n;
        let next = w + n as u32;
        // Release: the host that sees the new offset sees the bytes before it.
        publish(&up.write, if next == size { 0 } else { next });
        if n < free.len() {
            return Drained {
                bytes,
                complete: true,
            };
        }
    }
}

#[cfg(all(test, feature = "std", feature = "decode"))]
mod tests {
    use super::*;
    use crate::record::{Kind, Record};
    use crate::ring::Ring;

    /// Reads the channel like a host: returns the bytes and advances `read`.
    fn host_read() -> Vec<u8> {
        let up = &CONTROL_BLOCK.up;
        let (w, r) = (
            up.write.load(Ordering::Acquire),
            up.read.load(Ordering::Relaxed),
        );
        // SAFETY: the test thread is the only writer and is not writing now.
        let buf = unsafe { &*BUFFER.0.get() };
        let out = if w >= r {
            buf[r as usize..w as usize].to_vec()
        } else {
            [&buf[r as usize..], &buf[..w as usize]].concat()
        };
        up.read.store(w, Ordering::Release);
        out
    }

    #[test]
    fn fills_without_overrunning_the_host_and_resumes_the_stream_after_a_read() {
        // The control block is laid out as SEGGER's on this target's pointer size.
        assert_eq!(core::mem::offset_of!(ControlBlock, up), 24);
        assert_eq!(CONTROL_BLOCK.up.size as usize, BUFFER_SIZE);
        let rings = [Ring::<1024>::new()];
        let info = crate::drain::StreamInfo {
            clock_hz: 0,
            clock_wrap: 0,
            node: 0,
            target: "t",
            name: "",
            now: || 0,
            unix_ns: || 0,
        };
        let mut d = Drain::new(&rings, info);
        for i in 0..1000 {
            rings[0].push(Record::new(Kind::Event, 0x40, i, i, 0));
        }
        // No host: the channel fills to size - 1 and stops; nothing is dropped by the channel.
        assert_eq!(
            drain(&mut d),
            Drained {
                bytes: BUFFER_SIZE - 1,
                complete: false
            }
        );
        assert_eq!(
            drain(&mut d),
            Drained {
                bytes: 0,
                complete: false
            }
        );
        let mut stream = host_read();
        loop {
            let done = drain(&mut d).complete;
            stream.extend(host_read());
            if done {
                break;
            }
        }
        let mut dec = crate::wire::Decoder::new();
        let mut events = 0;
        dec.feed(&stream, &mut |item| {
            if matches!(
                item,
                crate::wire::Item::Record {
                    kind: Kind::Event,
                    ..
                }
            ) {
                events += 1;
            }
            assert!(
                !matches!(item, crate::wire::Item::Skipped { .. }),
                "{item:?}"
            );
        })
        .unwrap();
        assert_eq!(events, 1000);
    }
}
