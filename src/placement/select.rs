//! Weighted, failure-domain-aware selection: straw2 over a compiled copy of the map.
//!
//! Each child of a bucket draws `-log2(u) / weight` with `u` a 32-bit hash of (placement
//! group, child, attempt); the smallest draw wins. That is straw2: a child's draw depends
//! only on its own key and weight, so changing one child's weight moves data only to or from
//! that child, at every level of the tree. Unlike CRUSH's table of 16-bit logarithms, the
//! logarithm here is a 257-entry fixed-point table (computed at compile time with integer
//! arithmetic) with linear interpolation, and the division by the weight is a 64×64→128-bit
//! multiplication by a precomputed reciprocal: integer-only, the same on every platform.
//! When all children of a bucket weigh the same (the common case) the smallest draw is the
//! largest hash, so no logarithm is taken at all; both paths order children identically.
//!
//! Out devices are handled the way CRUSH handles them: at and above the failure-domain level
//! an attempt that lands on a domain with no usable device is *rejected* and retried with a
//! new attempt number; below the domain, unusable children are skipped. Bucket weights
//! include out devices, so marking a device out moves exactly that device's shards while its
//! domain has another usable device. When a whole domain becomes unusable, a retried shard
//! can, exactly as in CRUSH, land on the domain another shard held and push it along; the
//! running-cluster path (`UpdatePolicy::Pin`) never moves a valid shard, so there erasure-coded
//! positions are strictly stable.
//!
//! Unlike CRUSH, a shard whose attempts are all rejected is not left unplaced while a usable
//! device in an untaken domain exists: a last-resort descent in straw2 order, backtracking
//! out of full subtrees, finds it (a light rack that every PG needs is the usual case).

use crate::hash::mix64;
use crate::topology::{DeviceId, Node, Topology};

/// How many attempts a shard gets before it is left unplaced (CRUSH's choose_total_tries).
pub(crate) const TOTAL_TRIES: u32 = 50;

/// The selection algorithm's version, stored with every placement. Bump it whenever a
/// change to this file moves a shard that an earlier version placed (placing one that it
/// left unplaced, as the last resort after the 50 tries does, moves none).
pub const ALGORITHM_VERSION: u32 = 1;

/// `log2(1 + i/256)` in 0.32 fixed point for i in 0..=256, computed at compile time by
/// repeated squaring (integer only, so it is the same everywhere).
static LOG2_TABLE: [u64; 257] = log2_table();

const fn log2_table() -> [u64; 257] {
    let mut t = [0u64; 257];
    let mut i = 0;
    while i <= 256 {
        // y = 1 + i/256 in Q2.62
        let mut y: u128 = (256 + i as u128) << 54;
        let mut frac: u64 = 0;
        let mut bit = 0;
        // 40 fractional bits, then round to 32.
        while bit < 40 {
            y = (y * y) >> 62;
            frac <<= 1;
            if y >= (2u128 << 62) {
                y >>= 1;
                frac |= 1;
            }
            bit += 1;
        }
        t[i] = (frac + (1 << 7)) >> 8;
        i += 1;
    }
    t
}

/// `-log2(u / 2^32)` in 32.32 fixed point, for `u` in `[1, 2^32]`: non-increasing in `u`.
#[inline(always)]
pub(crate) fn neg_log2(u: u64) -> u64 {
    debug_assert!((1..=1u64 << 32).contains(&u));
    let n = 63 - u.leading_zeros() as u64; // integer part of log2(u), 0..=32
    let f = (u << (63 - n)) << 1; // fraction bits after the leading one
    let idx = (f >> 56) as usize;
    let rem = (f >> 24) & 0xffff_ffff;
    let lo = LOG2_TABLE[idx];
    let hi = LOG2_TABLE[idx + 1];
    let frac = lo + (((hi - lo) * rem) >> 32);
    (32u64 << 32) - ((n << 32) + frac)
}

const DEVICE_BIT: u32 = 1 << 31;

/// The seed of attempt `r` for the PG whose seed is `x`.
#[inline(always)]
fn attempt_seed(x: u64, r: u32) -> u64 {
    x ^ (r as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A weighted bucket's straw2 draw for child `it` under seed `xr`, with the child's hash
/// (which breaks ties: the smaller draw wins, then the larger hash).
#[inline(always)]
fn weighted_draw(xr: u64, it: &Item) -> (u128, u64) {
    let v = draw_hash(xr, it.key);
    (neg_log2((v >> 32) + 1) as u128 * it.recip as u128, v)
}

/// The hash of one (placement group and attempt, child) pair: a 64×64→128-bit multiply of
/// the two folded together (the "mum" mixer of wyhash), one multiplication per child.
#[inline(always)]
fn draw_hash(xr: u64, key: u64) -> u64 {
    let m = ((xr ^ key) as u128) * ((key | 1) as u128);
    (m >> 64) as u64 ^ m as u64
}

#[derive(Debug, Clone, Copy)]
struct Item {
    /// Hash key of the child: stable across maps (from its id or its level and name).
    key: u64,
    /// `floor((2^64 - 1) / weight)`, or 0 when the weight is 0 (never chosen).
    recip: u64,
    /// Bucket index, or device index with `DEVICE_BIT` set.
    node: u32,
    /// Whether a usable device lies below (or, for a device, whether it accepts data).
    usable: bool,
}

#[derive(Debug, Clone, Copy)]
struct SBucket {
    start: u32,
    len: u32,
    /// All children weigh the same, non-zero.
    uniform: bool,
}

/// A compiled copy of the map for fast selection.
#[derive(Debug, Clone)]
pub(crate) struct SelectTree {
    buckets: Vec<SBucket>,
    items: Vec<Item>,
    /// Device ids by dense index (sorted, as in the topology).
    pub(crate) dev_ids: Vec<DeviceId>,
    /// Weight of each device (16.16).
    pub(crate) dev_weight: Vec<u32>,
    /// Whether each device accepts data.
    pub(crate) dev_usable: Vec<bool>,
    /// The failure domain of each device: a bucket index at the rule's level, or the
    /// device index itself when the domain is the device.
    pub(crate) dev_domain: Vec<u32>,
    pub(crate) dev_capacity: Vec<u64>,
    pub(crate) dev_used: Vec<u64>,
    /// The depth of the failure-domain level (1 = first level; levels+1 = device).
    domain_depth: usize,
    /// The domain index of each bucket at the domain level (`u32::MAX` elsewhere).
    bucket_domain: Vec<u32>,
    /// Number of buckets at the domain level, or devices when the domain is the device.
    pub(crate) domain_names: Vec<String>,
    bucket_depth: Vec<u8>,
}

/// Where a shard's draw ended.
enum Pick {
    /// A usable device in an untaken domain.
    Device(u32),
    /// Rejected (unusable or taken domain): try again with another attempt number.
    Reject,
}

impl SelectTree {
    pub(crate) fn compile(t: &Topology, domain_depth: usize) -> SelectTree {
        let tb = t.buckets();
        let td = t.devices();
        let mut buckets = Vec::with_capacity(tb.len());
        let mut items = Vec::with_capacity(tb.len() + td.len());
        let mut bucket_depth = Vec::with_capacity(tb.len());
        // usable-below flags, computed bottom-up: buckets are stored parents first.
        let mut usable_bucket = vec![false; tb.len()];
        for (i, d) in td.iter().enumerate() {
            if d.accepts_data() {
                let mut cur = t.device_parent(i);
                while let Some(c) = cur {
                    if usable_bucket[c as usize] {
                        break;
                    }
                    usable_bucket[c as usize] = true;
                    cur = tb[c as usize].parent;
                }
            }
        }
        for b in tb {
            let start = items.len() as u32;
            let mut first_w = None;
            let mut uniform = !b.children.is_empty();
            for &c in &b.children {
                let (key, w, node, usable) = match c {
                    Node::Bucket(bi) => {
                        let cb = &tb[bi as usize];
                        let key = crate::hash::hash_bytes(cb.depth as u64, cb.name.as_bytes());
                        (key, cb.weight, bi, usable_bucket[bi as usize])
                    }
                    Node::Device(di) => {
                        let d = &td[di as usize];
                        (
                            mix64(0x6465_7669_6365_0000 ^ d.id as u64),
                            d.weight.0 as u64,
                            di | DEVICE_BIT,
                            d.accepts_data(),
                        )
                    }
                };
                let recip = u64::MAX.checked_div(w).unwrap_or(0);
                match first_w {
                    None => first_w = Some(w),
                    Some(fw) if fw != w => uniform = false,
                    _ => {}
                }
                if w == 0 {
                    uniform = false;
                }
                items.push(Item { key, recip, node, usable });
            }
            buckets.push(SBucket { start, len: items.len() as u32 - start, uniform });
            // At most MAX_LEVELS + 1, which the topology checks.
            bucket_depth.push(b.depth as u8);
        }
        let levels = t.levels().len();
        let mut domain_names = Vec::new();
        let mut bucket_domain = vec![u32::MAX; tb.len()];
        if domain_depth <= levels {
            for (i, b) in tb.iter().enumerate() {
                if b.depth == domain_depth {
                    bucket_domain[i] = domain_names.len() as u32;
                    domain_names.push(b.name.clone());
                }
            }
        }
        let mut dev_domain = Vec::with_capacity(td.len());
        for (i, d) in td.iter().enumerate() {
            if domain_depth > levels {
                dev_domain.push(i as u32);
                domain_names.push(d.id.to_string());
            } else {
                let mut cur = t.device_parent(i);
                let mut dom = u32::MAX;
                while let Some(c) = cur {
                    if tb[c as usize].depth == domain_depth {
                        dom = bucket_domain[c as usize];
                        break;
                    }
                    cur = tb[c as usize].parent;
                }
                dev_domain.push(dom);
            }
        }
        SelectTree {
            buckets,
            items,
            dev_ids: td.iter().map(|d| d.id).collect(),
            dev_weight: td.iter().map(|d| d.weight.0).collect(),
            dev_usable: td.iter().map(|d| d.accepts_data()).collect(),
            dev_domain,
            dev_capacity: td.iter().map(|d| d.capacity_bytes).collect(),
            dev_used: td.iter().map(|d| d.used_bytes).collect(),
            domain_depth,
            domain_names,
            bucket_depth,
            bucket_domain,
        }
    }

    pub(crate) fn items_len(&self) -> usize {
        self.items.len()
    }
    pub(crate) fn buckets_len(&self) -> usize {
        self.buckets.len()
    }

    /// The dense index of a device id.
    #[inline]
    pub(crate) fn dense(&self, id: DeviceId) -> Option<u32> {
        self.dev_ids.binary_search(&id).ok().map(|i| i as u32)
    }

    /// Number of failure domains.
    pub(crate) fn domain_count(&self) -> usize {
        self.domain_names.len()
    }

    /// straw2 among a bucket's children. With `SKIP`, children with no usable device below
    /// are not candidates. Returns the winning item.
    ///
    /// Each child's 64-bit hash `v` decides: in a uniform bucket the largest `v` wins; in a
    /// weighted one the smallest `-log2(u)/w` with `u` the top 32 bits of `v`, ties going to
    /// the larger `v`. Both orders agree when weights are equal; an exact 64-bit tie goes to
    /// the later child in canonical order, in both paths.
    #[inline]
    fn straw2<const SKIP: bool>(&self, b: u32, xr: u64) -> Option<Item> {
        let sb = self.buckets[b as usize];
        let items = self.children(b);
        if sb.uniform {
            // Branch-free argmax; an unusable child's hash is masked to 0 when skipping.
            let mut best_v = 0u64;
            let mut best = 0usize;
            for (i, it) in items.iter().enumerate() {
                let mask = if SKIP { (it.usable as u64).wrapping_neg() } else { u64::MAX };
                let v = draw_hash(xr, it.key) & mask;
                if v >= best_v {
                    best_v = v;
                    best = i;
                }
            }
            let it = items.get(best).copied()?;
            if SKIP && !it.usable {
                // Every usable child hashed to exactly 0 (or there is none): vanishingly rare.
                return items.iter().rev().find(|it| it.usable).copied();
            }
            Some(it)
        } else {
            let mut best_draw = u128::MAX;
            let mut best_v = 0u64;
            let mut best = usize::MAX;
            for (i, it) in items.iter().enumerate() {
                if it.recip == 0 || (SKIP && !it.usable) {
                    continue;
                }
                let (draw, v) = weighted_draw(xr, it);
                if draw < best_draw || (draw == best_draw && v >= best_v) {
                    best_draw = draw;
                    best_v = v;
                    best = i;
                }
            }
            items.get(best).copied()
        }
    }

    /// Bucket `b`'s children.
    #[inline]
    fn children(&self, b: u32) -> &[Item] {
        let sb = self.buckets[b as usize];
        &self.items[sb.start as usize..(sb.start + sb.len) as usize]
    }

    /// From domain bucket `b` down to a usable device, skipping unusable children.
    #[inline]
    fn down_to_device(&self, mut b: u32, xr: u64) -> Option<u32> {
        loop {
            let it = self.straw2::<true>(b, xr)?;
            if it.node & DEVICE_BIT != 0 {
                return Some(it.node & !DEVICE_BIT);
            }
            b = it.node;
        }
    }

    /// One attempt for one shard: descend from the root to the failure domain (rejecting
    /// an unusable or taken domain), then to a usable device inside it.
    #[inline]
    fn attempt(&self, x: u64, r: u32, taken: &[u32]) -> Pick {
        let xr = attempt_seed(x, r);
        let mut b = 0u32;
        // Above and at the domain: no skipping (rejection keeps EC positions stable).
        loop {
            let Some(it) = self.straw2::<false>(b, xr) else { return Pick::Reject };
            if !it.usable {
                return Pick::Reject;
            }
            if it.node & DEVICE_BIT != 0 {
                let di = it.node & !DEVICE_BIT;
                let dom = self.dev_domain[di as usize];
                if taken.contains(&dom) {
                    return Pick::Reject;
                }
                return Pick::Device(di);
            }
            b = it.node;
            if self.bucket_depth[b as usize] as usize == self.domain_depth {
                // Reject a taken domain before descending into it.
                if taken.contains(&self.bucket_domain[b as usize]) {
                    return Pick::Reject;
                }
                break;
            }
        }
        // `b` is the domain bucket.
        self.down_to_device(b, xr).map_or(Pick::Reject, Pick::Device)
    }

    /// The last resort for a shard whose [`TOTAL_TRIES`] attempts were all rejected (a
    /// light domain that a replica must land on: three racks weighing 4, 4 and 1 leave
    /// about one PG in 400 of a 3-way rule unplaced after 50 tries, as in CRUSH): a
    /// descent from the root that visits each bucket's children in their straw2 order for
    /// attempt `r` of the PG whose seed is `x`, and backtracks out of subtrees with no
    /// usable device in an untaken domain. It finds a device whenever one exists, and only
    /// runs for shards that would otherwise be left unplaced, so no placed shard moves.
    #[cold]
    #[inline(never)]
    fn last_resort(&self, x: u64, r: u32, taken: &[u32]) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let xr = attempt_seed(x, r);
        // A bucket's usable children, the best draw last (the weighted straw2 ranking,
        // ties to the larger hash).
        let ranked = |b: u32| -> Vec<Item> {
            let mut order: Vec<(u128, u64, Item)> = self
                .children(b)
                .iter()
                .filter(|it| it.usable && it.recip != 0)
                .map(|it| {
                    let (draw, v) = weighted_draw(xr, it);
                    (draw, u64::MAX - v, *it)
                })
                .collect();
            order.sort_unstable_by_key(|&(draw, v, _)| (draw, v));
            order.into_iter().rev().map(|o| o.2).collect()
        };
        // Depth first, without recursion (a map may have many levels): each frame holds its
        // bucket's children still to visit, the best last.
        let mut stack = vec![ranked(0)];
        while let Some(frame) = stack.last_mut() {
            let Some(it) = frame.pop() else {
                stack.pop();
                continue;
            };
            if it.node & DEVICE_BIT != 0 {
                let di = it.node & !DEVICE_BIT;
                if !taken.contains(&self.dev_domain[di as usize]) {
                    return Some(di);
                }
                continue;
            }
            let c = it.node;
            if self.bucket_depth[c as usize] as usize != self.domain_depth {
                stack.push(ranked(c));
            } else if !taken.contains(&self.bucket_domain[c as usize]) {
                if let Some(di) = self.down_to_device(c, xr) {
                    return Some(di);
                }
            }
        }
        None
    }

    /// Selects `n` devices for the PG whose seed is `x`, writing dense device indices
    /// (or `u32::MAX` for a shard that could not be placed) into `out`.
    ///
    /// Replicated (`indep == false`, CRUSH's firstn): replica `i` tries attempt numbers
    /// `i, i+n, i+2n, ...`; unplaced replicas are moved to the end.
    /// Erasure-coded (`indep == true`, CRUSH's indep): in rounds, each unfilled position
    /// `i` tries attempt `i + round*n`; a position never moves because another one failed.
    pub(crate) fn select(&self, x: u64, n: usize, indep: bool, out: &mut [u32]) {
        let mut taken = [u32::MAX; 64];
        let n = n.min(out.len()).min(64);
        if indep {
            for o in out.iter_mut().take(n) {
                *o = u32::MAX;
            }
            let mut filled = 0;
            for round in 0..TOTAL_TRIES {
                for pos in 0..n {
                    if out[pos] != u32::MAX {
                        continue;
                    }
                    let r = pos as u32 + round * n as u32;
                    if let Pick::Device(di) = self.attempt(x, r, &taken[..n]) {
                        out[pos] = di;
                        taken[pos] = self.dev_domain[di as usize];
                        filled += 1;
                    }
                }
                if filled == n {
                    break;
                }
            }
            for pos in 0..n {
                if out[pos] == u32::MAX {
                    if let Some(di) = self.last_resort(x, pos as u32 + TOTAL_TRIES * n as u32, &taken[..n]) {
                        out[pos] = di;
                        taken[pos] = self.dev_domain[di as usize];
                    }
                }
            }
        } else {
            let mut count = 0;
            for rep in 0..n {
                let before = count;
                for attempt in 0..TOTAL_TRIES {
                    let r = rep as u32 + attempt * n as u32;
                    if let Pick::Device(di) = self.attempt(x, r, &taken[..count]) {
                        out[count] = di;
                        taken[count] = self.dev_domain[di as usize];
                        count += 1;
                        break;
                    }
                }
                if count == before {
                    if let Some(di) = self.last_resort(x, rep as u32 + TOTAL_TRIES * n as u32, &taken[..count]) {
                        out[count] = di;
                        taken[count] = self.dev_domain[di as usize];
                        count += 1;
                    }
                }
            }
            for o in out.iter_mut().take(n).skip(count) {
                *o = u32::MAX;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_table_is_exact_enough_and_monotone() {
        assert_eq!(LOG2_TABLE[0], 0);
        assert_eq!(LOG2_TABLE[256], 1 << 32);
        for i in 0..=256 {
            let exact = (1.0 + i as f64 / 256.0).log2() * 4294967296.0;
            assert!((LOG2_TABLE[i] as f64 - exact).abs() <= 1.0, "entry {i}");
        }
        assert_eq!(neg_log2(1 << 32), 0);
        assert_eq!(neg_log2(1), 32 << 32);
        let mut prev = u64::MAX;
        let mut u = 1u64;
        while u <= 1 << 32 {
            let l = neg_log2(u);
            assert!(l <= prev, "not monotone at {u}");
            let exact = -((u as f64) / 4294967296.0).log2() * 4294967296.0;
            assert!((l as f64 - exact).abs() < 4294967296.0 * 3e-6, "at {u}: {l} vs {exact}");
            prev = l;
            u = u * 3 / 2 + 1;
        }
    }
}
