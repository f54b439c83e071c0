//! One token bucket in bytes, refilled from the host's `now`, exact in integers.
//!
//! Tokens are kept in *nano-bytes* (bytes × 10⁹) in an `i128`: a refill over `dt`
//! nanoseconds at `rate` bytes per second adds exactly `rate × dt` nano-bytes, so no
//! rounding is ever made and nothing drifts, however long the run and whatever the rate
//! (up to [`MAX_RATE`], far above 100 GB/s). A negative balance is a debt taken by a
//! reservation ([`Bucket::reserve`]): nothing else is admitted until it is repaid.

#![forbid(unsafe_code)]

use super::ThrottleError;
use crate::time::{Time, NANOS_PER_SEC};

/// The largest rate a bucket accepts, in bytes per second (2⁴⁰ ≈ 1.1 TB/s).
pub const MAX_RATE: u64 = 1 << 40;
/// The largest burst a bucket accepts, in bytes (2⁴⁸ ≈ 281 TB).
pub const MAX_BURST: u64 = 1 << 48;

pub(crate) const NANO: i128 = NANOS_PER_SEC as i128;

/// Whole bytes in a nano-byte balance (0 when in debt); a 64-bit division (by a constant,
/// so a multiplication) whenever the balance fits, which it does for bursts below 18 GB.
/// Above that it calls `__divti3`, which for a balance below `MAX_BURST × 10⁹ < 2⁷⁸` measured
/// as fast as a hand-written two-step 64-bit long division (and the latter slowed the
/// common path by ~0.8 ns), so it stays.
#[inline(always)]
pub(crate) fn whole_bytes(t: i128) -> u64 {
    if t <= 0 {
        0
    } else if t <= u64::MAX as i128 {
        t as u64 / NANOS_PER_SEC
    } else {
        (t / NANO) as u64
    }
}

/// A rate and a burst, in bytes per second and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limit {
    /// Bytes per second, in `1..=MAX_RATE`.
    pub rate: u64,
    /// The most bytes that may go at once after an idle period, in `1..=MAX_BURST`.
    pub burst: u64,
}

impl Limit {
    /// A limit of `rate` bytes per second with a burst of `burst` bytes.
    pub const fn new(rate: u64, burst: u64) -> Limit {
        Limit { rate, burst }
    }

    /// Checks the ranges: a zero rate or burst, or one above the maxima, is an error.
    pub fn validate(&self) -> Result<(), ThrottleError> {
        if self.rate == 0 || self.rate > MAX_RATE {
            return Err(ThrottleError::InvalidRate(self.rate));
        }
        if self.burst == 0 || self.burst > MAX_BURST {
            return Err(ThrottleError::InvalidBurst(self.burst));
        }
        Ok(())
    }
}

/// A token bucket in bytes.
///
/// Every call takes `now`; a `now` older than the last one seen is treated as the last one
/// seen (no refill, never a negative interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Balance in nano-bytes; negative while a reservation is being repaid.
    tokens: i128,
    /// `burst × 10⁹`.
    cap: i128,
    /// The effective rate in bytes per second.
    rate: u64,
    /// The configured burst in bytes.
    burst: u64,
    /// The last time the balance was brought up to date.
    last: u64,
}

impl Bucket {
    /// A full bucket with `limit`, as of `now`.
    pub fn new(limit: Limit, now: Time) -> Result<Bucket, ThrottleError> {
        limit.validate()?;
        let cap = limit.burst as i128 * NANO;
        Ok(Bucket { tokens: cap, cap, rate: limit.rate, burst: limit.burst, last: now.0 })
    }

    /// The effective rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// The burst in bytes.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    #[inline(always)]
    pub(crate) fn refill(&mut self, now: Time) {
        if now.0 > self.last {
            let dt = now.0 - self.last;
            self.last = now.0;
            // rate ≤ 2⁴⁰ and dt < 2⁶⁴: the product is below 2¹⁰⁴, far inside i128.
            let t = self.tokens + (self.rate as i128) * (dt as i128);
            self.tokens = if t > self.cap { self.cap } else { t };
        }
    }

    /// Whole bytes available now (0 while in debt).
    #[inline]
    pub fn available(&mut self, now: Time) -> u64 {
        self.refill(now);
        whole_bytes(self.tokens)
    }

    /// The balance in nano-bytes (as of the last refill).
    #[inline(always)]
    pub(crate) fn tokens(&self) -> i128 {
        self.tokens
    }

    /// Takes `need` nano-bytes (the caller checked the balance).
    #[inline(always)]
    pub(crate) fn take(&mut self, need: i128) {
        self.tokens -= need;
    }

    /// Takes `n` bytes if they are all available now; otherwise takes nothing.
    ///
    /// A request larger than the burst can never be granted whole: it is refused with
    /// [`ThrottleError::ExceedsBurst`]; use [`Bucket::reserve`] or [`Bucket::acquire_up_to`].
    #[inline]
    pub fn try_acquire(&mut self, n: u64, now: Time) -> Result<bool, ThrottleError> {
        if n > self.burst {
            return Err(ThrottleError::ExceedsBurst { bytes: n, burst: self.burst });
        }
        self.refill(now);
        let need = n as i128 * NANO;
        if self.tokens >= need {
            self.tokens -= need;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Takes as many whole bytes as are available, at most `max`, and returns how many.
    #[inline]
    pub fn acquire_up_to(&mut self, max: u64, now: Time) -> u64 {
        let g = self.available(now).min(max);
        self.tokens -= g as i128 * NANO;
        g
    }

    /// Charges `n` bytes unconditionally and returns the time at which they may go: `now`
    /// when the balance covers them, otherwise exactly `(n − balance) / rate` later (rounded
    /// up to the nanosecond). Later requests wait behind this one, so no request starves and
    /// the long-run rate holds whatever the sizes.
    pub fn reserve(&mut self, n: u64, now: Time) -> Time {
        self.refill(now);
        self.tokens = self.tokens.saturating_sub(n as i128 * NANO);
        if self.tokens >= 0 {
            now
        } else {
            Time(now.0.max(self.last).saturating_add(self.debt_ns()))
        }
    }

    /// Nanoseconds until the balance is back to zero (0 when not in debt).
    fn debt_ns(&self) -> u64 {
        if self.tokens >= 0 {
            return 0;
        }
        let debt = -self.tokens;
        let r = self.rate as i128;
        let ns = (debt + r - 1) / r;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// The earliest time at which `n` bytes (at most the burst) will be available, given no
    /// other charge: `now` when they already are.
    pub fn ready_at(&mut self, n: u64, now: Time) -> Time {
        self.refill(now);
        let need = n.min(self.burst) as i128 * NANO;
        if self.tokens >= need {
            return Time(self.last);
        }
        let r = self.rate as i128;
        let ns = (need - self.tokens + r - 1) / r;
        Time(self.last.saturating_add(u64::try_from(ns).unwrap_or(u64::MAX)))
    }

    /// Gives back `n` bytes that were taken but not used (capped at the burst).
    pub fn refund(&mut self, n: u64) {
        let t = self.tokens.saturating_add(n as i128 * NANO);
        self.tokens = t.min(self.cap);
    }

    /// Changes the rate and burst from `now` on: the balance is first brought up to date at
    /// the old rate, then capped at the new burst, so a change never releases saved-up
    /// tokens and applies at the next check. A debt from an earlier reservation is repaid at
    /// the new rate: the reserved transfer keeps the time it was promised, and the change
    /// delays everything after it.
    pub fn set_limit(&mut self, limit: Limit, now: Time) -> Result<(), ThrottleError> {
        limit.validate()?;
        self.refill(now);
        self.rate = limit.rate;
        self.burst = limit.burst;
        self.cap = limit.burst as i128 * NANO;
        if self.tokens > self.cap {
            self.tokens = self.cap;
        }
        Ok(())
    }

    /// The balance in nano-bytes (negative in debt), for tests and status.
    pub fn balance_nanobytes(&self) -> i128 {
        self.tokens
    }

    /// Whether the bucket owes tokens from a reservation.
    pub fn in_debt(&self) -> bool {
        self.tokens < 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NANOS_PER_SEC;

    #[test]
    fn rejects_zero_and_absurd_limits() {
        assert!(Bucket::new(Limit::new(0, 1), Time::ZERO).is_err());
        assert!(Bucket::new(Limit::new(1, 0), Time::ZERO).is_err());
        assert!(Bucket::new(Limit::new(MAX_RATE + 1, 1), Time::ZERO).is_err());
        assert!(Bucket::new(Limit::new(1, MAX_BURST + 1), Time::ZERO).is_err());
    }

    #[test]
    fn refill_is_exact_at_100_gb_per_second_over_a_day() {
        let rate = 100_000_000_000u64;
        let mut b = Bucket::new(Limit::new(rate, rate), Time::ZERO).unwrap();
        assert_eq!(b.acquire_up_to(u64::MAX, Time::ZERO), rate);
        let mut total = 0u64;
        // Odd step so that every step leaves a sub-byte remainder.
        let step = 7_777_777u64;
        let mut t = 0u64;
        while t + step <= 86_400 * S {
            t += step;
            total += b.acquire_up_to(u64::MAX, Time(t));
        }
        // Exactly floor(rate × t / 1e9) bytes: nothing lost to rounding.
        assert_eq!(total as u128, rate as u128 * t as u128 / S as u128);
    }

    #[test]
    fn odd_rate_no_drift() {
        let mut b = Bucket::new(Limit::new(3, 3), Time::ZERO).unwrap();
        b.acquire_up_to(3, Time::ZERO);
        let mut total = 0;
        for i in 1..=10_000u64 {
            total += b.acquire_up_to(u64::MAX, Time(i * 100_000_000));
        }
        assert_eq!(total, 3_000);
    }

    #[test]
    fn reservation_goes_exactly_n_minus_tokens_over_rate_later() {
        let mut b = Bucket::new(Limit::new(10 << 20, 10 << 20), Time::ZERO).unwrap();
        let n = 64u64 << 20;
        let at = b.reserve(n, Time::from_secs(5));
        // (64 MiB − 10 MiB) / 10 MiB/s = 5.4 s.
        assert_eq!(at, Time(5 * S + 5_400_000_000));
        // Nothing is admitted until the debt is repaid.
        assert_eq!(b.available(Time(at.0 - 1)), 0);
        assert_eq!(b.try_acquire(1, Time(at.0 - 1)), Ok(false));
        assert_eq!(b.available(at), 0);
        assert!(!b.in_debt());
    }

    #[test]
    fn oversized_try_acquire_is_a_typed_error() {
        let mut b = Bucket::new(Limit::new(10, 10), Time::ZERO).unwrap();
        assert!(matches!(b.try_acquire(11, Time::ZERO), Err(ThrottleError::ExceedsBurst { .. })));
        assert_eq!(b.try_acquire(10, Time::ZERO), Ok(true));
        assert_eq!(b.try_acquire(1, Time::ZERO), Ok(false));
    }

    #[test]
    fn time_going_backwards_is_the_last_time() {
        let mut b = Bucket::new(Limit::new(1000, 1000), Time::from_secs(10)).unwrap();
        b.acquire_up_to(1000, Time::from_secs(10));
        assert_eq!(b.available(Time::from_secs(1)), 0);
        assert_eq!(b.available(Time(10 * S + S / 2)), 500);
    }

    #[test]
    fn rate_change_applies_at_once_without_saved_tokens() {
        let mut b = Bucket::new(Limit::new(1000, 100), Time::ZERO).unwrap();
        b.acquire_up_to(100, Time::ZERO);
        b.set_limit(Limit::new(1_000_000, 100), Time(S / 100)).unwrap();
        // 10 ms at the old rate: 10 bytes, no more.
        assert_eq!(b.available(Time(S / 100)), 10);
        // The new rate from the change on: 1 ms more gives 1000 bytes, capped at burst 100.
        assert_eq!(b.available(Time(S / 100 + S / 1000)), 100);
        // Lowering the burst caps the balance.
        b.set_limit(Limit::new(1_000_000, 5), Time(S)).unwrap();
        assert_eq!(b.available(Time(S)), 5);
    }

    #[test]
    fn whole_bytes_at_the_edges() {
        // Every balance a bucket can hold (at most MAX_BURST × 10⁹) and well beyond.
        let n = NANO;
        for t in [
            i128::MIN,
            -1,
            0,
            1,
            n - 1,
            n,
            u64::MAX as i128 - 1,
            u64::MAX as i128,
            u64::MAX as i128 + 1,
            (1i128 << 78) - 1,
            MAX_BURST as i128 * n,
            (n << 64) - 1,
        ] {
            let want = if t <= 0 { 0 } else { (t / n) as u64 };
            assert_eq!(whole_bytes(t), want, "t = {t}");
        }
    }

    proptest::proptest! {
        /// Exact whole bytes on both sides of the 2⁶⁴ nano-byte split (18 GB balances).
        #[test]
        fn whole_bytes_is_the_exact_quotient(t in 0i128..=(NANO << 64) - 1, small in 0u64..=u64::MAX) {
            proptest::prop_assert_eq!(whole_bytes(t), (t / NANO) as u64);
            proptest::prop_assert_eq!(whole_bytes(small as i128), small / NANOS_PER_SEC);
        }
    }

    #[test]
    fn ready_at_is_exact() {
        let mut b = Bucket::new(Limit::new(1000, 1000), Time::ZERO).unwrap();
        b.acquire_up_to(1000, Time::ZERO);
        assert_eq!(b.ready_at(500, Time::ZERO), Time(S / 2));
        assert_eq!(b.ready_at(0, Time::ZERO), Time::ZERO);
    }
}
