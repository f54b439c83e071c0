//! An index from `u64` ids to dense `u32` slot numbers: health's node and device ids (the
//! failure detector and disk health), the throttle's host node ids past its direct array,
//! and the scheduler's (source, target) node pairs beyond its dense table (clusters past
//! 256 nodes, see `migration::pairs`).
//!
//! An open-addressing table with linear probing, one 16-byte entry (id and slot) per
//! bucket, at most three quarters full, and backward-shift deletion (no tombstones). A
//! lookup usually reads one cache line, where a std `HashMap` reads its control bytes and
//! then its bucket, two lines apart. The home bucket is Fibonacci hashing of the id with
//! its high half folded into its low half: one multiply, where a full mixer takes three in
//! a row, and the lookup's latency is what its callers wait on (ids are trusted, so no
//! flooding defence is needed; the fold is a bijection, so ids that differ only in their
//! high bits still spread). Nothing here allocates except growth in [`IdIndex::insert`];
//! the table only grows.

#![forbid(unsafe_code)]

use crate::hash::fib_hash;

/// A bucket's slot when it is free (slots are below 2^31: the capacity is validated).
const FREE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: u64,
    slot: u32,
}

const EMPTY: Entry = Entry { id: 0, slot: FREE };

/// Node id to slot.
#[derive(Debug, Clone)]
pub(crate) struct IdIndex {
    /// A power of two of buckets, at least 4, never more than 3/4 used.
    entries: Vec<Entry>,
    len: usize,
}

impl IdIndex {
    /// An index for about `n` ids before it grows.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let buckets = (n.saturating_mul(4) / 3 + 1).max(4).checked_next_power_of_two().unwrap_or(1 << 31);
        IdIndex { entries: vec![EMPTY; buckets], len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// The top bits of the hash, as many as the table has buckets.
    #[inline(always)]
    fn home(&self, id: u64) -> usize {
        (fib_hash(id ^ id >> 32) >> (64 - self.entries.len().trailing_zeros())) as usize
    }

    /// The bucket holding `id`, if any.
    #[inline(always)]
    fn find(&self, id: u64) -> Option<usize> {
        let mask = self.mask();
        let mut i = self.home(id);
        // A free bucket always exists (at most 3/4 used), so the probe ends before this
        // bound; the bound only makes termination obvious.
        for _ in 0..self.entries.len() {
            let e = self.entries.get(i)?;
            if e.slot == FREE {
                return None;
            }
            if e.id == id {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The slot of `id`.
    #[inline(always)]
    pub(crate) fn get(&self, id: u64) -> Option<u32> {
        self.find(id).and_then(|i| self.entries.get(i)).map(|e| e.slot)
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.find(id).is_some()
    }

    /// Maps `id` (absent) to `slot` (below 2^31). Grows the table when it would be more
    /// than 3/4 full.
    pub(crate) fn insert(&mut self, id: u64, slot: u32) {
        if (self.len + 1).saturating_mul(4) > self.entries.len().saturating_mul(3) {
            self.grow();
        }
        self.place(Entry { id, slot });
        self.len += 1;
    }

    fn place(&mut self, e: Entry) {
        let mask = self.mask();
        let mut i = self.home(e.id);
        for _ in 0..self.entries.len() {
            match self.entries.get_mut(i) {
                Some(b) if b.slot == FREE => {
                    *b = e;
                    return;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let buckets = self.entries.len().saturating_mul(2);
        let old = std::mem::replace(&mut self.entries, vec![EMPTY; buckets]);
        for e in old {
            if e.slot != FREE {
                self.place(e);
            }
        }
    }

    /// Unmaps `id`, returning its slot. Later entries of the probe run shift back into the
    /// hole, so lookups never need tombstones.
    pub(crate) fn remove(&mut self, id: u64) -> Option<u32> {
        let mut hole = self.find(id)?;
        let slot = self.entries.get(hole)?.slot;
        let mask = self.mask();
        let mut j = hole;
        for _ in 0..self.entries.len() {
            j = (j + 1) & mask;
            let Some(&e) = self.entries.get(j) else { break };
            if e.slot == FREE {
                break;
            }
            // `e` may move to the hole unless its home lies cyclically in (hole, j].
            let home = self.home(e.id);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                if let Some(h) = self.entries.get_mut(hole) {
                    *h = e;
                }
                hole = j;
            }
        }
        if let Some(h) = self.entries.get_mut(hole) {
            *h = EMPTY;
        }
        self.len -= 1;
        Some(slot)
    }

    /// Bytes allocated.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// The ids held, in bucket order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().filter(|e| e.slot != FREE).map(|e| e.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::mix64;
    use std::collections::HashMap;

    #[test]
    fn matches_a_hash_map_under_churn() {
        let mut idx = IdIndex::with_capacity(2);
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut x = 1u64;
        for step in 0..200_000u32 {
            x = mix64(x.wrapping_add(u64::from(step)));
            // Few distinct ids, of three shapes, so probe runs form, wrap and break.
            let y = mix64(x);
            let id = (y % 300) << (y / 300 % 3 * 20);
            if x % 3 == 0 {
                assert_eq!(idx.remove(id), model.remove(&id), "remove {id}");
            } else if let Some(&slot) = model.get(&id) {
                assert_eq!(idx.get(id), Some(slot));
            } else {
                assert!(!idx.contains(id));
                idx.insert(id, step);
                model.insert(id, step);
            }
            assert_eq!(idx.len(), model.len());
            if step % 4096 == 0 {
                for (k, v) in &model {
                    assert_eq!(idx.get(*k), Some(*v));
                }
                let mut a: Vec<u64> = idx.ids().collect();
                let mut b: Vec<u64> = model.keys().copied().collect();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn spreads_structured_ids() {
        // Id shapes hosts and callers use: sequential, strided, pairs of small numbers in
        // the two halves, and high bits only. A home function that kept the shape (the low
        // bits, say) would pile them into long probe runs.
        type Shape = fn(u64) -> u64;
        let shapes: [(&str, Shape); 5] = [
            ("sequential", |i| i),
            ("stride 2^20", |i| i << 20),
            ("stride 2^32", |i| i << 32),
            ("pairs", |i| ((i / 100) << 32) | (i % 100)),
            ("high bits", |i| i << 50),
        ];
        for (name, shape) in shapes {
            let n = 10_000u64;
            let mut idx = IdIndex::with_capacity(16);
            for i in 0..n {
                idx.insert(shape(i), i as u32);
            }
            let mask = idx.mask();
            let mut total = 0usize;
            let mut worst = 0usize;
            for i in 0..n {
                let id = shape(i);
                let at = idx.find(id).expect("every id found");
                let d = (at.wrapping_sub(idx.home(id)) & mask) + 1;
                total += d;
                worst = worst.max(d);
            }
            let mean = total as f64 / n as f64;
            assert!(mean < 2.0 && worst < 40, "{name}: mean probe {mean:.2}, worst {worst}");
        }
    }
}
