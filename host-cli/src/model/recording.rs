//! What the markers of the target's recording state say: where it did not record
//! (`tickspan.recording`, written by `tickspan::arming`), and whether the stream is a flight
//! recorder's window (`tickspan.window`, written by `tickspan::FlightRecorder::write_to`).

/// A flight recorder's snapshot (`tickspan::FlightRecorder::write_to`): each context's records
/// begin at its marker; what came before was dropped from the window, which is not a loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Contexts with a marker.
    pub contexts: u32,
    /// Batches dropped from the window before the markers, over all contexts.
    pub evicted: u64,
    /// Earliest and latest marker (the contexts' window starts).
    pub first: u64,
    /// See `first`.
    pub last: u64,
}

impl Window {
    pub(super) fn marker(w: &mut Option<Window>, ts: u64, evicted: u64) {
        let w = w.get_or_insert(Window { first: ts, last: ts, ..Window::default() });
        w.contexts += 1;
        w.evicted = w.evicted.saturating_add(evicted);
        w.first = w.first.min(ts);
        w.last = w.last.max(ts);
    }
}

/// The callsite of a flight recorder snapshot's window markers (`tickspan::flight::WINDOW_MARKER`).
pub const WINDOW_MARKER: &str = "tickspan.window";

/// Intervals the target did not record (`tickspan.recording` markers): not losses, so not
/// counted as such, but said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// Stops seen, each with the time recording resumed (`None`: it did not, in this trace).
    /// The first [`MAX_PAUSES`] are kept, all are counted.
    pub pauses: Vec<(u64, Option<u64>)>,
    /// Stops in the trace.
    pub stops: u64,
    /// The last stop was `tickspan::freeze`.
    pub frozen: bool,
    /// The first stop came with the trace's first record: no interval before it.
    pub started_disarmed: bool,
    /// The trace's first marker resumed recording: the stop before it is not in the trace
    /// (dropped from a flight recorder's window, before the capture began, or lost), so the
    /// trace did not record until then, since a time it cannot know. `pauses[0]` is that
    /// stretch, from the trace's start (which bounds it, nothing more).
    pub stop_unseen: bool,
    paused: bool,
}

/// Pauses kept in [`Recording::pauses`].
pub const MAX_PAUSES: usize = 64;

impl Recording {
    /// Intervals the trace covers: one, plus one per pause that ended.
    pub fn intervals(&self) -> u64 {
        1 + self.stops - u64::from(self.paused) - u64::from(self.started_disarmed)
    }

    /// A marker of value `v` (`tickspan::arming`: 0 paused, 1 recording, 2 frozen) at `ts`, in
    /// a trace whose first record is at `start`.
    pub(super) fn marker(&mut self, ts: u64, v: u64, start: u64) {
        let first_marker = self.stops == 0 && !self.paused;
        if first_marker && v != 1 && ts == start {
            self.started_disarmed = true;
        }
        match (v, self.paused) {
            // A resume before any stop: arming writes no marker when it was armed already, so
            // the stop was there and is not in the trace. Not recording until here, then.
            (1, false) if first_marker => {
                self.stop_unseen = true;
                self.started_disarmed = true;
                self.stops = 1;
                self.pauses.push((start, Some(ts)));
            }
            (1, true) => {
                self.paused = false;
                if let Some(p) = self.pauses.last_mut().filter(|p| p.1.is_none()) {
                    p.1 = Some(ts);
                }
            }
            (0 | 2, false) => {
                self.paused = true;
                self.frozen = v == 2;
                self.stops += 1;
                if self.pauses.len() < MAX_PAUSES {
                    self.pauses.push((ts, None));
                }
            }
            _ => {}
        }
    }
}

/// The callsite of the target's arming markers (`tickspan::arming::MARKER`).
pub const RECORDING_MARKER: &str = "tickspan.recording";

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(markers: &[(u64, u64)]) -> Recording {
        let mut r = Recording::default();
        for &(ts, v) in markers {
            r.marker(ts, v, 10);
        }
        r
    }

    #[test]
    fn a_resume_whose_stop_is_not_in_the_trace_is_a_gap_from_an_unknown_time() {
        // Stop and resume both seen: two intervals, one gap.
        let r = replay(&[(20, 0), (30, 1)]);
        assert_eq!((r.intervals(), r.stop_unseen, r.pauses.clone()), (2, false, vec![(20, Some(30))]));
        // The stop was dropped (a window that begins disarmed): one interval, from the resume;
        // the gap is bounded by the trace's start, not claimed to begin there.
        let r = replay(&[(30, 1)]);
        assert_eq!((r.intervals(), r.stop_unseen, r.pauses.clone()), (1, true, vec![(10, Some(30))]));
        // … and a later stop and resume are counted as usual.
        let r = replay(&[(30, 1), (40, 0), (50, 1), (60, 0)]);
        assert_eq!(r.intervals(), 2);
        assert_eq!(r.pauses, [(10, Some(30)), (40, Some(50)), (60, None)]);
        // A stop as the first record: no interval before it; a stop later: one before it.
        assert_eq!(replay(&[(10, 0)]).intervals(), 0);
        assert_eq!(replay(&[(20, 0)]).intervals(), 1);
        assert!(!replay(&[(20, 0)]).stop_unseen);
    }
}
