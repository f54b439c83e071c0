//! Partition detection: ours against a naive bitset baseline (the one in ANCHORS.md: an
//! O(n^2) bit-by-bit mutual-graph build and a plain bitset BFS) and petgraph's union-find,
//! at 1k and 10k nodes, full mesh and split shapes, plus a single-report update in a stable
//! 1k-node cluster.
//!
//! Run: cargo bench --manifest-path benches/peers/Cargo.toml --bench partition

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use petgraph::unionfind::UnionFind;
use std::time::Duration;
use trimtab::partition::{NodeSpec, PartitionConfig, PartitionDetector};
use trimtab::Time;

/// Who reaches whom: `full` mesh, or `split` into two interleaved halves (node i on side
/// i % 2, the worst layout for word-skipping), or `bridge` (two halves and a bridge node 0).
#[derive(Clone, Copy)]
enum Shape {
    Full,
    Split,
    Bridge,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Full => "full_mesh",
            Shape::Split => "split_halves",
            Shape::Bridge => "bridge",
        }
    }
    fn reaches(self, a: usize, b: usize) -> bool {
        a != b
            && match self {
                Shape::Full => true,
                Shape::Split => a % 2 == b % 2,
                Shape::Bridge => a == 0 || b == 0 || a % 2 == b % 2,
            }
    }
}

fn words(n: usize) -> usize {
    n.div_ceil(64)
}

fn reach_rows(n: usize, shape: Shape) -> Vec<u64> {
    let w = words(n);
    let mut m = vec![0u64; n * w];
    for a in 0..n {
        for b in 0..n {
            if shape.reaches(a, b) {
                m[a * w + b / 64] |= 1 << (b % 64);
            }
        }
    }
    m
}

fn detector(n: usize, shape: Shape) -> PartitionDetector {
    let mut d = PartitionDetector::new(PartitionConfig::default()).unwrap();
    for id in 0..n as u64 {
        d.add_node(id, NodeSpec::default()).unwrap();
    }
    let t = Time::from_secs(1);
    let mut peers = Vec::with_capacity(n);
    for a in 0..n {
        peers.clear();
        peers.extend((0..n).filter(|&b| shape.reaches(a, b)).map(|b| b as u64));
        d.report(a as u64, &peers, t).unwrap();
    }
    d.tick(t);
    d
}

/// The naive baseline: mutual[i][j] = reach[i][j] && reach[j][i], bit by bit.
fn naive_mutual(reach: &[u64], n: usize) -> Vec<u64> {
    let w = words(n);
    let mut m = vec![0u64; n * w];
    for i in 0..n {
        for j in 0..n {
            let ij = reach[i * w + j / 64] >> (j % 64) & 1;
            let ji = reach[j * w + i / 64] >> (i % 64) & 1;
            m[i * w + j / 64] |= (ij & ji) << (j % 64);
        }
    }
    m
}

/// The naive baseline: BFS whose frontier ORs whole rows.
#[allow(clippy::needless_range_loop)]
fn naive_components(m: &[u64], n: usize) -> Vec<u32> {
    let w = words(n);
    let mut label = vec![u32::MAX; n];
    let mut visited = vec![0u64; w];
    let mut next = 0u32;
    for s in 0..n {
        if label[s] != u32::MAX {
            continue;
        }
        let mut frontier = vec![0u64; w];
        frontier[s / 64] |= 1 << (s % 64);
        visited[s / 64] |= 1 << (s % 64);
        while frontier.iter().any(|&x| x != 0) {
            let mut nf = vec![0u64; w];
            for wi in 0..w {
                let mut x = frontier[wi];
                while x != 0 {
                    let v = wi * 64 + x.trailing_zeros() as usize;
                    x &= x - 1;
                    label[v] = next;
                    for k in 0..w {
                        nf[k] |= m[v * w + k];
                    }
                }
            }
            for k in 0..w {
                nf[k] &= !visited[k];
                visited[k] |= nf[k];
            }
            frontier = nf;
        }
        next += 1;
    }
    label
}

/// petgraph's union-find over the mutual edges (enumerated from the bitset rows).
fn petgraph_components(m: &[u64], n: usize) -> Vec<usize> {
    let w = words(n);
    let mut uf = UnionFind::<usize>::new(n);
    for i in 0..n {
        for wi in i / 64..w {
            let mut x = m[i * w + wi];
            if wi == i / 64 {
                x &= !((2u64 << (i % 64)) - 1);
            }
            while x != 0 {
                let j = wi * 64 + x.trailing_zeros() as usize;
                x &= x - 1;
                uf.union(i, j);
            }
        }
    }
    uf.into_labeling()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("partition");
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    for n in [1_000usize, 10_000] {
        for shape in [Shape::Full, Shape::Split, Shape::Bridge] {
            let label = format!("{}/{n}", shape.name());
            let mut d = detector(n, shape);
            // Everything: transpose, mutual graph, components, quorum, leader viability,
            // largest fully connected group, partial pairs, the picture.
            g.bench_function(BenchmarkId::new("ours_full_pipeline", &label), |b| {
                b.iter(|| black_box(d.analyze_from_scratch().components.len()))
            });
            let reach = reach_rows(n, shape);
            let mutual = naive_mutual(&reach, n);
            if n <= 1_000 || matches!(shape, Shape::Full) {
                g.bench_function(BenchmarkId::new("naive_mutual_build", &label), |b| {
                    b.iter(|| black_box(naive_mutual(black_box(&reach), n)))
                });
            }
            g.bench_function(BenchmarkId::new("naive_bitset_components", &label), |b| {
                b.iter(|| black_box(naive_components(black_box(&mutual), n)))
            });
            if n <= 1_000 || !matches!(shape, Shape::Full) {
                g.bench_function(BenchmarkId::new("petgraph_unionfind_components", &label), |b| {
                    b.iter(|| black_box(petgraph_components(black_box(&mutual), n)))
                });
            }
        }
    }

    // One node's report in a stable 1k-node full mesh: unchanged (a refresh), and changed
    // (one link dropped and restored, alternately), each followed by the tick that
    // recomputes the picture.
    let n = 1_000u64;
    let mut d = detector(n as usize, Shape::Full);
    let all: Vec<u64> = (1..n).collect();
    let fewer: Vec<u64> = (2..n).collect();
    let mut t = 1_000_000_000u64;
    g.bench_function("update_one_report_unchanged/1000", |b| {
        b.iter(|| {
            t += 1;
            d.report(0, &all, Time(t)).unwrap();
            d.tick(Time(t));
        })
    });
    let mut flip = false;
    g.bench_function("update_one_report_changed/1000", |b| {
        b.iter(|| {
            t += 1;
            flip = !flip;
            d.report(0, if flip { &fewer } else { &all }, Time(t)).unwrap();
            d.tick(Time(t));
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
