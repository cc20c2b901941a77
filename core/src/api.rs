//! What the macros call: guards, manual spans, events, values, ISR and task records.

use crate::callsite::Callsite;
use crate::clock::{now32, Active, Clock};
use crate::context::{with_held, with_ring, with_ring_held, GlobalRing, Held, CLOCK_FORMAT};
use crate::record::{status, FieldType, Kind, Record, CALLSITE_MASK};
use core::marker::PhantomData;

/// Writes one record stamped with the active clock; `b` is bits 32..64 of the clock.
#[inline(always)]
pub(crate) fn emit(tag: u32, a: u32) {
    with_ring(|ring| emit_to(ring, tag, a))
}

/// Writes one record stamped with the active clock into `ring`.
#[inline(always)]
fn emit_to(ring: &GlobalRing, tag: u32, a: u32) {
    if CLOCK_FORMAT == 0 {
        let t = <Active as Clock>::now();
        ring.push_with(tag, a, (t >> 32) as u32, || t as u32);
    } else {
        // A 32-bit clock: `b` is 0 and the clock is read once the record has a slot.
        ring.push_with(tag, a, 0, now32);
    }
}

/// Writes one record whose `b` word carries payload instead of clock bits.
#[inline(always)]
pub(crate) fn emit_ab(tag: u32, a: u32, b: u32) {
    with_ring(|ring| ring.push_with(tag, a, b, now32))
}

/// An open scoped span, to be closed by [`ScopedSpan::exit`] in the same context.
///
/// `!Send`: a scoped span opens and closes in one context, which is what lets the host nest
/// spans without ids. [`span!`](crate::span) wraps it in a guard type of its own per call site,
/// whose `drop` the compiler inlines even at `opt-level = "s"` (a drop shared by every span,
/// as [`SpanGuard`]'s is, stays an out-of-line call there).
pub struct ScopedSpan {
    /// The enter record's tag (the exit's differs in the kind bits). Keeping the tag the enter
    /// has in a register anyway, rather than a second one, keeps an out-of-line enter within
    /// the call-clobbered registers.
    tag: u32,
    held: Held,
    _not_send: PhantomData<*const ()>,
}

impl ScopedSpan {
    /// Writes the enter record.
    #[inline(always)]
    pub fn enter(cs: &'static Callsite) -> ScopedSpan {
        let tag = cs.id() | Kind::SpanEnter as u32;
        let held = with_ring_held(|ring| emit_to(ring, tag, 0));
        ScopedSpan { tag, held, _not_send: PhantomData }
    }

    /// Writes the exit record. Call once, in the context that entered.
    #[inline(always)]
    pub fn exit(&self) {
        // Masked and or-ed rather than derived arithmetically from the enter tag: an `add` or
        // `xor` of a callsite address folds into a constant that is rebuilt at every use,
        // where an `or` of it is hoisted out of a loop like any other instruction.
        let tag = self.tag & CALLSITE_MASK | Kind::SpanExit as u32;
        with_held(&self.held, |ring| emit_to(ring, tag, 0));
    }
}

/// Ends a scoped span when dropped (early returns included): a nameable guard, for storing in
/// a struct. [`span!`](crate::span) returns an equivalent guard of its own type.
#[must_use = "the span ends when this guard is dropped"]
pub struct SpanGuard(ScopedSpan);

impl SpanGuard {
    /// Enters a scoped span.
    #[inline(always)]
    pub fn enter(cs: &'static Callsite) -> SpanGuard {
        SpanGuard(ScopedSpan::enter(cs))
    }
}

impl Drop for SpanGuard {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.exit();
    }
}

/// A span started by hand, to be ended later, possibly from another function, task or context.
///
/// Its id is the starting context's ring index + 1 (high 8 bits) and that ring's write position
/// (low 24 bits): unique among open spans without a shared counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a manual span must be ended with `end()`"]
pub struct Span {
    id: u32,
    callsite: u32,
}

impl Span {
    /// Starts a span with no parent. Use [`span_start!`](crate::span_start).
    #[inline]
    pub fn start(cs: &'static Callsite, parent: Option<&Span>) -> Span {
        let mut callsite = 0;
        let mut id = 0;
        with_ring(|ring| {
            // Ring index + 1 (at most 255 rings): never 0, which names no parent.
            id = (crate::context::index_of(ring) as u32 + 1) << 24 | (ring.written() & 0xFF_FFFF);
            callsite = cs.id();
        });
        // Callsite 0: disarmed (or no ring), the start was not written, so neither is the end.
        if callsite != 0 {
            emit_ab(callsite | Kind::SpanStart as u32, id, parent.map_or(0, |p| p.id));
        }
        Span { id, callsite }
    }

    /// Whether its start was written (not when recording is disarmed or the context has no
    /// ring): only then are its end, status and later fields.
    #[inline]
    pub fn recorded(&self) -> bool {
        self.callsite != 0
    }

    /// The span's id as the host sees it.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Ends the span, from any context.
    #[inline]
    pub fn end(self) {
        if self.recorded() {
            emit(self.callsite | Kind::SpanEnd as u32, self.id);
        }
    }

    /// Sets the span's status, from any context: error (`true`) or ok, with the callsite's name
    /// as the message. Use [`set_error!(span = &s, …)`](crate::set_error).
    #[inline]
    pub fn status(&self, cs: &'static Callsite, error: bool) {
        if self.recorded() {
            emit_ab(cs.id() | Kind::ValueU as u32, status::SPAN | error as u32, self.id);
        }
    }

    /// Writes the record that makes the field records after it (in this context) fields of
    /// this span. Whether the span was written at all: a disarmed start writes no fields
    /// either. Use [`annotate!`](crate::annotate).
    #[inline]
    pub fn target(&self, cs: &'static Callsite) -> bool {
        if self.recorded() {
            emit_ab(cs.id() | Kind::ValueU as u32, status::SPAN | status::TARGET, self.id);
        }
        self.recorded()
    }
}

/// A point event without payload. Use [`event!`](macro@crate::event).
#[inline(always)]
pub fn event(cs: &'static Callsite) {
    emit(cs.id() | Kind::Event as u32, 0);
}

/// A type an event or value can carry: 64 bits plus how to read them back.
pub trait Value: Copy {
    /// Record kind that tells the host how to read the bits.
    const KIND: Kind;
    /// The payload.
    fn bits(self) -> u64;
}

macro_rules! value_impl {
    ($kind:ident: $($t:ty),*) => {$(
        impl Value for $t {
            const KIND: Kind = Kind::$kind;
            #[inline(always)]
            fn bits(self) -> u64 {
                value_impl!(@bits $kind self)
            }
        }
    )*};
    (@bits ValueF $v:ident) => { ($v as f64).to_bits() };
    (@bits ValueI $v:ident) => { $v as i64 as u64 };
    (@bits ValueU $v:ident) => { $v as u64 };
}
value_impl!(ValueU: u8, u16, u32, u64, usize, bool);
value_impl!(ValueI: i8, i16, i32, i64, isize);
value_impl!(ValueF: f32, f64);

/// An event or value with a typed payload. Use [`event!`](macro@crate::event) or
/// [`value!`](macro@crate::value).
#[inline(always)]
pub fn value<V: Value>(cs: &'static Callsite, v: V) {
    let bits = v.bits();
    emit_ab(cs.id() | V::KIND as u32, bits as u32, (bits >> 32) as u32);
}

/// A type a field can carry: the record kind that types it and its two payload words.
///
/// Integers and floats travel as value records (the wire compresses them by type); bools and
/// interned strings as [`Kind::Field`] records with their type in `b`.
pub trait FieldValue: Copy {
    /// Record kind that tells the host how to read the words.
    const KIND: Kind;
    /// The `a` and `b` words.
    fn words(self) -> (u32, u32);
}

impl<V: Value> FieldValue for V {
    const KIND: Kind = V::KIND;
    #[inline(always)]
    fn words(self) -> (u32, u32) {
        let bits = self.bits();
        (bits as u32, (bits >> 32) as u32)
    }
}

/// A string interned at compile time: a callsite whose name is the string, so only its id is
/// recorded. Use [`intern!`](crate::intern).
#[derive(Clone, Copy, Debug)]
pub struct Interned(pub &'static Callsite);

/// A bool as a field: `true`/`false` on the host rather than 1/0 (a bool given to
/// [`value!`](macro@crate::value) stays a number).
#[derive(Clone, Copy, Debug)]
pub struct FieldBool(pub bool);

impl FieldValue for FieldBool {
    const KIND: Kind = Kind::Field;
    #[inline(always)]
    fn words(self) -> (u32, u32) {
        (self.0 as u32, FieldType::Bool as u32)
    }
}

impl FieldValue for Interned {
    const KIND: Kind = Kind::Field;
    #[inline(always)]
    fn words(self) -> (u32, u32) {
        (self.0.id(), FieldType::Str as u32)
    }
}

/// What a field macro argument becomes: bools turn into [`FieldBool`], everything else stays.
/// Not public API.
#[doc(hidden)]
pub trait __IntoField {
    /// The field type.
    type F: FieldValue;
    /// The conversion.
    fn into_field(self) -> Self::F;
}

impl __IntoField for bool {
    type F = FieldBool;
    #[inline(always)]
    fn into_field(self) -> FieldBool {
        FieldBool(self)
    }
}

macro_rules! into_field_same {
    ($($t:ty),*) => {$(
        impl __IntoField for $t {
            type F = $t;
            #[inline(always)]
            fn into_field(self) -> $t {
                self
            }
        }
    )*};
}
into_field_same!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, Interned);

/// Writes one field record (key callsite `cs`, kind `Field`) right after the record it
/// annotates. Use the fields of [`span!`](crate::span) and [`event!`](macro@crate::event).
#[inline(always)]
pub fn field<V: FieldValue>(cs: &'static Callsite, v: V) {
    let (a, b) = v.words();
    emit_ab(cs.id() | V::KIND as u32, a, b);
}

/// What the one-argument form of [`event!`](macro@crate::event) takes: a value of a value event,
/// or the argument of a one-placeholder format string. Not public API.
#[doc(hidden)]
pub trait __EventArg: Copy {
    /// Whether a value event may carry it (an interned string may only be a field or argument).
    const VALUE: bool;
    /// Writes it as a value event of `cs`.
    fn value(self, cs: &'static Callsite);
    /// Writes it as an argument of `cs`.
    fn arg(self, cs: &'static Callsite);
}

macro_rules! event_arg {
    ($($t:ty),*) => {$(
        impl __EventArg for $t {
            const VALUE: bool = true;
            #[inline(always)]
            fn value(self, cs: &'static Callsite) {
                value(cs, self)
            }
            #[inline(always)]
            fn arg(self, cs: &'static Callsite) {
                field(cs, __IntoField::into_field(self))
            }
        }
    )*};
}
event_arg!(u8, u16, u32, u64, usize, bool, i8, i16, i32, i64, isize, f32, f64);

impl __EventArg for Interned {
    const VALUE: bool = false;
    #[inline(always)]
    fn value(self, cs: &'static Callsite) {
        self.arg(cs)
    }
    #[inline(always)]
    fn arg(self, cs: &'static Callsite) {
        field(cs, self)
    }
}

/// `event!(level, name, v)`: a value event, or (`FMT`) an event formatted with one argument.
/// Not public API.
#[doc(hidden)]
#[inline(always)]
pub fn __event1<const FMT: bool, T: __EventArg>(cs: &'static Callsite, v: T) {
    const { assert!(FMT || T::VALUE, "tickspan: an interned string is a field or a format argument, not an event's value") };
    if FMT {
        event(cs);
        v.arg(cs);
    } else {
        v.value(cs);
    }
}

/// Sets the status of the innermost open span of this context: error (`true`) or ok, with the
/// callsite's name as the message. Use [`set_error!`](crate::set_error).
#[inline(always)]
pub fn status(cs: &'static Callsite, error: bool) {
    emit_ab(cs.id() | Kind::ValueU as u32, error as u32, 0);
}

/// Marks an interrupt handler until dropped. Use [`isr!`](crate::isr).
#[must_use = "the handler's record ends when this guard is dropped"]
pub struct IsrGuard {
    tag: u32,
    irq: u32,
    held: Held,
    _not_send: PhantomData<*const ()>,
}

impl IsrGuard {
    /// Records entry into handler `irq` (exception number on Cortex-M).
    #[inline(always)]
    pub fn enter(cs: &'static Callsite, irq: u32) -> IsrGuard {
        let id = cs.id();
        let held = with_ring_held(|ring| emit_to(ring, id | Kind::IsrEnter as u32, irq));
        IsrGuard { tag: id | Kind::IsrExit as u32, irq, held, _not_send: PhantomData }
    }
}

impl Drop for IsrGuard {
    #[inline(always)]
    fn drop(&mut self) {
        with_held(&self.held, |ring| emit_to(ring, self.tag, self.irq));
    }
}

/// The current exception number (IPSR) on Cortex-M, 0 elsewhere.
#[inline(always)]
pub fn current_irq() -> u32 {
    #[cfg(tickspan_cortex_m)]
    {
        let ipsr: u32;
        // SAFETY: reading IPSR has no side effects.
        unsafe { core::arch::asm!("mrs {0}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags)) };
        ipsr & 0x1FF
    }
    #[cfg(not(tickspan_cortex_m))]
    0
}

/// The callsite name of [`irq_pended`]'s record.
pub const PENDED: &str = "tickspan.irq.pended";

/// Records that exception `exception` (the number its handler's [`isr!`](crate::isr) records:
/// IRQ n is 16 + n on Cortex-M) was just made pending, so `tickspan stats --contexts` can show
/// the time from here to the handler's entry: its latency, which masking, higher-priority
/// handlers and the core's entry sequence make up. Only what is marked is measured: a hardware
/// source that pends on its own has no such record. Later marks before the entry are merged,
/// as the NVIC merges the pends.
#[inline]
pub fn irq_pended(exception: u32) {
    crate::value(crate::__callsite!(PENDED, ValueU64, Info), exception);
}

/// Pends `irq` in the NVIC after recording [`irq_pended`] for it.
#[cfg(tickspan_cortex_m)]
#[inline]
pub fn pend<I: cortex_m::interrupt::InterruptNumber>(irq: I) {
    irq_pended(u32::from(irq.number()) + 16);
    cortex_m::peripheral::NVIC::pend(irq);
}

/// Records that this context now runs task `task` (named by the callsite). For RTOS hooks.
#[inline]
pub fn task_switch(cs: &'static Callsite, task: u32) {
    emit(cs.id() | Kind::TaskSwitch as u32, task);
}

/// Writes a clock-extension record: the full counter, for hosts extending 32-bit timestamps.
/// Call it from a periodic interrupt when a context may stay silent longer than a clock period.
#[inline]
pub fn sync() {
    with_ring(|ring| {
        let t = <Active as Clock>::now();
        ring.push(Record::new(Kind::Sync, 0, t as u32, (t >> 32) as u32, 0));
    })
}

/// A guard that does nothing: what [`span!`](crate::span) returns with feature `disabled`.
pub struct NoopGuard;

/// Runs a closure when dropped: how `#[instrument]` ends an `async fn`'s span on every exit,
/// a future dropped before completion included. Not public API.
#[doc(hidden)]
pub struct __OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> __OnDrop<F> {
    /// Arms `f`.
    #[inline]
    pub fn new(f: F) -> Self {
        __OnDrop(Some(f))
    }
}

impl<F: FnOnce()> Drop for __OnDrop<F> {
    #[inline]
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f()
        }
    }
}
