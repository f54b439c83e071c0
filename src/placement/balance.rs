//! The balancer, and the repair step of a map update.
//!
//! Both work on loads and achievable targets (`load.rs`). The balancer repeatedly takes the
//! device furthest from its target and moves one shard between it and a device on the other
//! side of its target, choosing the pair that keeps the failure-domain rule, never lands on a
//! device above the full ratio, and reduces the spread (for bytes, the shard whose size best
//! halves the gap). Among valid moves it prefers one that returns a shard to its base device,
//! which deletes an exception instead of adding one. It stops when every device is within
//! `max_deviation` PGs of its target, when no valid improving move is left, or at
//! `max_moves` (a round), so that a host can apply the moves gradually.

use super::load::{self, Loads, FRAC};
use super::select::SelectTree;
use super::{Move, Placement, PlacementError, PlacementReport, Spread};
use crate::topology::{DeviceId, Topology, NO_DEVICE};

/// Balancer settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancerConfig {
    /// Converged when every device is within this many PGs (shards; or mean shard sizes
    /// when balancing bytes) of its target, rounded outwards to whole shards when counting
    /// (a load of at most `ceil(share + d)` and at least `floor(share - d)`). Default 1.
    pub max_deviation: f64,
    /// The most moves in one round. Default 1,000.
    pub max_moves: usize,
    /// Never move a shard onto a device whose used/capacity is at or above this. Default 0.90.
    pub full_ratio: f64,
    /// Balance bytes (PG sizes from [`Placement::set_pg_bytes`]) rather than shard counts.
    pub by_bytes: bool,
}

impl Default for BalancerConfig {
    fn default() -> Self {
        BalancerConfig { max_deviation: 1.0, max_moves: 1000, full_ratio: 0.90, by_bytes: false }
    }
}

impl BalancerConfig {
    pub(crate) fn validate(&self) -> Result<(), PlacementError> {
        if !self.max_deviation.is_finite() || self.max_deviation < 0.0 || self.max_deviation > 1e6 {
            return Err(PlacementError::InvalidArgument(format!(
                "max_deviation {} is not in [0, 1e6]",
                self.max_deviation
            )));
        }
        if !self.full_ratio.is_finite() || self.full_ratio <= 0.0 || self.full_ratio > 1.0 {
            return Err(PlacementError::InvalidArgument(format!("full_ratio {} is not in (0, 1]", self.full_ratio)));
        }
        Ok(())
    }
}

/// What one balancer round did.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceRound {
    /// The moves made (already applied to the placement's table).
    pub moves: Vec<Move>,
    /// Every device is within the allowed deviation.
    pub converged: bool,
    /// Moves that removed an exception (the shard went back to its base device).
    pub exceptions_removed: usize,
}

/// Units of one slot: 1 per shard, or the shard's bytes.
fn unit_fn(p: &Placement, by_bytes: bool) -> impl Fn(usize) -> u64 + '_ {
    let n = p.n;
    let bytes = by_bytes && p.pg_bytes.is_some();
    move |slot: usize| if bytes { p.shard_bytes((slot / n) as u32).max(1) } else { 1 }
}

fn totals(p: &Placement, table: &[DeviceId], units: &dyn Fn(usize) -> u64) -> (u64, u64) {
    let n = p.n;
    let mut total = 0u64;
    let mut cap = 0u64;
    for (pg, row) in table.chunks_exact(n).enumerate() {
        let u = units(pg * n);
        cap += u;
        total += u * row.iter().filter(|&&d| d != NO_DEVICE).count() as u64;
    }
    (total, cap)
}

/// Whether `d` may take a shard of the PG whose row is `row`, replacing position `pos`.
#[inline]
fn fits(tree: &SelectTree, row: &[DeviceId], pos: usize, d: u32) -> bool {
    if !tree.dev_usable[d as usize] {
        return false;
    }
    let dom = tree.dev_domain[d as usize];
    let id = tree.dev_ids[d as usize];
    row.iter().enumerate().all(|(i, &o)| {
        if i == pos || o == NO_DEVICE {
            return true;
        }
        if o == id {
            return false;
        }
        match tree.dense(o) {
            Some(od) => tree.dev_domain[od as usize] != dom,
            None => true,
        }
    })
}

#[inline]
fn not_full(tree: &SelectTree, d: u32, extra: u64, full_ratio: f64) -> bool {
    let cap = tree.dev_capacity[d as usize];
    if cap == 0 {
        return true; // capacity unknown: only weights apply
    }
    ((tree.dev_used[d as usize].saturating_add(extra)) as f64) < full_ratio * cap as f64
}

/// The table after a map change under [`super::UpdatePolicy::Pin`]: keep every valid shard,
/// re-place the others on underloaded devices.
pub(crate) fn repair(p: &Placement, tree: &SelectTree, base: &[DeviceId]) -> Vec<DeviceId> {
    let n = p.n;
    let mut table = p.table.clone();
    // Drop shards whose device is gone, unusable, or now shares a domain with an earlier one.
    let mut doms = Vec::with_capacity(n);
    for row in table.chunks_exact_mut(n) {
        doms.clear();
        for slot in row.iter_mut() {
            if *slot == NO_DEVICE {
                continue;
            }
            match tree.dense(*slot) {
                Some(d) if tree.dev_usable[d as usize] && !doms.contains(&tree.dev_domain[d as usize]) => {
                    doms.push(tree.dev_domain[d as usize]);
                }
                _ => *slot = NO_DEVICE,
            }
        }
    }
    let units = unit_fn(p, p.pg_bytes.is_some());
    // Targets are for what the new base mapping can place.
    let (total, cap) = totals(p, base, &units);
    let mut loads = load::compute(tree, &table, &units, total, cap);
    for pg in 0..p.pg_count as usize {
        let r = pg * n..pg * n + n;
        if !table[r.clone()].contains(&NO_DEVICE) {
            continue;
        }
        let u = units(pg * n);
        for pos in 0..n {
            if table[r.start + pos] != NO_DEVICE {
                continue;
            }
            let row = &table[r.clone()];
            let mut choice = None;
            // 1. The base device at this position (or, replicated, any base device),
            //    when it is not above its target: no exception needed.
            let base_row = &base[r.clone()];
            let candidates: &[DeviceId] = if p.rule.indep() { std::slice::from_ref(&base_row[pos]) } else { base_row };
            for &b in candidates {
                if b == NO_DEVICE {
                    continue;
                }
                if let Some(d) = tree.dense(b) {
                    if loads.deviation(d) + ((u as i128) << FRAC) <= 0 && fits(tree, row, pos, d) {
                        choice = Some(d);
                        break;
                    }
                }
            }
            // 2. The most underloaded device that keeps the rule and is not full.
            if choice.is_none() {
                choice = loads
                    .order
                    .iter()
                    .take(4096)
                    .map(|&(_, d)| d)
                    .find(|&d| fits(tree, row, pos, d) && not_full(tree, d, 0, 0.999));
            }
            // 3. Any valid base device.
            if choice.is_none() {
                choice = candidates.iter().filter_map(|&b| tree.dense(b)).find(|&d| fits(tree, row, pos, d));
            }
            if let Some(d) = choice {
                table[r.start + pos] = tree.dev_ids[d as usize];
                loads.add(d, u, true);
            }
        }
        if !p.rule.indep() {
            // Replicated rows keep their devices first and holes last.
            let row = &mut table[r];
            let mut k = 0;
            for i in 0..n {
                if row[i] != NO_DEVICE {
                    row.swap(k, i);
                    k += 1;
                }
            }
        }
    }
    table
}

/// One balancer round on `p`.
pub(crate) fn round(p: &mut Placement, t: &Topology, cfg: &BalancerConfig) -> BalanceRound {
    let n = p.n;
    // Usage figures may have changed without an epoch bump.
    for (i, d) in t.devices().iter().enumerate() {
        if let Some(u) = p.tree.dev_used.get_mut(i) {
            *u = d.used_bytes;
        }
    }
    let by_bytes = cfg.by_bytes && p.pg_bytes.is_some();
    let unit_of: Vec<u64> = (0..p.pg_count).map(|pg| if by_bytes { p.shard_bytes(pg).max(1) } else { 1 }).collect();
    let units = |slot: usize| unit_of[slot / n];
    let (total, cap) = totals(p, &p.table, &units);
    let mut loads = load::compute(&p.tree, &p.table, &units, total, cap);
    let placed = p.table.iter().filter(|&&d| d != NO_DEVICE).count().max(1) as u64;
    let mean_unit = (total / placed).max(1);
    let tol: i128 = ((cfg.max_deviation * mean_unit as f64) as i128) << FRAC;
    // Shards by device.
    let nd = p.tree.dev_ids.len();
    let mut on: Vec<Vec<u32>> = vec![Vec::new(); nd];
    for (slot, &id) in p.table.iter().enumerate() {
        if let Some(d) = (id != NO_DEVICE).then(|| p.tree.dense(id)).flatten() {
            on[d as usize].push(slot as u32);
        }
    }
    // Devices that no longer accept data but hold shards are "over" with target 0.
    let strays: Vec<u32> =
        (0..nd as u32).filter(|&d| !p.tree.dev_usable[d as usize] && !on[d as usize].is_empty()).collect();
    let mut projected = vec![0u64; nd];
    let mut moves = Vec::new();
    let mut removed = 0usize;
    let mut stuck_over = std::collections::BTreeSet::new();
    let mut stuck_under = std::collections::BTreeSet::new();
    let mut strays_left = strays.clone();
    let converged = loop {
        if moves.len() >= cfg.max_moves {
            break false;
        }
        // Pick the source: a stray device first, else the most over, or the destination:
        // the most under.
        // Only devices outside their bounds are candidates (see `out_of_bounds`).
        let over = loads
            .order
            .iter()
            .rev()
            .take_while(|(v, _)| *v > tol)
            .find(|(_, d)| !stuck_over.contains(d) && out_of_bounds(&loads, *d, tol, by_bytes) > 0)
            .copied();
        let under = loads
            .order
            .iter()
            .take_while(|(v, _)| *v < -tol)
            .find(|(_, d)| !stuck_under.contains(d) && out_of_bounds(&loads, *d, tol, by_bytes) < 0)
            .copied();
        let stray = strays_left.last().copied();
        let over_dev = over.map_or(i128::MIN, |(v, _)| v);
        let under_dev = under.map_or(i128::MAX, |(v, _)| v);
        if stray.is_none() && over.is_none() && under.is_none() {
            break stuck_over.is_empty() && stuck_under.is_empty();
        }
        let drive_out = stray.is_some() || over.is_some() && (under.is_none() || over_dev >= -under_dev);
        let mv = if drive_out {
            let (a, a_dev, usable_a) = match stray {
                Some(s) => (s, i128::MAX / 4, false),
                None => match over {
                    Some((v, d)) => (d, v, true),
                    None => break false,
                },
            };
            let found = find_out(p, &loads, &on, a, a_dev, usable_a, &units, cfg, &projected);
            if found.is_none() {
                if stray.is_some() {
                    strays_left.pop();
                } else {
                    stuck_over.insert(a);
                }
                continue;
            }
            found
        } else {
            let Some((_, b)) = under else { break false };
            let found = find_in(p, &loads, &on, b, &units, cfg, &projected);
            if found.is_none() {
                stuck_under.insert(b);
                continue;
            }
            found
        };
        let Some((slot, a, b, back_to_base)) = mv else { continue };
        let u = units(slot as usize);
        let usable_a = p.tree.dev_usable[a as usize];
        loads.sub(a, u, usable_a);
        loads.add(b, u, true);
        if let Some(i) = on[a as usize].iter().position(|&s| s == slot) {
            on[a as usize].swap_remove(i);
        }
        on[b as usize].push(slot);
        if !usable_a && on[a as usize].is_empty() {
            strays_left.retain(|&s| s != a);
        }
        projected[b as usize] += p.shard_bytes(slot / n as u32);
        let from = p.table[slot as usize];
        p.table[slot as usize] = p.tree.dev_ids[b as usize];
        removed += back_to_base as usize;
        moves.push(Move { pg: slot / n as u32, shard: (slot % n as u32) as u8, from, to: p.tree.dev_ids[b as usize] });
        // A move changes the picture for the devices it touched.
        stuck_over.remove(&b);
        stuck_under.remove(&a);
    };
    BalanceRound { moves, converged, exceptions_removed: removed }
}

/// Whether device `d` is above (1), below (-1) or within (0) its bounds. Counting shards,
/// loads are whole numbers, so the bounds are rounded outwards: at most
/// `ceil(share + max_deviation)` and at least `floor(share - max_deviation)`. Without the
/// rounding, a share of 99.99 with a deviation of 1 would call every device holding 101
/// overloaded and shed a shard from each after the smallest change (an extra move per
/// device for no gain in balance). Counting bytes, the bounds are `share ± tolerance`.
#[inline]
fn out_of_bounds(loads: &Loads, d: u32, tol: i128, by_bytes: bool) -> i32 {
    let load = loads.load[d as usize] as i128;
    let target = loads.target[d as usize];
    if by_bytes {
        let dev = (load << FRAC) - target;
        return (dev > tol) as i32 - (dev < -tol) as i32;
    }
    let one = 1i128 << FRAC;
    let hi = (target + tol + one - 1) >> FRAC; // ceil
    let lo = (target - tol) >> FRAC; // floor (arithmetic shift rounds towards -inf)
    (load > hi) as i32 - (load < lo) as i32
}

type Found = Option<(u32, u32, u32, bool)>;

/// The best shard to move off `a` (slot, from, to, returns-to-base).
#[allow(clippy::too_many_arguments)]
fn find_out(
    p: &Placement,
    loads: &Loads,
    on: &[Vec<u32>],
    a: u32,
    a_dev: i128,
    usable_a: bool,
    units: &dyn Fn(usize) -> u64,
    cfg: &BalancerConfig,
    projected: &[u64],
) -> Found {
    let n = p.n;
    let tree = &p.tree;
    let improves = |u: u64, b: u32| -> bool {
        // (dev_a - u)^2 + (dev_b + u)^2 < dev_a^2 + dev_b^2  <=>  u < dev_a - dev_b
        !usable_a || ((u as i128) << FRAC) < a_dev - loads.deviation(b)
    };
    // 1. Back to base, when the base device is under its target.
    for &slot in &on[a as usize] {
        let bid = p.base[slot as usize];
        if bid == NO_DEVICE || bid == tree.dev_ids[a as usize] {
            continue;
        }
        let Some(b) = tree.dense(bid) else { continue };
        let u = units(slot as usize);
        if loads.deviation(b) + ((u as i128) << FRAC) <= 0 && improves(u, b) {
            let r = (slot as usize / n) * n;
            if fits(tree, &p.table[r..r + n], slot as usize % n, b)
                && not_full(tree, b, projected[b as usize] + p.shard_bytes(slot / n as u32), cfg.full_ratio)
            {
                return Some((slot, a, b, true));
            }
        }
    }
    // 2. The most underloaded devices that take one of a's shards.
    for &(b_dev, b) in loads.order.iter().take(512) {
        if b == a || (usable_a && b_dev >= a_dev) {
            break;
        }
        let mut best: Option<(u128, u32)> = None;
        let gap = if usable_a { a_dev - b_dev } else { -b_dev * 2 };
        for &slot in &on[a as usize] {
            let u = units(slot as usize);
            if !improves(u, b) {
                continue;
            }
            let r = (slot as usize / n) * n;
            if !fits(tree, &p.table[r..r + n], slot as usize % n, b) {
                continue;
            }
            if !not_full(tree, b, projected[b as usize] + p.shard_bytes(slot / n as u32), cfg.full_ratio) {
                continue;
            }
            // Prefer the shard whose size is closest to half the gap.
            let score = (((u as i128) << (FRAC + 1)) - gap).unsigned_abs();
            if best.is_none_or(|(s, _)| score < s) {
                best = Some((score, slot));
                if units(slot as usize) == 1 {
                    break; // counting shards: every shard is as good
                }
            }
        }
        if let Some((_, slot)) = best {
            let back = p.base[slot as usize] == tree.dev_ids[b as usize];
            return Some((slot, a, b, back));
        }
    }
    None
}

/// The best shard to move onto the underloaded `b`.
fn find_in(
    p: &Placement,
    loads: &Loads,
    on: &[Vec<u32>],
    b: u32,
    units: &dyn Fn(usize) -> u64,
    cfg: &BalancerConfig,
    projected: &[u64],
) -> Found {
    let n = p.n;
    let tree = &p.tree;
    let b_dev = loads.deviation(b);
    for &(a_dev, a) in loads.order.iter().rev().take(512) {
        if a == b || a_dev <= b_dev {
            break;
        }
        for &slot in &on[a as usize] {
            let u = units(slot as usize);
            if ((u as i128) << FRAC) >= a_dev - b_dev {
                continue;
            }
            let r = (slot as usize / n) * n;
            if fits(tree, &p.table[r..r + n], slot as usize % n, b)
                && not_full(tree, b, projected[b as usize] + p.shard_bytes(slot / n as u32), cfg.full_ratio)
            {
                let back = p.base[slot as usize] == tree.dev_ids[b as usize];
                return Some((slot, a, b, back));
            }
        }
    }
    None
}

fn spread(loads: &Loads, tree: &SelectTree) -> Spread {
    let mut ratios = Vec::new();
    for d in 0..tree.dev_ids.len() {
        if tree.dev_usable[d] && loads.target[d] > 0 {
            ratios.push(((loads.load[d] as i128) << FRAC) as f64 / loads.target[d] as f64);
        }
    }
    if ratios.is_empty() {
        return Spread { min_over_mean: 0.0, max_over_mean: 0.0, stddev_over_mean: 0.0 };
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let var = ratios.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / ratios.len() as f64;
    Spread {
        min_over_mean: ratios.iter().cloned().fold(f64::INFINITY, f64::min),
        max_over_mean: ratios.iter().cloned().fold(0.0, f64::max),
        stddev_over_mean: var.sqrt(),
    }
}

pub(crate) fn report(p: &Placement) -> PlacementReport {
    let n = p.n;
    let tree = &p.tree;
    let count = |_: usize| 1u64;
    let (total, cap) = totals(p, &p.table, &count);
    let loads = load::compute(tree, &p.table, &count, total, cap);
    let bytes = p.pg_bytes.as_ref().map(|_| {
        let units = unit_fn(p, true);
        let (t, c) = totals(p, &p.table, &units);
        spread(&load::compute(tree, &p.table, &units, t, c), tree)
    });
    let usable: Vec<usize> = (0..tree.dev_ids.len()).filter(|&d| tree.dev_usable[d]).collect();
    let stray = (0..tree.dev_ids.len()).filter(|&d| !tree.dev_usable[d]).map(|d| loads.load[d]).sum();
    let degraded = p.table.chunks_exact(n).filter(|row| row.contains(&NO_DEVICE)).count() as u64;
    PlacementReport {
        devices: usable.len(),
        pgs: p.pg_count,
        shards_per_pg: n as u8,
        placed_shards: total,
        degraded_pgs: degraded,
        stray_shards: stray,
        overrides: p.table.iter().zip(&p.base).filter(|(a, b)| a != b).count() as u64,
        shards: spread(&loads, tree),
        bytes,
        min_shards: usable.iter().map(|&d| loads.load[d]).min().unwrap_or(0),
        max_shards: usable.iter().map(|&d| loads.load[d]).max().unwrap_or(0),
        mean_shards: if usable.is_empty() { 0.0 } else { (total - stray) as f64 / usable.len() as f64 },
        capped_domains: loads.capped,
    }
}
