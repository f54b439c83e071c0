//! The failure detector's steady state allocates nothing: heartbeats and ticks over
//! many nodes, after the nodes were added, make no heap allocation (counted with a
//! counting global allocator, which only this test binary uses). Also checks the per-node
//! memory bound of 2 KiB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use trimtab::health::{DetectorConfig, FailureDetector};
use trimtab::time::{NANOS_PER_MILLI, NANOS_PER_SEC};
use trimtab::Time;

struct Counting;

thread_local! {
    /// Only the test's own thread counts: the harness's threads (output capture, the
    /// "running for over 60 seconds" warning on a loaded machine) allocate on their own
    /// schedule.
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn counted() -> bool {
    COUNTED.try_with(|c| c.get()).unwrap_or(false)
}

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_heartbeats_and_ticks_do_not_allocate_and_nodes_fit_in_2_kib() {
    COUNTED.with(|c| c.set(true));
    let nodes = 2_000u64;
    let cfg = DetectorConfig { capacity: nodes as usize, window: 256, ..Default::default() };
    let before_new = BYTES.load(Ordering::Relaxed);
    let mut d = FailureDetector::new(cfg).unwrap();
    for n in 0..nodes {
        d.add_node(n, Time::ZERO).unwrap();
    }
    let per_node = (BYTES.load(Ordering::Relaxed) - before_new) / nodes;
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
    let allocs = ALLOCS.load(Ordering::Relaxed);
    run(&mut d, 120, &mut now);
    assert_eq!(ALLOCS.load(Ordering::Relaxed), allocs, "allocations in steady state");
}
