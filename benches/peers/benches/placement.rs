//! Timings, trimtab against its peers, on the same maps and PGs:
//!
//! * `tree_pg/<devices>`: one PG's 3 replicas across racks on root → 10 racks × {5, 50}
//!   hosts × 20 devices: Ceph's CRUSH (`crush_do_rule` through `crush-sys`, workspace
//!   initialized per call as `CrushWrapper::do_rule` does), trimtab `compute_pg` (from
//!   scratch) and trimtab's table read (`pg_devices`, what a running cluster does).
//! * `flat/<nodes>`: key → node over 100, 1,000 and 10,000 equal nodes: `rendezvous_hash`,
//!   `jump-consistent-hash`, `anchorhash`, `hashring` (100 virtual nodes), and trimtab on a
//!   flat tree (object name → PG → device through the table; and `compute_pg` from scratch).
//!
//! The quality figures (balance, movement) are not timings: they come from
//! `cargo run --release --manifest-path benches/peers/Cargo.toml --bin placement-report`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use trimtab::placement::{compute_pg, Placement};
use trimtab_peers::crush::{Crush, CrushIds};
use trimtab_peers::flat::{self, FlatPeer, TrimtabFlat};
use trimtab_peers::{TreeCase, TREE_10K, TREE_1K};

fn configure(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
}

fn bench_tree(c: &mut Criterion) {
    println!("quality figures (balance, movement): cargo run --release --manifest-path benches/peers/Cargo.toml --bin placement-report");
    for case in [TREE_1K, TREE_10K] {
        let t = case.topology();
        let devices = case.device_count();
        let pgs = case.pgs;
        let mut crush = Crush::from_topology(&t, "rack", 3, &mut CrushIds::default());
        let p = Placement::compute(&t, &TreeCase::rule(), pgs).expect("placement");
        let mut g = c.benchmark_group(format!("tree_pg/{devices}"));
        configure(&mut g);
        let mut pg = 0u32;
        let mut out = [0i32; 3];
        g.bench_function(BenchmarkId::new("ceph_crush_do_rule", devices), |b| {
            b.iter(|| {
                pg = if pg + 1 == pgs { 0 } else { pg + 1 };
                crush.map_pg(black_box(pg), &mut out);
                out[0]
            })
        });
        let mut pg = 0u32;
        let mut buf = [0u32; 3];
        g.bench_function(BenchmarkId::new("trimtab_compute_pg", devices), |b| {
            b.iter(|| {
                pg = if pg + 1 == pgs { 0 } else { pg + 1 };
                compute_pg(black_box(&p), black_box(pg), &mut buf).expect("pg");
                buf[0]
            })
        });
        let mut pg = 0u32;
        g.bench_function(BenchmarkId::new("trimtab_table_read", devices), |b| {
            b.iter(|| {
                pg = (pg + 7919) % pgs;
                p.pg_devices(black_box(pg)).expect("pg")[0]
            })
        });
        g.finish();
    }
}

fn lookup<P: FlatPeer>(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str, n: usize, p: &P) {
    let mut k = 0u64;
    g.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter(|| {
            k = k.wrapping_add(0x2545_f491_4f6c_dd1d);
            p.lookup(black_box(k))
        })
    });
}

fn bench_flat(c: &mut Criterion) {
    for n in [100usize, 1000, 10_000] {
        let mut g = c.benchmark_group(format!("flat/{n}"));
        configure(&mut g);
        if n >= 1000 {
            g.sample_size(10);
        }
        lookup(&mut g, "rendezvous_hash", n, &flat::Rendezvous::new(n));
        if n >= 1000 {
            g.sample_size(20);
        }
        lookup(&mut g, "jump_consistent_hash", n, &flat::Jump::new(n));
        lookup(&mut g, "anchorhash", n, &flat::Anchor::new(n));
        lookup(&mut g, "hashring_100_vnodes", n, &flat::Ring::new(n));
        let tf = TrimtabFlat::new(n, 100);
        lookup(&mut g, "trimtab_object_to_device", n, &tf);
        let pgs = tf.placement.pg_count();
        let mut pg = 0u32;
        let mut buf = [0u32; 1];
        g.bench_function(BenchmarkId::new("trimtab_compute_pg", n), |b| {
            b.iter(|| {
                pg = if pg + 1 == pgs { 0 } else { pg + 1 };
                compute_pg(black_box(&tf.placement), black_box(pg), &mut buf).expect("pg");
                buf[0]
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_tree, bench_flat);
criterion_main!(benches);
