//! Async tasks in the tree: a minimal single-threaded executor polling four `traced!` tasks.
//!
//! * Tasks: two instances of `blink` (one callsite, task ids 1 and 2) that sleep a few SysTick
//!   periods between spans of work, a `producer` that sends numbers through a one-slot signal
//!   after each sleep, and a `consumer` that awaits them. Every poll of a task is a span named
//!   after it (`tickspan::traced!`), so the host shows each task's polls and busy time.
//! * Executor: a fixed array of pinned futures on `main`'s stack, one "woken" flag per task
//!   that its waker sets, a loop that polls woken tasks, drains over UART0 after each pass
//!   and sleeps (`wfi`) when no task is woken.
//! * SysTick (every 2 ms) counts ticks, marks itself with `isr!` and wakes the sleepers whose
//!   deadline has come.
//! * At the end it prints how often it polled each task over semihosting
//!   (`tickspan-async: …`), which the end-to-end test compares with the decoded stream, and
//!   the instructions `traced!` adds to a poll (measured first, with SysTick's interrupt off:
//!   under `-icount shift=3` instructions = SysTick ticks × 5 / 8, as in `src/bin/icount.rs`).
//!
//! Run: `cargo run --release --bin async_tasks > target/async.tsp`, then
//! `tickspan tree target/async.tsp --elf target/thumbv7m-none-eabi/release/async_tasks`.
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use cortex_m::asm::delay;
use cortex_m::interrupt::{free, Mutex};
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use tickspan::drain::Drain;
use tickspan_firmware::{
    self as board,
    timer::{self, sleep},
    Uart0,
};

/// SysTick period − 1, in 5 ns ticks: 2 ms, as in the demo (the clock's wrap, too).
const RELOAD: u32 = 399_999;
/// Tasks the executor runs.
const TASKS: usize = 4;
/// Messages the producer sends.
const MESSAGES: u32 = 4;

/// Set by task `i`'s waker, cleared by the executor before it polls task `i`.
static WOKEN: [AtomicBool; TASKS] = [const { AtomicBool::new(false) }; TASKS];

/// A one-slot channel between two tasks of this executor (both in thread mode).
struct Signal {
    value: AtomicU32,
    waiter: Mutex<RefCell<Option<Waker>>>,
}

static SIGNAL: Signal = Signal { value: AtomicU32::new(0), waiter: Mutex::new(RefCell::new(None)) };

impl Signal {
    /// Stores a non-zero value and wakes the receiver.
    fn send(&self, v: u32) {
        self.value.store(v, Relaxed);
        if let Some(w) = free(|cs| self.waiter.borrow(cs).take()) {
            w.wake();
        }
    }

    /// The next value sent.
    fn recv(&self) -> impl Future<Output = u32> + '_ {
        poll_fn(|cx| match self.value.swap(0, Relaxed) {
            0 => {
                free(|cs| *self.waiter.borrow(cs).borrow_mut() = Some(cx.waker().clone()));
                Poll::Pending
            }
            v => Poll::Ready(v),
        })
    }
}

async fn blink(times: u32, period: u32) {
    for _ in 0..times {
        sleep(period).await;
        let _g = tickspan::span!("toggle");
        delay(2_000);
    }
}

/// One callsite for every blink task; the task id tells them apart.
fn blink_task(id: u32, times: u32, period: u32) -> impl Future<Output = ()> {
    tickspan::traced!("blink", id = id, blink(times, period))
}

async fn producer() {
    for n in 1..=MESSAGES {
        sleep(2).await;
        tickspan::event!("send", n);
        SIGNAL.send(n);
    }
}

async fn consumer() {
    loop {
        let n = SIGNAL.recv().await;
        let _g = tickspan::span!("consume");
        delay(5_000);
        if n == MESSAGES {
            break;
        }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(
    |data| RawWaker::new(data, &VTABLE),
    |data| WOKEN[data as usize % TASKS].store(true, Relaxed),
    |data| WOKEN[data as usize % TASKS].store(true, Relaxed),
    |_| {},
);

/// Task `i`'s waker: sets `WOKEN[i]`.
fn waker(i: usize) -> Waker {
    // SAFETY: the vtable's functions only read the data pointer as an index (never dereference
    // it), are thread-safe (atomic stores) and clone into the same vtable, as `RawWaker`'s
    // contract asks.
    unsafe { Waker::from_raw(RawWaker::new(i as *const (), &VTABLE)) }
}

/// Polls per cost measurement (3 records each, under the ring's 256 slots).
const COST_POLLS: u32 = 64;

/// Reads ring 0 empty: the measurement's records are not part of the trace, and each
/// measurement starts with room for all its records.
fn empty_ring() {
    let mut buf = [tickspan::Record::default(); 32];
    while tickspan::context::RINGS[0].read(&mut buf).records > 0 {}
}

/// SysTick ticks (free-running, 24 bits) that `COST_POLLS` polls of `fut` take.
fn poll_ticks(mut fut: Pin<&mut dyn Future<Output = ()>>) -> u32 {
    empty_ring();
    let mut cx = Context::from_waker(Waker::noop());
    let t0 = board::ticks();
    for _ in 0..COST_POLLS {
        let _ = core::hint::black_box(fut.as_mut()).poll(&mut cx);
    }
    board::ticks().wrapping_sub(t0) & 0x00FF_FFFF
}

/// Instructions `traced!` adds to one poll: (without a task id, with one).
fn traced_poll_cost() -> (u32, u32) {
    let plain = poll_ticks(pin!(core::future::pending::<()>()));
    let traced = poll_ticks(pin!(tickspan::traced!("cost", core::future::pending::<()>())));
    let with_id = poll_ticks(pin!(tickspan::traced!("cost_id", id = 1, core::future::pending::<()>())));
    let instructions = |t: u32| t.saturating_sub(plain) * 5 / 8 / COST_POLLS;
    empty_ring();
    (instructions(traced), instructions(with_id))
}

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::full_speed();
    board::start_systick(&mut cp.SYST, 0x00FF_FFFF, false);
    let (cost, cost_id) = traced_poll_cost();
    board::start_systick(&mut cp.SYST, RELOAD, true);
    let mut uart = Uart0;
    let mut drain = Drain::global();

    let mut tasks: [Pin<&mut dyn Future<Output = ()>>; TASKS] = [
        pin!(blink_task(1, 5, 1)),
        pin!(blink_task(2, 3, 2)),
        pin!(tickspan::traced!("producer", producer())),
        pin!(tickspan::traced!("consumer", consumer())),
    ];
    let wakers: [Waker; TASKS] = core::array::from_fn(waker);
    let mut polls = [0u32; TASKS];
    let mut done = [false; TASKS];
    for w in &WOKEN {
        w.store(true, Relaxed);
    }
    while done.iter().any(|d| !d) {
        // Also right after waking: SysTick is the clock, and the drain dates records exactly
        // only if calls into it come less than one SysTick period apart, which a pass that
        // slept through a whole period would not give (see `tickspan::drain`).
        // Infallible: UART0 never fails.
        let _ = drain.write_to(&mut uart);
        for (i, task) in tasks.iter_mut().enumerate() {
            if !done[i] && WOKEN[i].swap(false, Relaxed) {
                polls[i] += 1;
                done[i] = task.as_mut().poll(&mut Context::from_waker(&wakers[i])).is_ready();
            }
        }
        let _ = drain.write_to(&mut uart);
        // Sleep until an interrupt unless a task is woken. With interrupts masked, `wfi` still
        // returns on a pending one, which then runs: no wake-up is missed between check and sleep.
        free(|_| {
            if !WOKEN.iter().any(|w| w.load(Relaxed)) {
                cortex_m::asm::wfi();
            }
        });
    }

    cp.SYST.disable_interrupt();
    let _ = drain.write_to(&mut uart);
    let ticks = timer::ticks();
    hprintln!(
        "tickspan-async: blink1={} blink2={} producer={} consumer={} isr_runs={} traced_poll_instructions={} with_id={}",
        polls[0],
        polls[1],
        polls[2],
        polls[3],
        ticks,
        cost,
        cost_id
    );
    board::exit(ticks > 0)
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    timer::on_tick();
}
