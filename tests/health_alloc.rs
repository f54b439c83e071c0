//! The failure detector's steady state allocates nothing: heartbeats and ticks over
//! many nodes, after the nodes were added, make no heap allocation (counted with
//! tests/support/counting_alloc.rs). Also checks the per-node memory bound of 2 KiB.

use trimtab::health::{DetectorConfig, FailureDetector};
use trimtab::time::{NANOS_PER_MILLI, NANOS_PER_SEC};
use trimtab::Time;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[test]
fn steady_state_heartbeats_and_ticks_do_not_allocate_and_nodes_fit_in_2_kib() {
    counting_alloc::count_this_thread();
    let nodes = 2_000u64;
    let cfg = DetectorConfig { capacity: nodes as usize, window: 256, ..Default::default() };
    let before_new = counting_alloc::bytes();
    let mut d = FailureDetector::new(cfg).unwrap();
    for n in 0..nodes {
        d.add_node(n, Time::ZERO).unwrap();
    }
    let per_node = (counting_alloc::bytes() - before_new) / nodes;
    // Window of 256 u32 (1 KiB), the node record, its slot, its map entry and its timer.
    assert!((1024..=2048).contains(&per_node), "{per_node} bytes per node");

    // Warm up: every node heartbeats at 1 s for a minute, with a little jitter.
    let mut now = 0u64;
    let run = |d: &mut FailureDetector, secs: u64, now: &mut u64| {
        for s in 0..secs {
            for n in 0..nodes {
                let t = *now + s * NANOS_PER_SEC + (n % 500) * NANOS_PER_MILLI;
                d.heartbeat(n, Time(t)).unwrap();
                if n % 100 == 0 {
                    d.tick(Time(t));
                }
            }
            while d.poll_event().is_some() {}
        }
        *now += secs * NANOS_PER_SEC;
    };
    run(&mut d, 60, &mut now);
    let allocs = counting_alloc::allocs();
    run(&mut d, 120, &mut now);
    assert_eq!(counting_alloc::allocs(), allocs, "allocations in steady state");
}
