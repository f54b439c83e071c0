//! Shared helpers for the peer benchmarks: the trees and PG counts both sides use, the
//! peers behind small wrappers (`crush` for Ceph's CRUSH through `crush-sys`, `flat` for
//! single-level consistent hashing), and the quality figures (balance and movement) that
//! `placement-report` prints.

pub mod crush;
pub mod flat;
pub mod story;

use trimtab::placement::Rule;
use trimtab::topology::{regular_cluster, DeviceSpec, Topology};

/// Capacity of every device of the hierarchical trees.
pub const DEVICE_BYTES: u64 = 4_000_000_000_000;

/// A hierarchical test case: root → `racks` racks × `hosts` hosts × `devices` devices, and
/// the PG count that puts about 100 shards on each device with 3 replicas.
#[derive(Debug, Clone, Copy)]
pub struct TreeCase {
    /// Racks under the root.
    pub racks: usize,
    /// Hosts per rack.
    pub hosts: usize,
    /// Devices per host.
    pub devices: usize,
    /// PGs in the pool.
    pub pgs: u32,
}

/// 1,000 devices: 10 racks × 5 hosts × 20 devices, 33,300 PGs × 3.
pub const TREE_1K: TreeCase = TreeCase { racks: 10, hosts: 5, devices: 20, pgs: 33_300 };
/// 10,000 devices: 10 racks × 50 hosts × 20 devices, 333,000 PGs × 3 (the case).
pub const TREE_10K: TreeCase = TreeCase { racks: 10, hosts: 50, devices: 20, pgs: 333_000 };

impl TreeCase {
    /// Total devices.
    pub fn device_count(&self) -> usize {
        self.racks * self.hosts * self.devices
    }
    /// The map (device ids dense from 0, rack `r` is `rack{r}`, its hosts `host{r}-{h}`).
    pub fn topology(&self) -> Topology {
        regular_cluster(&["rack", "host"], &[self.racks, self.hosts], self.devices, DEVICE_BYTES).expect("tree")
    }
    /// 3 replicas, no two in one rack.
    pub fn rule() -> Rule {
        Rule::replicated(3, "rack")
    }
    /// The same map with one more host (`devices` devices) under `rack0`, ids following
    /// the existing ones.
    pub fn with_added_host(&self, t: &Topology) -> Topology {
        let mut t = t.clone();
        let first = self.device_count() as u32;
        let host = format!("host0-{}", self.hosts);
        let specs = (0..self.devices as u32)
            .map(|k| DeviceSpec::new(first + k, DEVICE_BYTES).at(&[("rack", "rack0"), ("host", &host)]))
            .collect();
        t.add_devices(specs).expect("add host");
        t
    }
    /// The device marked out in the "one device out" scenario (one in the middle of the map).
    pub fn out_device(&self) -> u32 {
        (self.device_count() / 2 + 7) as u32
    }
}

/// Min and max of `counts` over their mean (entries are per node; all nodes weigh the same).
pub fn spread(counts: &[u64]) -> (f64, f64) {
    if counts.is_empty() {
        return (0.0, 0.0);
    }
    let total: u64 = counts.iter().sum();
    let mean = total as f64 / counts.len() as f64;
    let min = counts.iter().copied().min().unwrap_or(0) as f64;
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    (min / mean, max / mean)
}

/// Shards per device of a table with `n` entries per PG (negative or out-of-range ids are
/// holes), over `devices` device ids `0..devices`, keeping only the ids `keep` accepts.
pub fn counts(table: &[i64], devices: usize, keep: impl Fn(usize) -> bool) -> Vec<u64> {
    let mut c = vec![0u64; devices];
    for &d in table {
        if d >= 0 && (d as usize) < devices {
            c[d as usize] += 1;
        }
    }
    c.into_iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, v)| v).collect()
}

/// Replicated (set) movement between two tables with `n` entries per PG: how many shards of
/// `new` are on a device that did not hold the PG in `old`, how many of those landed on a
/// device below `old_devices` (that existed before), and the number of shards in `new`.
pub fn set_moves(old: &[i64], new: &[i64], n: usize, old_devices: i64) -> (u64, u64, u64) {
    let (mut moved, mut to_old, mut total) = (0u64, 0u64, 0u64);
    for (o, w) in old.chunks_exact(n).zip(new.chunks_exact(n)) {
        for &d in w {
            if d < 0 {
                continue;
            }
            total += 1;
            if !o.contains(&d) {
                moved += 1;
                if d < old_devices {
                    to_old += 1;
                }
            }
        }
    }
    (moved, to_old, total)
}

/// Best-of-`runs` nanoseconds per call of `f` over `iters` consecutive inputs (a quick
/// figure for the report; the criterion benchmarks are the careful ones).
pub fn quick_ns(runs: usize, iters: u64, mut f: impl FnMut(u64) -> u64) -> f64 {
    let mut best = f64::INFINITY;
    let mut sink = 0u64;
    for r in 0..runs {
        let start = std::time::Instant::now();
        for i in 0..iters {
            sink = sink.wrapping_add(f(std::hint::black_box(i.wrapping_add(r as u64 * iters))));
        }
        let ns = start.elapsed().as_nanos() as f64 / iters as f64;
        best = best.min(ns);
    }
    std::hint::black_box(sink);
    best
}
