//! Arming and disarming the record path at run time, for traces of chosen intervals.
//!
//! While disarmed a trace point costs one load and a branch and writes nothing: nothing is
//! lost either, so nothing is counted. Each change writes a marker record, a `ValueU` of the
//! callsite `tickspan.recording` ([`MARKER`]) whose value is [`RECORDING`], [`PAUSED`] or
//! [`FROZEN`], so the host tells "not recording" from loss and says how many intervals the
//! trace covers. Spans entered while armed still write their exit when it comes after a
//! disarm (guards remember whether their enter was written), so every recorded span closes;
//! a manual span ([`Span`](crate::Span)) that ends while disarmed shows as unfinished.
//!
//! Armed is the default. [`freeze`] is the post-mortem trigger: a disarm that nothing but a
//! reset undoes, so an overwriting (flight-recorder) ring keeps the records that led to it.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

/// The marker's callsite name.
pub const MARKER: &str = "tickspan.recording";
/// Marker value: recording (re)starts here.
pub const RECORDING: u64 = 1;
/// Marker value: recording stops here ([`disarm`], or a [`trace_for_ticks`] (std: `trace_for`) deadline).
pub const PAUSED: u64 = 0;
/// Marker value: recording stops here for good ([`freeze`]).
pub const FROZEN: u64 = 2;

/// The flag every trace point reads. Exported so that `tickspan postmortem` can say whether a
/// halted target's rings were frozen or still recording.
#[cfg(not(loom))]
#[export_name = "_TICKSPAN_ARMED"]
static ARMED: AtomicBool = AtomicBool::new(true);
#[cfg(loom)]
static ARMED: AtomicBool = AtomicBool::new(true);

/// Set by [`freeze`]; exported for `tickspan postmortem`.
#[cfg_attr(not(loom), export_name = "_TICKSPAN_FROZEN")]
static FROZEN_FLAG: AtomicBool = AtomicBool::new(false);

/// Bumped by every [`arm`], [`disarm`] and [`trace_for_ticks`] (std: `trace_for`): a drain's deadline belongs to one.
static REQUEST: AtomicU32 = AtomicU32::new(0);
/// The recording length [`trace_for_ticks`] (std: `trace_for`) asked for, in clock ticks (0: no deadline).
#[cfg(feature = "std")]
static REQUEST_TICKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
#[cfg(not(feature = "std"))]
static REQUEST_TICKS: AtomicU32 = AtomicU32::new(0);

/// Whether trace points record now.
#[inline(always)]
pub fn armed() -> bool {
    ARMED.load(Relaxed)
}

/// Whether [`freeze`] was called.
pub fn frozen() -> bool {
    FROZEN_FLAG.load(Relaxed)
}

/// Starts recording (again) and cancels a [`trace_for_ticks`] (std: `trace_for`) deadline. Does nothing once frozen.
pub fn arm() {
    request(0);
    set(true, RECORDING);
}

/// Stops recording until [`arm`]: trace points write nothing, and a marker says so.
pub fn disarm() {
    request(0);
    set(false, PAUSED);
}

/// Stops recording for good (until reset), e.g. from a fault or assert handler: the rings
/// keep the last records for `tickspan postmortem`. The marker goes into the calling
/// context's ring; HardFault and NMI have none, so there the trace just ends.
pub fn freeze() {
    transition(|| {
        if armed() {
            marker(FROZEN);
        }
        FROZEN_FLAG.store(true, Relaxed);
        ARMED.store(false, Relaxed);
        crate::context::disarmed();
    })
}

/// Arms for `ticks` of the active clock, after which a drain disarms (at its first call past
/// the deadline: a drain that runs every 10 ms ends the interval up to 10 ms late).
pub fn trace_for_ticks(ticks: u32) {
    request(ticks.into());
    set(true, RECORDING);
}

/// Arms for `ms` milliseconds of the active clock (the control message `TraceForMs`); `false`
/// (and nothing done) when the clock's rate is unknown or, without std, the length does not
/// fit the 32-bit deadline.
pub(crate) fn trace_for_ms(ms: u32) -> bool {
    use crate::clock::{Active, Clock};
    let ticks = u64::from(ms).checked_mul(<Active as Clock>::frequency_hz()).map(|t| t / 1000);
    #[cfg(not(feature = "std"))]
    let ticks = ticks.filter(|&t| t <= u64::from(u32::MAX));
    match ticks {
        Some(t) if t > 0 => {
            request(t);
            set(true, RECORDING);
            true
        }
        _ => false,
    }
}

/// Arms for `d`, after which the drain thread disarms (within its period, 10 ms by default).
#[cfg(feature = "std")]
pub fn trace_for(d: core::time::Duration) {
    use crate::clock::{Active, Clock};
    let ticks = (d.as_nanos() * u128::from(<Active as Clock>::frequency_hz()) / 1_000_000_000) as u64;
    request(ticks.max(1));
    set(true, RECORDING);
}

fn request(ticks: u64) {
    transition(|| {
        #[cfg(not(feature = "std"))]
        let ticks = ticks as u32;
        REQUEST_TICKS.store(ticks, Relaxed);
        REQUEST.store(REQUEST.load(Relaxed).wrapping_add(1), Relaxed);
    })
}

/// Arms or disarms; a change writes its marker: before the flag when disarming, after it
/// when arming, so the marker is written either way.
fn set(on: bool, value: u64) {
    transition(|| set_alone(on, value))
}

fn set_alone(on: bool, value: u64) {
    if frozen() || armed() == on {
        return;
    }
    if on {
        ARMED.store(true, Relaxed);
        marker(value);
    } else {
        marker(value);
        ARMED.store(false, Relaxed);
        crate::context::disarmed();
    }
}

/// Writes a [`crate::control`] acknowledgement (callsite `tickspan.control`), armed or not:
/// the host waits for it.
#[inline(never)]
pub(crate) fn acknowledge(value: u32) {
    let cs = crate::__callsite!(crate::control::ACK_MARKER, ValueU64, Info);
    crate::context::with_ring_always(|ring| {
        ring.push_with(cs.id() | crate::Kind::ValueU as u32, value, 0, crate::clock::now32)
    });
}

#[inline(never)]
fn marker(value: u64) {
    crate::value(crate::__callsite!(MARKER, ValueU64, Info), value);
}

/// Runs a change of state alone: a flag and its marker must not interleave with another
/// context's change.
fn transition(f: impl FnOnce()) {
    #[cfg(feature = "std")]
    {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        f()
    }
    #[cfg(all(not(feature = "std"), tickspan_cortex_m))]
    cortex_m::interrupt::free(|_| f());
    // Elsewhere (RISC-V bare metal, no_std hosts) changes come from one context at a time.
    #[cfg(all(not(feature = "std"), not(tickspan_cortex_m)))]
    f()
}

/// A drain's view of [`trace_for_ticks`] (std: `trace_for`): the deadline of the request it saw last.
#[derive(Clone, Copy)]
pub(crate) struct Deadline {
    seen: u32,
    at: Option<u64>,
}

impl Deadline {
    pub(crate) const fn new() -> Deadline {
        Deadline { seen: 0, at: None }
    }

    /// Called with each clock reading of the drain (its 64-bit time): disarms once the
    /// latest request's length has passed since the drain first saw it.
    #[inline]
    pub(crate) fn poll(&mut self, now: u64) {
        let req = REQUEST.load(Relaxed);
        if req != self.seen {
            self.seen = req;
            // u32 without std (no 64-bit atomics on thumbv6m/v7m), u64 with it.
            #[allow(clippy::useless_conversion)]
            let ticks = u64::from(REQUEST_TICKS.load(Relaxed));
            self.at = (ticks != 0).then(|| now.wrapping_add(ticks));
        }
        if let Some(at) = self.at {
            if now >= at {
                self.at = None;
                transition(|| {
                    // Unless a newer request came in meanwhile.
                    if REQUEST.load(Relaxed) == req {
                        set_alone(false, PAUSED);
                    }
                });
            }
        }
    }
}
