//! The scheduler's (source, target) node pair to pair-number map, looked up on every push.
//!
//! Node refs are dense (`0..nodes`), so while both refs of a pair are below [`DENSE_MAX`]
//! the pair is one read of a square table indexed by the two refs: no hash, no compare, on
//! the dependent chain of a push (pair, then its heap, then the heap's parents). The table
//! grows by doubling its side as nodes come, up to 256 × 256 buckets (256 KiB); a pair with
//! a ref beyond that lives in the [`IdIndex`] instead. Every pair is in exactly one of the
//! two.

#![forbid(unsafe_code)]

use crate::idindex::IdIndex;

/// Pairs whose refs are both below this go into the dense table.
const DENSE_MAX: u32 = 256;

/// No pair.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct PairIndex {
    /// `side × side` buckets, row by source ref: the pair, or [`NONE`].
    dense: Vec<u32>,
    /// A power of two (0 while the table is empty), at most [`DENSE_MAX`].
    side: u32,
    /// The pairs with a ref at or beyond [`DENSE_MAX`], keyed `source << 32 | target`.
    sparse: IdIndex,
}

impl Default for PairIndex {
    fn default() -> Self {
        PairIndex { dense: Vec::new(), side: 0, sparse: IdIndex::with_capacity(0) }
    }
}

#[inline(always)]
fn sparse_key(s: u32, d: u32) -> u64 {
    (s as u64) << 32 | d as u64
}

impl PairIndex {
    /// The pair from `s` to `d`.
    #[inline(always)]
    pub(crate) fn get(&self, s: u32, d: u32) -> Option<u32> {
        if s < self.side && d < self.side {
            let p = *self.dense.get((s * self.side + d) as usize)?;
            return (p != NONE).then_some(p);
        }
        if s < DENSE_MAX && d < DENSE_MAX {
            return None;
        }
        self.sparse.get(sparse_key(s, d))
    }

    /// Maps `s → d` (absent) to pair `p` (below `u32::MAX`).
    pub(crate) fn insert(&mut self, s: u32, d: u32, p: u32) {
        if s < DENSE_MAX && d < DENSE_MAX {
            let need = (s.max(d) + 1).next_power_of_two();
            if need > self.side {
                self.grow(need);
            }
            let i = (s * self.side + d) as usize;
            if let Some(b) = self.dense.get_mut(i) {
                *b = p;
            }
        } else {
            self.sparse.insert(sparse_key(s, d), p);
        }
    }

    /// Unmaps `s → d`.
    pub(crate) fn remove(&mut self, s: u32, d: u32) {
        if s < DENSE_MAX && d < DENSE_MAX {
            if s < self.side && d < self.side {
                if let Some(b) = self.dense.get_mut((s * self.side + d) as usize) {
                    *b = NONE;
                }
            }
        } else {
            self.sparse.remove(sparse_key(s, d));
        }
    }

    /// Widens the dense table to `side × side`, keeping every pair at its refs.
    fn grow(&mut self, side: u32) {
        let mut dense = vec![NONE; (side * side) as usize];
        let old = self.side as usize;
        for (s, row) in self.dense.chunks(old.max(1)).enumerate() {
            let at = s * side as usize;
            if let Some(to) = dense.get_mut(at..at + row.len()) {
                to.copy_from_slice(row);
            }
        }
        self.dense = dense;
        self.side = side;
    }

    /// Bytes allocated.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.dense.capacity() * 4 + self.sparse.allocated_bytes()
    }

    /// Pairs mapped.
    pub(crate) fn len(&self) -> usize {
        self.dense.iter().filter(|&&p| p != NONE).count() + self.sparse.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_a_hash_map_across_both_tables() {
        let mut idx = PairIndex::default();
        let mut model: HashMap<(u32, u32), u32> = HashMap::new();
        let mut x = 7u64;
        // Refs that grow the dense table step by step, sit at its edge, and pass it.
        let refs = [0u32, 1, 2, 3, 5, 8, 15, 16, 31, 63, 64, 127, 200, 255, 256, 257, 1000, 70_000, u32::MAX - 1];
        for step in 0..60_000u32 {
            x = crate::hash::mix64(x);
            let s = refs[(x % refs.len() as u64) as usize];
            let d = refs[((x >> 16) % refs.len() as u64) as usize];
            match model.get(&(s, d)) {
                Some(&p) => {
                    assert_eq!(idx.get(s, d), Some(p), "{s} -> {d}");
                    if x >> 40 & 1 == 0 {
                        idx.remove(s, d);
                        model.remove(&(s, d));
                        assert_eq!(idx.get(s, d), None);
                    }
                }
                None => {
                    assert_eq!(idx.get(s, d), None, "{s} -> {d}");
                    idx.insert(s, d, step);
                    model.insert((s, d), step);
                }
            }
            if step % 1000 == 0 {
                assert_eq!(idx.len(), model.len());
                for (&(s, d), &p) in &model {
                    assert_eq!(idx.get(s, d), Some(p));
                }
            }
        }
        assert!(idx.side <= DENSE_MAX);
        assert!(idx.allocated_bytes() >= (DENSE_MAX * DENSE_MAX * 4) as usize);
    }

    #[test]
    fn small_clusters_stay_small() {
        let mut idx = PairIndex::default();
        assert_eq!(idx.get(0, 0), None);
        assert_eq!(idx.get(300, 2), None);
        for s in 0..10 {
            for d in 0..10 {
                idx.insert(s, d, s * 10 + d);
            }
        }
        assert_eq!(idx.side, 16);
        assert_eq!(idx.get(9, 3), Some(93));
        assert_eq!(idx.get(10, 3), None);
        assert_eq!(idx.get(3, 12), None);
    }
}
