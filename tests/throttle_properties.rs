//! Throttle invariants as property tests: no bucket ever passes more than its rate over the
//! elapsed time plus its burst; a refused all-or-nothing check charges nothing; under
//! saturation a taker gets at least 99% of rate × T for T ≥ 10 s; a reservation goes exactly
//! (n − balance) / rate later (on a path, the latest of its three buckets). Also the twin of
//! `fuzz/fuzz_targets/throttle.rs`.

mod support {
    pub mod throttle_driver;
}

use proptest::prelude::*;
use support::throttle_driver::{Driver, Op};
use trimtab::throttle::{Bucket, Limit, Throttle, ThrottleConfig, MAX_RATE};
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
    fn path_reservation_and_ready_at_are_the_latest_bucket_exactly(
        rates in (1u64..=MAX_RATE, 1u64..=MAX_RATE, 1u64..=MAX_RATE),
        bursts in (1u64..1_000_000_000, 1u64..1_000_000_000, 1u64..1_000_000_000),
        used_permille in 0u64..=1000,
        n in 0u64..u32::MAX as u64 * 1000,
        at_s in 0u64..1000,
    ) {
        // Global, a's outbound and b's inbound with their own rates and bursts; the same `used`
        // taken from all three first, so each has its own balance and its own wait.
        let now = Time::from_secs(at_s);
        let (rg, ro, ri) = rates;
        let (bg, bo, bi) = bursts;
        let cfg = ThrottleConfig { global: Limit::new(rg, bg), ..ThrottleConfig::default() };
        let mut t = Throttle::new(cfg, now).unwrap();
        let big = Limit::new(MAX_RATE, 1 << 40);
        let a = t.add_node(1, Limit::new(ro, bo), big, now).unwrap();
        let b = t.add_node(2, big, Limit::new(ri, bi), now).unwrap();
        let least = bg.min(bo).min(bi);
        let used = least * used_permille / 1000;
        prop_assert_eq!(t.acquire_up_to(a, b, used, now), Ok(used));
        let wait = |need: u64, bal: u64, rate: u64| -> u128 {
            ((need.saturating_sub(bal)) as u128 * 1_000_000_000).div_ceil(rate as u128)
        };
        let buckets = [(rg, bg), (ro, bo), (ri, bi)];
        let ready = buckets.iter().map(|&(r, bu)| wait(n.min(bu), bu - used, r)).max().unwrap();
        prop_assert_eq!(t.ready_at(a, b, n, now).unwrap().0 as u128, now.0 as u128 + ready);
        let go = buckets.iter().map(|&(r, bu)| wait(n, bu - used, r)).max().unwrap();
        let at = t.reserve(a, b, n, now).unwrap();
        prop_assert_eq!(at.0 as u128, now.0 as u128 + go);
        // Nothing passes before then (all or nothing: the latest bucket still owes), and by
        // then no bucket on the path is in debt.
        if at > now {
            prop_assert_eq!(t.available(a, b, Time(at.0 - 1)), Ok(0));
        }
        prop_assert!(t.available(a, b, at).is_ok());
        prop_assert!(!t.global_bucket().in_debt());
        prop_assert!(!t.node_buckets(a).unwrap().0.in_debt());
        prop_assert!(!t.node_buckets(b).unwrap().1.in_debt());
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
