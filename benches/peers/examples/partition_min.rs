//! Minimum-of-N timings of the partition pipeline, less sensitive than criterion's mean to
//! other processes on a shared machine. Run:
//! cargo run --release --manifest-path benches/peers/Cargo.toml --example partition_min
use std::time::Instant;
use trimtab::partition::{NodeSpec, PartitionConfig, PartitionDetector};
use trimtab::Time;

fn detector(n: usize, reach: impl Fn(usize, usize) -> bool) -> PartitionDetector {
    let mut d = PartitionDetector::new(PartitionConfig::default()).unwrap();
    for id in 0..n as u64 {
        d.add_node(id, NodeSpec::default()).unwrap();
    }
    let mut peers = Vec::new();
    for a in 0..n {
        peers.clear();
        peers.extend((0..n).filter(|&b| a != b && reach(a, b)).map(|b| b as u64));
        d.report(a as u64, &peers, Time::from_secs(1)).unwrap();
    }
    d.tick(Time::from_secs(1));
    d
}

fn min_of(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    if std::env::var_os("ONLY_UPDATE").is_some() {
        let n = 1_000u64;
        let mut d = detector(n as usize, |_, _| true);
        let all: Vec<u64> = (1..n).collect();
        let fewer: Vec<u64> = (2..n).collect();
        for i in 0..200_000u64 {
            d.report(0, if i % 2 == 0 { &fewer } else { &all }, Time(2_000_000_000 + i)).unwrap();
            d.tick(Time(2_000_000_000 + i));
        }
        return;
    }
    for n in [1_000usize, 10_000] {
        let reps = if n > 1_000 { 15 } else { 300 };
        for (name, f) in [
            ("full_mesh", (|_, _| true) as fn(usize, usize) -> bool),
            ("split_halves", |a, b| a % 2 == b % 2),
            ("bridge", |a, b| a == 0 || b == 0 || a % 2 == b % 2),
        ] {
            let mut d = detector(n, f);
            let t = min_of(reps, || {
                d.analyze_from_scratch();
            });
            println!("full_pipeline {name:>12} n={n:>5}: {:>10.1} us", t * 1e6);
        }
    }
    let n = 1_000u64;
    let mut d = detector(n as usize, |_, _| true);
    let all: Vec<u64> = (1..n).collect();
    let fewer: Vec<u64> = (2..n).collect();
    let mut now = 2_000_000_000u64;
    let t = min_of(2_000, || {
        now += 1;
        d.report(0, &all, Time(now)).unwrap();
        d.tick(Time(now));
    });
    println!("update unchanged n=1000: {:.2} us", t * 1e6);
    let mut flip = false;
    let t = min_of(2_000, || {
        now += 1;
        flip = !flip;
        d.report(0, if flip { &fewer } else { &all }, Time(now)).unwrap();
        d.tick(Time(now));
    });
    println!("update changed   n=1000: {:.2} us", t * 1e6);
}
