//! The throttle's checks allocate nothing: once the nodes are added, every per-transfer call
//! (node lookup, `try_acquire`, `acquire_up_to`, `available`, `reserve`, `ready_at`,
//! `refund`, refused and oversized checks included) makes no heap allocation, counted with
//! tests/support/counting_alloc.rs.

use trimtab::throttle::{Bucket, Limit, Throttle, ThrottleConfig};
use trimtab::Time;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[test]
fn checks_do_not_allocate() {
    counting_alloc::count_this_thread();
    let g = Limit::new(10 << 30, 1 << 30);
    let mut t = Throttle::new(ThrottleConfig { global: g, ..ThrottleConfig::default() }, Time::ZERO).unwrap();
    let l = Limit::new(1 << 30, 64 << 20);
    // Small ids (array lookup) and large ones (hash lookup).
    let ids: Vec<u32> = (0..32u32).chain((0..32).map(|i| 1_000_000 + i)).collect();
    for &id in &ids {
        t.add_node(id, l, l, Time::ZERO).unwrap();
    }
    let mut b = Bucket::new(l, Time::ZERO).unwrap();

    let before = counting_alloc::allocs();
    let mut now = 0u64;
    let (mut granted, mut refused, mut oversized) = (0u64, 0u64, 0u64);
    for k in 0..200_000u64 {
        now += 7_919;
        let from = t.node(ids[(k % 64) as usize]).unwrap();
        let to = t.node(ids[((k * 7 + 1) % 64) as usize]).unwrap();
        let n = (k * 2_654_435_761) % (80 << 20); // sometimes above the 64 MiB burst
        match t.try_acquire(from, to, n, Time(now)) {
            Ok(true) => granted += 1,
            Ok(false) => refused += 1,
            Err(_) => oversized += 1,
        }
        let _ = t.acquire_up_to(from, to, n, Time(now));
        let _ = t.available(from, to, Time(now));
        let _ = t.ready_at(from, to, n, Time(now));
        if k % 1_000 == 0 {
            let _ = t.reserve(from, to, n, Time(now));
            let _ = t.refund(from, to, n / 2);
        }
        let _ = b.try_acquire(n % (64 << 20), Time(now));
        let _ = b.acquire_up_to(n, Time(now));
        // Time going backwards is a no-op, not an error and not an allocation.
        let _ = b.available(Time(now / 2));
    }
    let allocs = counting_alloc::allocs() - before;
    assert_eq!(allocs, 0, "{allocs} allocations in the steady state");
    assert!(granted > 0 && refused > 0 && oversized > 0, "{granted} granted, {refused} refused, {oversized} oversized");
}
