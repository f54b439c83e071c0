//! The quality figures (balance and movement) and quick timings that `placement-report`
//! prints: computed once, not timed by criterion.

use std::time::Instant;

use trimtab::placement::{compute_pg, BalancerConfig, Placement, UpdatePolicy};
use trimtab::topology::{DeviceSpec, Topology, NO_DEVICE};

use crate::crush::{Crush, CrushIds};
use crate::flat::{self, AddNode, FlatPeer, TrimtabFlat};
use crate::{counts, quick_ns, set_moves, spread, TreeCase};

/// Balancer rounds allowed when running "to convergence".
pub const MAX_ROUNDS: usize = 100_000;

/// A placement's table as signed ids (`-1` for a hole).
pub fn trimtab_table(p: &Placement) -> Vec<i64> {
    let mut v = Vec::with_capacity(p.pg_count() as usize * p.shards_per_pg());
    for pg in 0..p.pg_count() {
        for &d in p.pg_row(pg).expect("pg") {
            v.push(if d == NO_DEVICE { -1 } else { d as i64 });
        }
    }
    v
}

/// The base table (no exceptions) of a placement.
pub fn trimtab_base(p: &Placement) -> Vec<i64> {
    let mut v = Vec::with_capacity(p.pg_count() as usize * p.shards_per_pg());
    for pg in 0..p.pg_count() {
        for &d in p.pg_base(pg).expect("pg") {
            v.push(if d == NO_DEVICE { -1 } else { d as i64 });
        }
    }
    v
}

fn crush_table(c: &mut Crush, pgs: u32) -> Vec<i64> {
    c.table(pgs).into_iter().map(|d| if d == sys_none() { -1 } else { d as i64 }).collect()
}

fn sys_none() -> i32 {
    crush_sys::CRUSH_ITEM_NONE as i32
}

fn usable(t: &Topology) -> impl Fn(usize) -> bool + '_ {
    move |id| t.device(id as u32).is_some_and(|d| d.accepts_data())
}

/// One movement figure: moved fraction, its ratio to the optimum, and the share of moved
/// shards that landed on devices that existed before.
#[derive(Debug, Clone, Copy)]
pub struct Moved {
    /// Moved shards over shards placed after the change.
    pub fraction: f64,
    /// `fraction / optimal`.
    pub over_optimal: f64,
    /// Moved shards landing on devices that existed before the change, over moved shards.
    pub to_old_devices: f64,
}

fn moved(old: &[i64], new: &[i64], n: usize, old_devices: i64, optimal: f64) -> Moved {
    let (m, to_old, total) = set_moves(old, new, n, old_devices);
    let fraction = m as f64 / total.max(1) as f64;
    Moved {
        fraction,
        over_optimal: fraction / optimal,
        to_old_devices: if m == 0 { 0.0 } else { to_old as f64 / m as f64 },
    }
}

/// Everything measured on one hierarchical case.
#[derive(Debug, Clone)]
pub struct TreeFigures {
    /// The case.
    pub case: TreeCase,
    /// ns per PG: CRUSH `crush_do_rule` with the workspace initialized per call (Ceph).
    pub crush_ns: f64,
    /// ns per PG: CRUSH with the workspace initialized once.
    pub crush_noinit_ns: f64,
    /// ns per PG: trimtab `compute_pg` (from scratch).
    pub trimtab_compute_ns: f64,
    /// ns per PG: trimtab table read (`pg_devices`).
    pub trimtab_read_ns: f64,
    /// ns: object name → 3 devices (`object_to_pg` + `pg_devices`).
    pub trimtab_object_ns: f64,
    /// max over mean shards per device: CRUSH.
    pub crush_max: f64,
    /// trimtab's base mapping (hashing alone).
    pub trimtab_base_max: f64,
    /// trimtab after the balancer.
    pub trimtab_balanced_max: f64,
    /// trimtab after the balancer: min over mean.
    pub trimtab_balanced_min: f64,
    /// Seconds for the balancer to converge from the base mapping, and its moves.
    pub balance_secs: f64,
    /// Shards the initial balancer moved.
    pub balance_moves: u64,
    /// Optimal fraction for the host addition.
    pub host_optimal: f64,
    /// CRUSH on the host addition.
    pub crush_host: Moved,
    /// trimtab's base mapping alone (`UpdatePolicy::Rehash`) on the host addition.
    pub trimtab_rehash_host: Moved,
    /// trimtab Pin + balance: every move counted (update and balancer rounds).
    pub trimtab_host_all: f64,
    /// trimtab Pin + balance: net shards that changed device, over optimal.
    pub trimtab_host_net: Moved,
    /// trimtab max over mean after the host addition and balance.
    pub trimtab_host_max: f64,
    /// Optimal fraction for one device out.
    pub out_optimal: f64,
    /// CRUSH on one device out.
    pub crush_out: Moved,
    /// trimtab Rehash on one device out.
    pub trimtab_rehash_out: Moved,
    /// trimtab Pin + balance on one device out, every move counted, over optimal.
    pub trimtab_out_all: f64,
    /// trimtab Pin + balance on one device out, net.
    pub trimtab_out_net: Moved,
    /// trimtab max over mean after the device out and balance.
    pub trimtab_out_max: f64,
    /// `Placement::memory_bytes()` of the balanced placement.
    pub memory_bytes: usize,
}

/// Runs the hierarchical scenarios on one case (CRUSH and trimtab on the same map and PGs).
pub fn tree(case: TreeCase, timing_iters: u64) -> TreeFigures {
    let rule = TreeCase::rule();
    let n = 3usize;
    let t0 = case.topology();
    let t_host = case.with_added_host(&t0);
    let mut t_out = t0.clone();
    t_out.mark_out(case.out_device()).expect("mark out");
    let old_devices = case.device_count() as i64;

    // CRUSH: the same maps, bucket ids stable across them.
    let mut ids = CrushIds::default();
    let mut c0 = Crush::from_topology(&t0, "rack", n, &mut ids);
    let mut c_host = Crush::from_topology(&t_host, "rack", n, &mut ids.clone());
    let mut c_out = Crush::from_topology(&t_out, "rack", n, &mut ids.clone());
    let pgs = case.pgs;
    let mut out = [0i32; 3];
    let crush_ns = quick_ns(3, timing_iters, |i| c0.map_pg((i % pgs as u64) as u32, &mut out) as u64);
    c0.init_workspace();
    let crush_noinit_ns =
        quick_ns(3, timing_iters, |i| c0.do_rule(Crush::pps((i % pgs as u64) as u32) as i32, &mut out, false) as u64);
    let ct0 = crush_table(&mut c0, pgs);
    let ct_host = crush_table(&mut c_host, pgs);
    let ct_out = crush_table(&mut c_out, pgs);
    let crush_max = spread(&counts(&ct0, case.device_count(), |_| true)).1;

    // trimtab.
    let base = Placement::compute(&t0, &rule, pgs).expect("placement");
    let mut buf = [0u32; 3];
    let trimtab_compute_ns =
        quick_ns(3, timing_iters, |i| compute_pg(&base, (i % pgs as u64) as u32, &mut buf).unwrap_or(0) as u64);
    let trimtab_read_ns = quick_ns(5, 10_000_000, |i| {
        base.pg_devices((i.wrapping_mul(0x9e37_79b9) % pgs as u64) as u32).map_or(0, |d| d[0] as u64)
    });
    let trimtab_object_ns = quick_ns(5, 2_000_000, |i| {
        let pg = base.object_to_pg(&i.to_le_bytes());
        base.pg_devices(pg).map_or(0, |d| d[0] as u64)
    });
    let bt0 = trimtab_table(&base);
    let trimtab_base_max = spread(&counts(&bt0, case.device_count(), |_| true)).1;
    let cfg = BalancerConfig::default();
    let mut bal = base.clone();
    let start = Instant::now();
    let plan = bal.balance(&t0, &cfg, MAX_ROUNDS).expect("balance");
    let balance_secs = start.elapsed().as_secs_f64();
    let balance_moves = plan.moved_shards;
    let tb0 = trimtab_table(&bal);
    let (trimtab_balanced_min, trimtab_balanced_max) = spread(&counts(&tb0, case.device_count(), |_| true));
    let memory_bytes = bal.memory_bytes();

    // Host added under rack0.
    let mut q = bal.clone();
    let a = q.update(&t_host, UpdatePolicy::Pin).expect("update");
    let b = q.balance(&t_host, &cfg, MAX_ROUNDS).expect("balance");
    let host_optimal = a.optimal_fraction;
    let dev_host = case.device_count() + case.devices;
    let trimtab_host_max = spread(&counts(&trimtab_table(&q), dev_host, |_| true)).1;
    let trimtab_host_all = (a.moved_shards + b.moved_shards) as f64 / a.total_shards as f64 / host_optimal;
    let trimtab_host_net = moved(&tb0, &trimtab_table(&q), n, old_devices, host_optimal);
    let trimtab_rehash_host = moved(&bt0, &trimtab_base(&q), n, old_devices, host_optimal);
    let crush_host = moved(&ct0, &ct_host, n, old_devices, host_optimal);

    // One device out.
    let mut q = bal.clone();
    let a = q.update(&t_out, UpdatePolicy::Pin).expect("update");
    let b = q.balance(&t_out, &cfg, MAX_ROUNDS).expect("balance");
    let out_optimal = a.optimal_fraction;
    let trimtab_out_max = spread(&counts(&trimtab_table(&q), case.device_count(), usable(&t_out))).1;
    let trimtab_out_all = (a.moved_shards + b.moved_shards) as f64 / a.total_shards as f64 / out_optimal;
    let trimtab_out_net = moved(&tb0, &trimtab_table(&q), n, old_devices, out_optimal);
    let trimtab_rehash_out = moved(&bt0, &trimtab_base(&q), n, old_devices, out_optimal);
    let crush_out = moved(&ct0, &ct_out, n, old_devices, out_optimal);

    TreeFigures {
        case,
        crush_ns,
        crush_noinit_ns,
        trimtab_compute_ns,
        trimtab_read_ns,
        trimtab_object_ns,
        crush_max,
        trimtab_base_max,
        trimtab_balanced_max,
        trimtab_balanced_min,
        balance_secs,
        balance_moves,
        host_optimal,
        crush_host,
        trimtab_rehash_host,
        trimtab_host_all,
        trimtab_host_net,
        trimtab_host_max,
        out_optimal,
        crush_out,
        trimtab_rehash_out,
        trimtab_out_all,
        trimtab_out_net,
        trimtab_out_max,
        memory_bytes,
    }
}

/// One row of the flat comparison.
#[derive(Debug, Clone)]
pub struct FlatRow {
    /// Who.
    pub name: String,
    /// ns per lookup (quick figure).
    pub ns: f64,
    /// max over mean at 100 keys (or PGs) per node; `None` when too slow to compute.
    pub max_over_mean: Option<f64>,
    /// Moved fraction over the optimum `1/(n+1)` when one node is added.
    pub moved_over_optimal: Option<f64>,
    /// What the row counts.
    pub note: String,
}

fn peer_row<P: AddNode>(mut p: P, n: usize, keys: u64, iters: u64, quality: bool) -> FlatRow {
    let ns = quick_ns(3, iters, |i| p.lookup(i.wrapping_mul(0x2545_f491_4f6c_dd1d)) as u64);
    let name = p.name().to_string();
    if !quality {
        return FlatRow {
            name,
            ns,
            max_over_mean: None,
            moved_over_optimal: None,
            note: "quality skipped: every lookup scores and sorts all nodes (10^10 hashes)".into(),
        };
    }
    let before: Vec<u32> = (0..keys).map(|k| p.lookup(k)).collect();
    let mut c = vec![0u64; n];
    for &d in &before {
        c[d as usize] += 1;
    }
    let max = spread(&c).1;
    p.add_node();
    let moved = (0..keys).filter(|&k| p.lookup(k) != before[k as usize]).count();
    let optimal = 1.0 / (n as f64 + 1.0);
    FlatRow {
        name,
        ns,
        max_over_mean: Some(max),
        moved_over_optimal: Some(moved as f64 / keys as f64 / optimal),
        note: format!("{keys} keys"),
    }
}

/// The flat comparison at `n` nodes (100 keys per node), trimtab rows last.
pub fn flat(n: usize) -> Vec<FlatRow> {
    let keys = 100 * n as u64;
    let mut rows = Vec::new();
    let rv_iters = (20_000_000 / n as u64).clamp(100, 200_000);
    rows.push(peer_row(flat::Rendezvous::new(n), n, keys, rv_iters, n <= 1000));
    rows.push(peer_row(flat::Jump::new(n), n, keys, 2_000_000, true));
    rows.push(peer_row(flat::Anchor::new(n), n, keys, 2_000_000, true));
    rows.push(peer_row(flat::Ring::new(n), n, keys, 2_000_000, true));

    // trimtab: n devices under the root, 100 PGs per device, 1 shard per PG.
    let tf = TrimtabFlat::new(n, 100);
    let pgs = tf.placement.pg_count();
    let read_ns = quick_ns(3, 2_000_000, |i| tf.lookup(i.wrapping_mul(0x2545_f491_4f6c_dd1d)) as u64);
    let mut buf = [0u32; 1];
    let compute_ns = quick_ns(3, (20_000_000 / n as u64).max(1000), |i| {
        compute_pg(&tf.placement, (i % pgs as u64) as u32, &mut buf).unwrap_or(0) as u64
    });
    let s = trimtab_flat_story(&tf.topology, tf.placement.clone(), n, keys);
    rows.push(FlatRow {
        name: "trimtab, hashing only (Rehash)".into(),
        ns: compute_ns,
        max_over_mean: Some(s.base_max),
        moved_over_optimal: Some(s.rehash),
        note: format!("{pgs} PGs; ns = compute_pg from scratch (straw2 over all n)"),
    });
    rows.push(FlatRow {
        name: "trimtab, balanced (Pin + balance)".into(),
        ns: read_ns,
        max_over_mean: Some(s.balanced_max),
        moved_over_optimal: Some(s.pin_all),
        note: format!("{pgs} PGs; ns = object_to_pg + table read; {keys} keys via PGs: max/mean {:.3}", s.key_max),
    });
    // The same with 99.9 PGs per node: the balanced loads then do not sit on the edge of
    // the ±1 PG band, and a tiny shift of the target does not push them out of it.
    let pgs2 = (n as u32 * 999).div_ceil(10);
    let p2 = Placement::compute(&tf.topology, &TrimtabFlat::rule(), pgs2).expect("placement");
    let s2 = trimtab_flat_story(&tf.topology, p2, n, 0);
    rows.push(FlatRow {
        name: "trimtab, balanced, 99.9 PGs/node".into(),
        ns: read_ns,
        max_over_mean: Some(s2.balanced_max),
        moved_over_optimal: Some(s2.pin_all),
        note: format!("{pgs2} PGs (non-integer target per node)"),
    });
    rows
}

struct FlatStory {
    base_max: f64,
    balanced_max: f64,
    key_max: f64,
    pin_all: f64,
    rehash: f64,
}

/// trimtab's flat story from a fresh placement on `t` (devices `0..n`): balance, add device
/// `n`, update with Pin, balance again; `keys` keys go through the balanced table.
fn trimtab_flat_story(t: &Topology, p: Placement, n: usize, keys: u64) -> FlatStory {
    let base = trimtab_table(&p);
    let base_max = spread(&counts(&base, n, |_| true)).1;
    let cfg = BalancerConfig::default();
    let mut bal = p;
    bal.balance(t, &cfg, MAX_ROUNDS).expect("balance");
    let balanced_max = spread(&counts(&trimtab_table(&bal), n, |_| true)).1;
    // Keys through the balanced table (object → PG → device).
    let mut kc = vec![0u64; n];
    for k in 0..keys {
        let pg = bal.object_to_pg(&k.to_le_bytes());
        if let Some(&d) = bal.pg_devices(pg).ok().and_then(|d| d.first()) {
            kc[d as usize] += 1;
        }
    }
    let key_max = if keys == 0 { 0.0 } else { spread(&kc).1 };
    let mut t1 = t.clone();
    t1.add_devices(vec![DeviceSpec::new(n as u32, flat::NODE_BYTES)]).expect("add node");
    let mut q = bal;
    let a = q.update(&t1, UpdatePolicy::Pin).expect("update");
    let b = q.balance(&t1, &cfg, MAX_ROUNDS).expect("balance");
    let optimal = 1.0 / (n as f64 + 1.0);
    let pin_all = (a.moved_shards + b.moved_shards) as f64 / a.total_shards as f64 / optimal;
    let rehash = moved(&base, &trimtab_base(&q), 1, n as i64, optimal).over_optimal;
    FlatStory { base_max, balanced_max, key_max, pin_all, rehash }
}
