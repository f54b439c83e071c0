//! Throttle invariants as property tests: no bucket ever passes more than its rate over the
//! elapsed time plus its burst; a refused all-or-nothing check charges nothing; under
//! saturation a taker gets at least 99% of rate × T for T ≥ 10 s; a reservation goes exactly
//! (n − balance) / rate later. Also the twin of `fuzz/fuzz_targets/throttle.rs`.

mod support {
    pub mod throttle_driver;
}

use proptest::prelude::*;
use support::throttle_driver::{Driver, Op};
use trimtab::throttle::{Bucket, Limit, MAX_RATE};
use trimtab::Time;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..2_000_000, any::<bool>()).prop_map(|(dt_us, back)| Op::Advance { dt_us, back }),
        4 => (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(a, b, bytes)| Op::Try { a, b, bytes }),
        3 => (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(a, b, bytes)| Op::UpTo { a, b, bytes }),
        1 => (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(a, b, bytes)| Op::Reserve { a, b, bytes }),
        1 => (any::<u8>(), any::<u32>()).prop_map(|(a, rate)| Op::SetRate { a, rate }),
        1 => (any::<u8>(), 0u8..120).prop_map(|(a, cpu)| Op::Load { a, cpu }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_bucket_exceeds_rate_times_time_plus_burst(ops in proptest::collection::vec(op(), 1..300)) {
        let mut d = Driver::new();
        for o in &ops {
            d.apply(o);
        }
    }

    #[test]
    fn saturation_gets_99_percent(rate in 100u64..=100_000_000_000, burst_ms in 1u64..1000, step_permille in 1u64..=1000, secs in 10u64..60) {
        // A taker that asks at least once per burst's worth of time (a full bucket drops its
        // refill, as any token bucket must).
        let burst = (rate as u128 * burst_ms as u128 / 1000).max(1) as u64;
        let burst_ns = burst as u128 * 1_000_000_000 / rate as u128;
        let step_us = ((burst_ns * step_permille as u128 / 1000 / 1000) as u64).max(1);
        let mut b = Bucket::new(Limit::new(rate, burst), Time::ZERO).unwrap();
        b.acquire_up_to(u64::MAX, Time::ZERO);
        let end = secs * 1_000_000_000;
        let mut t = 0u64;
        let mut got: u128 = 0;
        while t < end {
            t = (t + step_us * 1000).min(end);
            got += b.acquire_up_to(u64::MAX, Time(t)) as u128;
        }
        let ideal = rate as u128 * end as u128 / 1_000_000_000;
        prop_assert!(got * 100 >= ideal * 99, "got {got} of {ideal}");
        prop_assert!(got <= ideal + burst as u128);
    }

    #[test]
    fn reservation_is_exact(rate in 1u64..=MAX_RATE, burst in 1u64..1_000_000_000, used in 0u64..1_000_000_000, n in 0u64..u32::MAX as u64 * 1000, at_s in 0u64..1000) {
        let now = Time::from_secs(at_s);
        let mut b = Bucket::new(Limit::new(rate, burst), now).unwrap();
        let used = b.acquire_up_to(used, now);
        let tokens = (burst - used) as u128;
        let go = b.reserve(n, now);
        let need = (n as u128).saturating_sub(tokens);
        let wait = (need * 1_000_000_000).div_ceil(rate as u128);
        prop_assert_eq!(go.0 as u128, now.0 as u128 + wait);
    }

    #[test]
    fn bad_rates_are_refused(rate in prop_oneof![Just(0u64), (MAX_RATE + 1)..u64::MAX]) {
        prop_assert!(Bucket::new(Limit::new(rate, 10), Time::ZERO).is_err());
        let mut b = Bucket::new(Limit::new(10, 10), Time::ZERO).unwrap();
        let before = b.clone();
        prop_assert!(b.set_limit(Limit::new(rate, 10), Time::from_secs(5)).is_err());
        prop_assert_eq!(b, before);
    }
}
