//! Time as an argument: monotonic nanoseconds chosen by the host.
//!
//! trimtab never reads a clock. Every entry point that needs the time takes a [`Time`];
//! the host decides where zero is (boot, process start, the epoch) as long as it never
//! runs backwards.

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// A point in time: monotonic nanoseconds since an origin the host chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Time(pub u64);

/// Nanoseconds in one microsecond.
pub const NANOS_PER_MICRO: u64 = 1_000;
/// Nanoseconds in one millisecond.
pub const NANOS_PER_MILLI: u64 = 1_000_000;
/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);
    /// The largest representable time, used as "never".
    pub const MAX: Time = Time(u64::MAX);

    /// A time `ns` nanoseconds after the origin.
    pub const fn from_nanos(ns: u64) -> Time {
        Time(ns)
    }
    /// A time `ms` milliseconds after the origin (saturating).
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms.saturating_mul(NANOS_PER_MILLI))
    }
    /// A time `s` seconds after the origin (saturating).
    pub const fn from_secs(s: u64) -> Time {
        Time(s.saturating_mul(NANOS_PER_SEC))
    }
    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Nanoseconds from `earlier` to `self`, or 0 when `earlier` is later.
    pub const fn nanos_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
    /// `self` plus `ns` nanoseconds, saturating at [`Time::MAX`].
    pub const fn add_nanos(self, ns: u64) -> Time {
        Time(self.0.saturating_add(ns))
    }
    /// Seconds since the origin, as a float, for display only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:09}s", self.0 / NANOS_PER_SEC, self.0 % NANOS_PER_SEC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_arithmetic() {
        assert_eq!(Time::from_secs(2).nanos_since(Time::from_secs(3)), 0);
        assert_eq!(Time::from_secs(3).nanos_since(Time::from_secs(2)), NANOS_PER_SEC);
        assert_eq!(Time::MAX.add_nanos(5), Time::MAX);
        assert_eq!(Time::from_secs(u64::MAX), Time::MAX);
        assert_eq!(Time::from_millis(1500).to_string(), "1.500000000s");
    }
}
