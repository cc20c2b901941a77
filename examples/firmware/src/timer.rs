//! A SysTick-driven sleep for the async examples: `sleep(n).await` returns after `n` SysTick
//! interrupts; the SysTick handler calls [`on_tick`], which wakes the sleepers that are due.
//! Works with any executor (it keeps the `Waker` it is polled with).

use core::cell::RefCell;
use core::future::{poll_fn, Future};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use core::task::{Poll, Waker};
use cortex_m::interrupt::{free, Mutex};

/// Sleepers at once (one per task that sleeps).
const SLOTS: usize = 8;

/// SysTick interrupts so far.
static TICKS: AtomicU32 = AtomicU32::new(0);
/// A sleeper: its deadline tick and waker.
type Sleeper = Option<(u32, Waker)>;
/// Sleepers, woken by [`on_tick`].
static TIMERS: Mutex<RefCell<[Sleeper; SLOTS]>> = Mutex::new(RefCell::new([const { None }; SLOTS]));

/// SysTick interrupts so far.
pub fn ticks() -> u32 {
    TICKS.load(Relaxed)
}

/// Completes once `ticks` more SysTick interrupts have run.
pub fn sleep(ticks: u32) -> impl Future<Output = ()> {
    let until = TICKS.load(Relaxed).wrapping_add(ticks);
    poll_fn(move |cx| {
        if TICKS.load(Relaxed).wrapping_sub(until) as i32 >= 0 {
            return Poll::Ready(());
        }
        free(|cs| {
            let mut timers = TIMERS.borrow(cs).borrow_mut();
            match timers.iter_mut().find(|t| t.as_ref().is_none_or(|(_, w)| w.will_wake(cx.waker()))) {
                Some(slot) => *slot = Some((until, cx.waker().clone())),
                // No free slot: poll again soon rather than sleep forever.
                None => cx.waker().wake_by_ref(),
            }
        });
        Poll::Pending
    })
}

/// Counts a SysTick interrupt and wakes the sleepers that are due. Call from the handler.
pub fn on_tick() {
    let now = TICKS.load(Relaxed).wrapping_add(1);
    TICKS.store(now, Relaxed);
    free(|cs| {
        for slot in TIMERS.borrow(cs).borrow_mut().iter_mut() {
            if slot.as_ref().is_some_and(|(until, _)| now.wrapping_sub(*until) as i32 >= 0) {
                if let Some((_, w)) = slot.take() {
                    w.wake();
                }
            }
        }
    });
}
