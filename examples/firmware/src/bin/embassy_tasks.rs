//! embassy-executor's tasks in the tree, through its `trace` hooks (tickspan feature `embassy`).
//!
//! No task is wrapped: embassy-executor (feature `trace`) calls tickspan's
//! `_embassy_trace_*` hooks, which record each pass of the executor as a span
//! `embassy executor` and each task poll inside it as a span `embassy task` carrying the
//! task's id (embassy's: the low 32 bits of the task's address).
//!
//! * Tasks: two instances of `blink` (one pool of two) that sleep a few SysTick periods
//!   between spans of work, and a `ticker` that sleeps twice as long each time.
//! * The executor is embassy's raw executor, driven by a loop that polls it when its pender
//!   asked for it, drains over UART0 before and after each pass (SysTick is the clock: calls
//!   into the drain must come less than a period apart) and otherwise sleeps with `wfi`.
//!   (Not embassy's thread-mode `Executor::run`: it waits with `wfe`, which QEMU does not
//!   sleep on, so it would spin and record an empty executor pass every few microseconds.)
//! * SysTick (every 2 ms) marks itself with `isr!` and wakes the sleepers that are due.
//! * At the end it prints `tickspan-embassy: …` over semihosting (how often each task ran,
//!   counted by the tasks) and exits QEMU.
//!
//! Build: `cargo build --release --bin embassy_tasks --features embassy`.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use cortex_m::asm::delay;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use embassy_executor::raw::Executor;
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, timer, Uart0};

/// SysTick period − 1, in 5 ns ticks: 2 ms (the clock's wrap, too).
const RELOAD: u32 = 399_999;
/// Tasks spawned.
const TASKS: u32 = 3;

/// Set by the executor's pender: a task was woken, poll the executor.
static PENDING: AtomicBool = AtomicBool::new(false);

/// embassy's pender (for an executor without a platform feature): called when a task is woken.
#[export_name = "__pender"]
fn pender(_context: *mut ()) {
    PENDING.store(true, Relaxed);
}

/// Tasks that have finished.
static DONE: AtomicU32 = AtomicU32::new(0);
/// Wake-ups of each task's loop (`blink` 1, `blink` 2, `ticker`), counted by the tasks.
static RUNS: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];

#[embassy_executor::task(pool_size = 2)]
async fn blink(n: usize, times: u32, period: u32) {
    for _ in 0..times {
        timer::sleep(period).await;
        RUNS[n].fetch_add(1, Relaxed);
        let _g = tickspan::span!("toggle");
        delay(2_000);
    }
    DONE.fetch_add(1, Relaxed);
}

#[embassy_executor::task]
async fn ticker(times: u32) {
    for i in 0..times {
        timer::sleep(2).await;
        RUNS[2].fetch_add(1, Relaxed);
        tickspan::event!("tick", i);
    }
    DONE.fetch_add(1, Relaxed);
}

#[entry]
fn main() -> ! {
    let mut cp = board::init(RELOAD);
    let mut uart = Uart0;
    let mut drain = Drain::global();

    let executor: &'static Executor = cortex_m::singleton!(: Executor = Executor::new(core::ptr::null_mut())).unwrap();
    let spawner = executor.spawner();
    spawner.spawn(blink(0, 5, 1).unwrap());
    spawner.spawn(blink(1, 3, 2).unwrap());
    spawner.spawn(ticker(3).unwrap());
    while DONE.load(Relaxed) < TASKS {
        // Infallible: UART0 never fails.
        let _ = drain.write_to(&mut uart);
        if PENDING.swap(false, Relaxed) {
            // SAFETY: only this loop polls the executor, never re-entrantly (not from the pender).
            unsafe { executor.poll() };
        }
        let _ = drain.write_to(&mut uart);
        // With interrupts masked, `wfi` still returns on a pending one, which then runs: no
        // wake-up is missed between the check and the sleep.
        cortex_m::interrupt::free(|_| {
            if !PENDING.load(Relaxed) {
                cortex_m::asm::wfi();
            }
        });
    }

    cp.SYST.disable_interrupt();
    let _ = drain.write_to(&mut uart);
    let ticks = timer::ticks();
    hprintln!(
        "tickspan-embassy: blink1={} blink2={} ticker={} isr_runs={}",
        RUNS[0].load(Relaxed),
        RUNS[1].load(Relaxed),
        RUNS[2].load(Relaxed),
        ticks
    );
    board::exit(ticks > 0)
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    timer::on_tick();
}
