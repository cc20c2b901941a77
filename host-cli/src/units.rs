//! Ticks to real time: the stream header's clock frequency, or raw ticks when it is unknown (0).

use std::fmt;

/// Converts between clock ticks and nanoseconds for one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clock {
    /// Ticks per second; 0 when the stream did not say (times are then shown in ticks).
    pub hz: u64,
}

impl Clock {
    /// Whether ticks convert to real time.
    pub fn is_real(self) -> bool {
        self.hz != 0
    }

    /// Ticks to nanoseconds (ticks unchanged when the frequency is unknown).
    #[inline]
    pub(crate) fn to_ns(self, ticks: u64) -> u64 {
        if self.hz == 0 || self.hz == 1_000_000_000 {
            ticks
        } else {
            ((ticks as u128 * 1_000_000_000) / self.hz as u128).min(u64::MAX as u128) as u64
        }
    }

    /// Ticks to nanoseconds as a float (exports that take fractions).
    #[inline]
    pub(crate) fn to_ns_f64(self, ticks: u64) -> f64 {
        if self.hz == 0 {
            ticks as f64
        } else {
            ticks as f64 * 1e9 / self.hz as f64
        }
    }

    /// Nanoseconds to ticks (rounded up, so "at least 10 µs" keeps its meaning).
    #[allow(clippy::wrong_self_convention)] // `self` is the clock that converts, not the value
    pub(crate) fn from_ns(self, ns: u64) -> u64 {
        if self.hz == 0 {
            ns
        } else {
            (ns as u128 * self.hz as u128).div_ceil(1_000_000_000).min(u64::MAX as u128) as u64
        }
    }

    /// A span or interval for display: `12.345 µs`, or `1234 ticks`.
    pub(crate) fn dur(self, ticks: u64) -> Dur {
        Dur { ns: self.to_ns(ticks), real: self.is_real() }
    }
}

/// `1 record`, `2 records`, `0 records`: a count and its noun, plural unless exactly one.
pub(crate) fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A displayable duration.
#[derive(Clone, Copy, Debug)]
pub struct Dur {
    ns: u64,
    real: bool,
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if !self.real { count(self.ns, "tick") } else { format_ns(self.ns) };
        f.pad(&s)
    }
}

/// `950 ns`, `12.345 µs`, `1.500 ms`, `2.000 s`.
pub(crate) fn format_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.3} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.3} s", ns as f64 / 1e9)
    }
}

/// A duration given on the command line: `500ns`, `10us`/`10µs`, `1.5ms`, `2s`, or `1000ticks`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Duration {
    /// Real time.
    Ns(u64),
    /// Raw clock ticks.
    Ticks(u64),
}

impl Duration {
    /// In ticks of `clock`.
    pub fn ticks(self, clock: Clock) -> u64 {
        match self {
            Duration::Ns(ns) => clock.from_ns(ns),
            Duration::Ticks(t) => t,
        }
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let value: f64 = num.parse().map_err(|_| format!("`{s}`: expected a number and a unit, e.g. 10us"))?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("`{s}`: must be a non-negative number"));
        }
        let scale = match unit.trim() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "ticks" | "t" => return Ok(Duration::Ticks(value as u64)),
            "" => return Err(format!("`{s}`: missing unit (ns, us, ms, s or ticks)")),
            u => return Err(format!("`{s}`: unknown unit `{u}` (ns, us, ms, s or ticks)")),
        };
        Ok(Duration::Ns((value * scale).round().min(u64::MAX as f64) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "damaged region"), "1 damaged region");
        assert_eq!(count(0, "record"), "0 records");
        assert_eq!(count(71, "byte"), "71 bytes");
        assert_eq!(Clock { hz: 0 }.dur(1).to_string(), "1 tick");
    }

    #[test]
    fn parses_units() {
        assert_eq!("10us".parse(), Ok(Duration::Ns(10_000)));
        assert_eq!("1.5ms".parse(), Ok(Duration::Ns(1_500_000)));
        assert_eq!("2 s".parse(), Ok(Duration::Ns(2_000_000_000)));
        assert_eq!("7ticks".parse(), Ok(Duration::Ticks(7)));
        assert!("10".parse::<Duration>().is_err());
        assert!("10 parsecs".parse::<Duration>().is_err());
        assert!("-1ms".parse::<Duration>().is_err());
    }

    #[test]
    fn converts_ticks() {
        let c = Clock { hz: 64_000_000 };
        assert_eq!(c.to_ns(64), 1_000);
        assert_eq!(c.from_ns(1_000), 64);
        assert_eq!(c.dur(64_000).to_string(), "1.000 ms");
        assert_eq!(Clock { hz: 0 }.dur(5).to_string(), "5 ticks");
        assert_eq!(format_ns(999), "999 ns");
    }
}
