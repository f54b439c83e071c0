//! Placement benchmarks (issue 2, "Numbers to reach"), one core:
//!
//! * one PG's 3 replicas computed from scratch (`compute_pg`) on root → 10 racks × 50 hosts
//!   × 20 devices (10,000 devices) and on 10 racks × 5 hosts × 20 devices (1,000): ≤ 1 µs;
//! * the full table of 333,000 PGs × 3 (`Placement::compute`): ≤ 1 s;
//! * object name → 3 devices (`object_to_pg` + `pg_devices`): ≤ 100 ns; the table read alone
//!   (`pg_devices`): ≤ 20 ns;
//! * the balancer run to convergence on those 333,000 PGs (reported, no target).
//!
//! Before timing, it prints the memory of the placement against the budget (64 B per device
//! + 16 B per placed shard) and the balance before and after the balancer.
//!
//! Run: `cargo bench --bench placement`. The comparisons with Ceph's CRUSH and the flat
//! consistent-hashing crates are in `benches/peers`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use trimtab::placement::{compute_pg, BalancerConfig, Placement, Rule};
use trimtab::topology::{regular_cluster, Topology};

const CAPACITY: u64 = 4_000_000_000_000;
/// About 100 shards per device at 10,000 devices with 3 replicas.
const PGS_10K: u32 = 333_000;
const PGS_1K: u32 = 33_300;

fn tree(hosts_per_rack: usize) -> Topology {
    regular_cluster(&["rack", "host"], &[10, hosts_per_rack], 20, CAPACITY).expect("tree")
}

fn rule() -> Rule {
    Rule::replicated(3, "rack")
}

/// Object names shaped like RBD data objects.
fn names(count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| format!("rbd_data.10226b8b4567.{i:016x}").into_bytes()).collect()
}

fn print_balance(p: &Placement, label: &str) {
    let r = p.report();
    println!(
        "[{label}] max/mean shards per device {:.3}, min/mean {:.3}, stddev/mean {:.4}",
        r.shards.max_over_mean, r.shards.min_over_mean, r.shards.stddev_over_mean
    );
}

/// Memory against the budget (64 B per device + 16 B per placed shard). `memory_bytes` is a
/// total; two placements with different PG counts on the same map split it into a part per
/// shard (the slope) and a part per device (the rest).
fn print_memory(t: &Topology, p: &Placement, label: &str) {
    let devices = t.devices().len();
    let shards = p.report().placed_shards as f64;
    let mem = p.memory_bytes() as f64;
    let half = Placement::compute(t, p.rule(), p.pg_count() / 2).expect("placement");
    let half_shards = half.report().placed_shards as f64;
    let per_shard = (mem - half.memory_bytes() as f64) / (shards - half_shards);
    let per_device = (mem - per_shard * shards) / devices as f64;
    let budget = 64.0 * devices as f64 + 16.0 * shards;
    println!(
        "[{label}] memory_bytes {mem:.0} B for {devices} devices and {shards:.0} shards: {per_device:.1} B/device \
         (budget 64) + {per_shard:.1} B/shard (budget 16); total {:.0}% of the budget {budget:.0} B",
        100.0 * mem / budget
    );
}

fn figures() {
    for (hosts, pgs, label) in [(5, PGS_1K, "1k devices"), (50, PGS_10K, "10k devices")] {
        let t = tree(hosts);
        let mut p = Placement::compute(&t, &rule(), pgs).expect("placement");
        print_balance(&p, &format!("{label}, hashing only"));
        let start = std::time::Instant::now();
        let plan = p.balance(&t, &BalancerConfig::default(), 100_000).expect("balance");
        println!(
            "[{label}] balancer to convergence: {} moves in {:.3} s (one run, outside criterion)",
            plan.moved_shards,
            start.elapsed().as_secs_f64()
        );
        print_balance(&p, &format!("{label}, balanced"));
        print_memory(&t, &p, label);
    }
}

fn bench_compute_pg(c: &mut Criterion) {
    figures();
    let mut g = c.benchmark_group("compute_pg");
    g.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(1));
    for (hosts, pgs) in [(5usize, PGS_1K), (50, PGS_10K)] {
        let t = tree(hosts);
        let p = Placement::compute(&t, &rule(), pgs).expect("placement");
        let mut out = [0u32; 3];
        let mut pg = 0u32;
        g.bench_function(BenchmarkId::new("3 replicas across racks", t.devices().len()), |b| {
            b.iter(|| {
                pg = if pg + 1 == pgs { 0 } else { pg + 1 };
                compute_pg(black_box(&p), black_box(pg), &mut out).expect("pg");
                out[0]
            })
        });
    }
    g.finish();
}

fn bench_table(c: &mut Criterion) {
    let t = tree(50);
    let mut g = c.benchmark_group("placement_table");
    g.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(5));
    g.bench_function("compute 333000 PGs x 3, 10000 devices", |b| {
        b.iter(|| Placement::compute(black_box(&t), &rule(), PGS_10K).expect("placement"))
    });
    g.finish();
}

/// `Placement::object_to_pg` with jump consistent hash dividing in u64: `(b + 1) << 31` is
/// below 2^58 because `b < MAX_PGS = 2^26`, so the u128 division of `trimtab::hash` is not
/// needed. Benchmarked to size the gain; the library is not changed here.
fn object_to_pg_u64(p: &Placement, name: &[u8]) -> u32 {
    let mut key = trimtab::hash::hash_bytes(p.seed() ^ 0x6f62_6a65_6374, name);
    let buckets = p.pg_count() as u64;
    let (mut b, mut j) = (0u64, 0u64);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) << 31) / ((key >> 33) + 1);
    }
    b as u32
}

/// Ceph's `ceph_stable_mod` over the same name hash: O(1), but only splits one PG at a time
/// as the count grows (the other answer the issue names).
fn object_to_pg_stable_mod(p: &Placement, name: &[u8]) -> u32 {
    let x = trimtab::hash::hash_bytes(p.seed() ^ 0x6f62_6a65_6374, name) as u32;
    let b = p.pg_count();
    let mask = b.next_power_of_two() - 1;
    if x & mask < b {
        x & mask
    } else {
        x & (mask >> 1)
    }
}

fn bench_lookup(c: &mut Criterion) {
    let t = tree(50);
    let p = Placement::compute(&t, &rule(), PGS_10K).expect("placement");
    let names = names(4096);
    let mut g = c.benchmark_group("lookup");
    g.sample_size(30).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let mut i = 0usize;
    g.bench_function("object name -> 3 devices (object_to_pg + pg_devices)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let pg = p.object_to_pg(black_box(&names[i]));
            p.pg_devices(pg).expect("pg")[0]
        })
    });
    let mut i = 0usize;
    g.bench_function("object_to_pg alone", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            p.object_to_pg(black_box(&names[i]))
        })
    });
    // What `object_to_pg` would cost with its jump hash dividing in u64 instead of u128
    // (same results: the dividend is below 2^58 for any PG count up to MAX_PGS).
    for n in &names {
        assert_eq!(object_to_pg_u64(&p, n), p.object_to_pg(n), "the variant must agree");
    }
    let mut i = 0usize;
    g.bench_function("object_to_pg, variant with u64 division (proposal)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            object_to_pg_u64(&p, black_box(&names[i]))
        })
    });
    let mut i = 0usize;
    g.bench_function("object name -> PG with Ceph's stable_mod instead (for comparison)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            object_to_pg_stable_mod(&p, black_box(&names[i]))
        })
    });
    let mut pg = 0u32;
    g.bench_function("table read (pg_devices)", |b| {
        b.iter(|| {
            // A stride that walks the whole table, so reads are not all cache hits.
            pg = (pg + 7919) % PGS_10K;
            p.pg_devices(black_box(pg)).expect("pg")[0]
        })
    });
    g.finish();
}

/// The balancer to convergence from the hashing-only table: criterion at 1,000 devices;
/// at 10,000 devices (several seconds a run) it is timed once in `figures()`, and by
/// criterion only when `TRIMTAB_BENCH_BALANCE_10K=1`.
fn bench_balance(c: &mut Criterion) {
    let mut cases = vec![(5usize, PGS_1K)];
    if std::env::var_os("TRIMTAB_BENCH_BALANCE_10K").is_some() {
        cases.push((50, PGS_10K));
    }
    let cfg = BalancerConfig::default();
    let mut g = c.benchmark_group("balancer_to_convergence");
    g.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(3));
    for (hosts, pgs) in cases {
        let t = tree(hosts);
        let p = Placement::compute(&t, &rule(), pgs).expect("placement");
        g.bench_function(BenchmarkId::new(format!("{pgs} PGs x 3"), t.devices().len()), |b| {
            b.iter_batched(
                || p.clone(),
                |mut q| q.balance(&t, &cfg, 100_000).expect("balance").moved_shards,
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_compute_pg, bench_table, bench_lookup, bench_balance);
criterion_main!(benches);
