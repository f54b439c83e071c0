//! Throttle checks side by side: trimtab's bucket (one bucket, and the three-level
//! all-or-nothing source-out / target-in / global check) against `governor` 0.10 (with its
//! default quanta clock and with its fake manual clock), `ratelimit` 0.10 and
//! `async-speed-limit` 0.4 with its manual clock. Each check is for 1 KiB with time moving
//! forward 1 ns per call, so that every check refills (no free fast path).
//!
//! At 1 ns per call a 100 GiB/s bucket refills ~107 bytes per 1 KiB check, so once the
//! initial burst is spent (~120 M calls, under a second) nine checks in ten are refused:
//! these rows mostly measure a saturated limiter (governor's too: its quota here is one cell
//! per ns, see below).
//! They also pay criterion's stable `black_box` twice on the result (a volatile copy, four
//! bytes at a time; ~4 ns for trimtab's 24-byte `Result<bool, ThrottleError>`).
//!
//! The rows marked "admits" advance time by enough per call that every check is granted, and
//! pass the result through `std::hint::black_box` instead (returning `()` to criterion), so
//! they show the cost of the granting path itself; governor gets the same treatment there.
//!
//! Run: cargo bench --manifest-path benches/peers/Cargo.toml --bench throttle

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::num::NonZeroU32;
use std::time::Duration;
use trimtab::throttle::{Bucket, Limit, Throttle, ThrottleConfig};
use trimtab::Time;

const RATE: u64 = 100 << 30; // 100 GiB/s: the bench measures cost, not refusals
const N: u64 = 1024;

fn ours(c: &mut Criterion) {
    let mut g = c.benchmark_group("throttle");
    g.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(30);

    let mut b = Bucket::new(Limit::new(RATE, RATE), Time::ZERO).unwrap();
    let mut now = 0u64;
    g.bench_function("trimtab bucket try_acquire (1 bucket)", |bch| {
        bch.iter(|| {
            now += 1;
            black_box(b.try_acquire(black_box(N), Time(now)))
        })
    });

    let mut t =
        Throttle::new(ThrottleConfig { global: Limit::new(RATE, RATE), ..ThrottleConfig::default() }, Time::ZERO)
            .unwrap();
    let l = Limit::new(RATE, RATE);
    let nodes: Vec<_> = (0..64).map(|i| t.add_node(i, l, l, Time::ZERO).unwrap()).collect();
    let mut i = 0usize;
    g.bench_function("trimtab throttle try_acquire (out+in+global, all or nothing)", |bch| {
        bch.iter(|| {
            now += 1;
            i = (i + 7) & 63;
            black_box(t.try_acquire(nodes[i], nodes[(i + 1) & 63], black_box(N), Time(now)))
        })
    });
    g.bench_function("trimtab throttle acquire_up_to (out+in+global)", |bch| {
        bch.iter(|| {
            now += 1;
            i = (i + 7) & 63;
            black_box(t.acquire_up_to(nodes[i], nodes[(i + 1) & 63], black_box(N), Time(now)))
        })
    });

    // governor counts cells; a byte-per-cell quota tops out at u32 cells per check.
    let q =
        governor::Quota::per_second(NonZeroU32::new(u32::MAX).unwrap()).allow_burst(NonZeroU32::new(u32::MAX).unwrap());
    let gov = governor::RateLimiter::direct(q);
    g.bench_function("governor 0.10 check_n (quanta clock)", |bch| {
        bch.iter(|| black_box(gov.check_n(NonZeroU32::new(N as u32).unwrap())))
    });
    let clock = governor::clock::FakeRelativeClock::default();
    let govf = governor::RateLimiter::direct_with_clock(q, clock.clone());
    g.bench_function("governor 0.10 check_n (fake manual clock)", |bch| {
        bch.iter(|| {
            clock.advance(Duration::from_nanos(1));
            black_box(govf.check_n(NonZeroU32::new(N as u32).unwrap()))
        })
    });

    let rl = ratelimit::Ratelimiter::builder(RATE / 1000, Duration::from_millis(1))
        .max_tokens(RATE)
        .initial_available(RATE)
        .build()
        .unwrap();
    g.bench_function("ratelimit 0.10 try_wait (1 token)", |bch| bch.iter(|| black_box(rl.try_wait())));

    let mclock = async_speed_limit::clock::ManualClock::new();
    let asl = <async_speed_limit::Limiter<async_speed_limit::clock::ManualClock>>::builder(RATE as f64)
        .clock(mclock.clone())
        .build();
    let mut ns = 0u64;
    g.bench_function("async-speed-limit 0.4 consume_duration (manual clock)", |bch| {
        bch.iter(|| {
            ns += 1;
            mclock.set_time(async_speed_limit::clock::Nanoseconds(ns));
            black_box(asl.consume_duration(N as usize))
        })
    });

    // The granting path, with `std::hint::black_box` (see the module comment). 10 ns per call
    // refills ~1,074 bytes at 100 GiB/s, more than the 1,024 taken.
    let mut ba = Bucket::new(Limit::new(RATE, RATE), Time::ZERO).unwrap();
    let mut now_a = 0u64;
    g.bench_function("trimtab bucket try_acquire (1 bucket, admits, std black_box)", |bch| {
        bch.iter(|| {
            now_a += 10;
            let _ = std::hint::black_box(ba.try_acquire(std::hint::black_box(N), Time(now_a)));
        })
    });
    let mut ta =
        Throttle::new(ThrottleConfig { global: Limit::new(RATE, RATE), ..ThrottleConfig::default() }, Time::ZERO)
            .unwrap();
    let nodes_a: Vec<_> = (0..64).map(|i| ta.add_node(i, l, l, Time::ZERO).unwrap()).collect();
    let mut j = 0usize;
    g.bench_function("trimtab throttle try_acquire (out+in+global, admits, std black_box)", |bch| {
        bch.iter(|| {
            now_a += 10;
            j = (j + 7) & 63;
            let _ = std::hint::black_box(ta.try_acquire(
                nodes_a[j],
                nodes_a[(j + 1) & 63],
                std::hint::black_box(N),
                Time(now_a),
            ));
        })
    });
    // governor keeps its cell interval in whole nanoseconds (at least 1), so this quota is in
    // fact one cell per ns: 1,024 ns per call covers the 1,024 cells.
    let clock_a = governor::clock::FakeRelativeClock::default();
    let gov_a = governor::RateLimiter::direct_with_clock(q, clock_a.clone());
    g.bench_function("governor 0.10 check_n (fake manual clock, admits, std black_box)", |bch| {
        bch.iter(|| {
            clock_a.advance(Duration::from_nanos(1024));
            let _ = std::hint::black_box(gov_a.check_n(std::hint::black_box(NonZeroU32::new(N as u32).unwrap())));
        })
    });
    g.finish();
}

criterion_group!(benches, ours);
criterion_main!(benches);
