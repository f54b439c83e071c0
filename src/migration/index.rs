//! An open-addressing index from a (pg, shard) key to a task slot. Each bucket holds the
//! slot and the low 32 bits of the key's hash: a probe compares hashes without touching the
//! task records (which would be a cache miss each at a million tasks), and growing or
//! rebuilding finds every entry's home from its stored hash alone. Linear probing; a
//! deletion leaves a tombstone unless it ends a cluster, and live entries plus tombstones
//! stay at most 3/8 of the table (past that it is rebuilt, doubled or not): runs of PGs
//! (below) make clusters long at higher loads, and a push's probe walks its whole cluster
//! (11 buckets on average at a million keys and 3/4), where at 3/8 it walks a few. The
//! table is 8 bytes a bucket, so 21–43 bytes per key (34 at a million).

#![forbid(unsafe_code)]

const EMPTY: u64 = u64::MAX;
/// A deleted entry (slot `u32::MAX - 1` is never a task's: `max_tasks < u32::MAX / 2`).
const TOMB: u64 = u64::MAX - 1;

#[derive(Debug, Clone, Default)]
pub(crate) struct SlotIndex {
    table: Vec<u64>,
    len: usize,
    tombs: usize,
}

/// Consecutive PGs that share a block of this many (and a shard) have consecutive homes.
const RUN: u64 = 16;

/// The hash of a `pg << 8 | shard` key: the block `pg / 16` and the shard are mixed (so
/// blocks land anywhere and no key pattern piles onto one home), the PG's place in its
/// block is kept as the low bits. Sixteen consecutive PGs of a shard thus share two
/// adjacent cache lines of buckets: a plan pushed in PG order (as movement plans are) takes
/// one miss (the second line is the next one, which the hardware fetches ahead) per sixteen
/// pushes in a table of tens of megabytes instead of one per push, while a run adds at
/// most sixteen to a probe in the worst case. Runs of 16 measured best: push at 1M queued
/// took 86 ns with runs of 8, 76 with 16 and 78 with 32, cancel 152, 142 and 155 ns.
#[inline]
fn hash32(key: u64) -> u32 {
    let (pg, shard) = (key >> 8, key & 0xff);
    let block = ((pg / RUN) << 8) | shard;
    (crate::hash::mix64(block ^ 0x5bd1_e995) as u32 & !(RUN as u32 - 1)) | (pg % RUN) as u32
}

#[inline]
fn entry(h: u32, slot: u32) -> u64 {
    (h as u64) << 32 | slot as u64
}

impl SlotIndex {
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.table.capacity() * 8
    }

    /// The slot of `key` (for checks).
    pub(crate) fn find(&self, key: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.probe(key, key_of).ok()
    }

    /// Entries in the table.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Looks `key` up: `Ok(slot)` when present, otherwise `Err(bucket)`, the free bucket
    /// (the first tombstone on the way, or the empty one that ended the probe) where
    /// [`SlotIndex::insert_at`] puts it as long as the table has not changed since
    /// (`usize::MAX` for an empty table). One probe serves both the supersede check and the
    /// insertion of a push.
    #[inline]
    pub(crate) fn probe(&self, key: u64, key_of: impl Fn(u32) -> u64) -> Result<u32, usize> {
        if self.table.is_empty() {
            return Err(usize::MAX);
        }
        let mask = self.table.len() - 1;
        let h = hash32(key);
        let mut i = h as usize & mask;
        let mut free = usize::MAX;
        let table = &self.table[..=mask];
        loop {
            let e = table[i & mask];
            // One test for the common case, another key's entry: EMPTY and TOMB both have
            // all-ones high bits, so they pass it only when `h` does too.
            if (e >> 32) as u32 == h && e < TOMB && key_of(e as u32) == key {
                return Ok(e as u32);
            }
            if e >= TOMB {
                if e == EMPTY {
                    return Err(if free == usize::MAX { i & mask } else { free });
                }
                if free == usize::MAX {
                    free = i & mask;
                }
            }
            i += 1;
        }
    }

    /// Inserts a key known to be absent at the bucket [`SlotIndex::probe`] returned, when
    /// the table has not changed since and need not grow; anywhere else it probes again.
    #[inline]
    pub(crate) fn insert_at(&mut self, key: u64, slot: u32, bucket: Option<usize>) {
        match bucket.and_then(|b| self.table.get(b).map(|&e| (b, e))) {
            Some((b, TOMB)) => {
                self.table[b] = entry(hash32(key), slot);
                self.tombs -= 1;
                self.len += 1;
            }
            Some((b, EMPTY)) if !self.over_load_with_one_more() => {
                self.table[b] = entry(hash32(key), slot);
                self.len += 1;
            }
            _ => self.insert(key, slot),
        }
    }

    /// Whether one more entry would take live entries plus tombstones past 3/8 of the table.
    #[inline]
    fn over_load_with_one_more(&self) -> bool {
        (self.len + self.tombs + 1) * 8 > self.table.len() * 3
    }

    /// Inserts a key known to be absent.
    pub(crate) fn insert(&mut self, key: u64, slot: u32) {
        if self.over_load_with_one_more() {
            self.rebuild();
        }
        let mask = self.table.len() - 1;
        let h = hash32(key);
        let mut i = h as usize & mask;
        loop {
            let e = self.table[i];
            if e == EMPTY {
                break;
            }
            if e == TOMB {
                self.tombs -= 1;
                break;
            }
            i = (i + 1) & mask;
        }
        self.table[i] = entry(h, slot);
        self.len += 1;
    }

    /// Re-lays the table without tombstones: twice the size when the live entries alone
    /// pass 5/16 of it (so that a table full of tombstones is cleaned, not doubled, and
    /// the size at a given number of live keys is what plain doubling at 3/8 gives or at
    /// most one step more), the same size otherwise.
    fn rebuild(&mut self) {
        let cap = self.table.len();
        let n = if (self.len + 1) * 16 > cap * 5 { (cap * 2).max(16) } else { cap };
        let old = std::mem::replace(&mut self.table, vec![EMPTY; n]);
        let mask = n - 1;
        for e in old.into_iter().filter(|&e| e != EMPTY && e != TOMB) {
            let mut i = (e >> 32) as usize & mask;
            while self.table[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.table[i] = e;
        }
        self.tombs = 0;
    }

    /// Removes `key`'s entry (which must map to `slot`).
    pub(crate) fn remove(&mut self, key: u64, slot: u32) -> bool {
        if self.table.is_empty() {
            return false;
        }
        let mask = self.table.len() - 1;
        let want = entry(hash32(key), slot);
        let mut i = (want >> 32) as usize & mask;
        loop {
            let e = self.table[i];
            if e == EMPTY {
                return false;
            }
            if e == want {
                break;
            }
            i = (i + 1) & mask;
        }
        self.len -= 1;
        // A tombstone keeps the keys after it reachable without the backward shift's scan
        // to the end of the cluster (long ones here, since runs of PGs sit together). At
        // the end of a cluster no tombstone is needed, and the ones before it go too.
        if self.table[(i + 1) & mask] == EMPTY {
            self.table[i] = EMPTY;
            let mut j = i.wrapping_sub(1) & mask;
            while self.table[j] == TOMB {
                self.table[j] = EMPTY;
                self.tombs -= 1;
                j = j.wrapping_sub(1) & mask;
            }
        } else {
            self.table[i] = TOMB;
            self.tombs += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model() {
        let mut keys: Vec<u64> = vec![u64::MAX; 500];
        let mut idx = SlotIndex::default();
        let mut x = 1u64;
        for _ in 0..20_000 {
            x = crate::hash::mix64(x);
            let slot = (x % 500) as u32;
            let k = (x >> 32) % 300;
            if keys[slot as usize] == u64::MAX {
                if let Err(b) = idx.probe(k, |s| keys[s as usize]) {
                    keys[slot as usize] = k;
                    // Both ways in: at the probed bucket, and by a fresh probe.
                    if x & 1 == 0 {
                        idx.insert_at(k, slot, Some(b));
                    } else {
                        idx.insert(k, slot);
                    }
                }
            } else {
                let old = keys[slot as usize];
                assert_eq!(idx.find(old, |s| keys[s as usize]), Some(slot));
                assert!(idx.remove(old, slot));
                keys[slot as usize] = u64::MAX;
                assert_eq!(idx.find(old, |s| keys[s as usize]), None);
            }
        }
        for (s, &k) in keys.iter().enumerate() {
            if k != u64::MAX {
                assert_eq!(idx.find(k, |s| keys[s as usize]), Some(s as u32));
            }
        }
    }

    /// PGs in order (runs share buckets), a few shards, random removals: tombstones,
    /// cluster-end clean-up and rebuilds at the same size and doubled.
    #[test]
    fn runs_of_pgs_with_churn() {
        let n = 4000usize;
        let mut keys: Vec<u64> = vec![u64::MAX; n];
        let mut idx = SlotIndex::default();
        let mut next_pg = 0u64;
        let mut x = 7u64;
        for round in 0..60_000u32 {
            x = crate::hash::mix64(x);
            let slot = (x % n as u64) as usize;
            if keys[slot] == u64::MAX {
                let k = (next_pg << 8) | ((x >> 40) % 3);
                next_pg += 1;
                match idx.probe(k, |s| keys[s as usize]) {
                    Ok(_) => panic!("fresh key found"),
                    Err(b) => {
                        keys[slot] = k;
                        idx.insert_at(k, slot as u32, Some(b));
                    }
                }
            } else if round % 3 != 0 {
                let k = keys[slot];
                assert!(idx.remove(k, slot as u32));
                assert!(!idx.remove(k, slot as u32));
                keys[slot] = u64::MAX;
            }
            if round % 5000 == 0 {
                let live = keys.iter().filter(|&&k| k != u64::MAX).count();
                assert_eq!(idx.len, live);
                assert!((idx.len + idx.tombs) * 8 <= idx.table.len() * 3);
                assert_eq!(idx.table.iter().filter(|&&e| e == TOMB).count(), idx.tombs);
                for (s, &k) in keys.iter().enumerate() {
                    if k != u64::MAX {
                        assert_eq!(idx.find(k, |s| keys[s as usize]), Some(s as u32));
                    }
                }
            }
        }
    }
}
