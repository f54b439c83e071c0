//! An open-addressing index from a (pg, shard) key to a task slot. Each bucket holds the
//! slot and a 32-bit hash of the key ([`hash32`]): a probe compares hashes without touching the
//! task records (which would be a cache miss each at a million tasks), and growing or
//! rebuilding finds every entry's home from its stored hash alone.
//!
//! The table is groups of [`RUN`] buckets, and sixteen consecutive PGs of a shard (a
//! block) have their homes in one group, one bucket each. A probe steps a whole group at a
//! time, keeping its place in the group (its lane), and after the last group goes on in
//! the next lane from the first group: one fixed cycle through every bucket, which is
//! what linear probing needs (a probe ends at an empty bucket; a deletion that no later
//! key probed through needs no tombstone). A block that finds its home group taken thus moves on to
//! the next group as a whole, and its PGs probe about as far as single keys would at the
//! same load. Stepping one bucket at a time instead made runs into trains: once one PG of a
//! block had to walk past another block, every later PG of it walked past both (7 buckets a
//! push at a million keys, against 1.3 now). Live entries plus tombstones stay at most 3/8
//! of the table (past that it is rebuilt, doubled or not); the table is 8 bytes a bucket,
//! so 21–43 bytes per key (34 at a million).

#![forbid(unsafe_code)]

const EMPTY: u64 = u64::MAX;
/// A deleted entry (slot `u32::MAX - 1` is never a task's: `max_tasks < u32::MAX / 2`).
const TOMB: u64 = u64::MAX - 1;
/// The smallest table: one group.
const MIN_BUCKETS: usize = RUN as usize;

/// Whether `entries` (live and tombstones) stay within 3/8 of `buckets`: the load a table
/// never passes.
#[inline]
fn within_load(entries: usize, buckets: usize) -> bool {
    entries * 8 <= buckets * 3
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SlotIndex {
    table: Table,
    len: usize,
    tombs: usize,
    /// Whether a new table asks for huge pages ([`crate::hint::huge_pages`]).
    huge_pages: bool,
}

/// The buckets: a plain `Vec<u64>` of this size starts 16 bytes into a cache line, and its
/// groups of [`RUN`] would straddle three lines; the table starts at the first 128-byte
/// boundary of its buffer instead, so that a group is the pair of lines the hardware
/// fetches together.
#[derive(Debug, Clone, Default)]
struct Table {
    buf: Vec<u64>,
    /// Where the table starts in `buf` (below [`RUN`]).
    base: usize,
    n: usize,
}

impl Table {
    /// `n` empty buckets, asking for huge pages under them before they are first touched
    /// when `huge_pages`.
    fn new(n: usize, huge_pages: bool) -> Table {
        let mut buf = Vec::new();
        crate::hint::growing(&mut buf, huge_pages, |b| b.reserve_exact(n + RUN as usize - 1));
        buf.resize(n + RUN as usize - 1, EMPTY);
        let base = (buf.as_ptr() as usize).wrapping_neg() / 8 % RUN as usize;
        Table { buf, base, n }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.n
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The buckets as one slice (take it once per operation: each call checks its bounds).
    #[inline(always)]
    fn flat(&self) -> &[u64] {
        self.buf.get(self.base..self.base + self.n).unwrap_or(&[])
    }

    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [u64] {
        self.buf.get_mut(self.base..self.base + self.n).unwrap_or(&mut [])
    }
}

/// Consecutive PGs that share a block of this many (and a shard) share a group of buckets.
const RUN: u64 = 16;

/// The hash of a `pg << 8 | shard` key: the block `pg / 16` and the shard give the home
/// group (the high bits, see [`home`]) and a rotation of the lanes; the PG's place in its
/// block, rotated, is its lane (the low bits). Sixteen consecutive PGs of a shard thus share
/// one group, one 128-byte line pair: a plan pushed in PG order (as movement plans are)
/// takes one miss per sixteen pushes in a table of tens of megabytes instead of one per
/// push, and that one is fetched ahead ([`SlotIndex::prefetch_next_block`]). The rotation
/// spreads PGs that share their place in a block (every sixteenth PG, say) over the lanes,
/// so that no lane is loaded more than the table. Runs of 16 measured best: push at 1M
/// queued took 86 ns with runs of 8, 76 with 16 and 78 with 32 (stepping one bucket).
///
/// Fibonacci hashing: one multiply by 2^64 / φ, whose top bits spread an arithmetic run of
/// blocks evenly (in `probes_stay_short`, 200,000 PGs in order never probe past their home
/// bucket; keys at random probe 1.12 buckets, as with a full mixer). A full mixer took
/// three multiplies in a row, which the probe's load waited on: push at 1M queued went from
/// 40–42 to 36 ns with this hash.
#[inline]
fn hash32(key: u64) -> u32 {
    let (pg, shard) = (key >> 8, key & 0xff);
    // Bits 32..64 are the group and the filter a probe compares; bits 28..32 rotate the
    // lanes.
    let m = crate::hash::fib_hash(((pg / RUN) << 8) | shard);
    ((m >> 32) as u32 & !(RUN as u32 - 1)) | ((pg + (m >> 28)) % RUN) as u32
}

/// The home bucket of stored hash `h` in a table of `n` buckets (a power of two, at least
/// [`RUN`]): the group from the hash's top bits (the product's best in [`hash32`]), the lane
/// from its low bits. Past 2^32 buckets the homes stay in the first 2^32.
#[inline(always)]
fn home(h: u32, n: usize) -> usize {
    let shift = 32u32.saturating_sub(n.trailing_zeros());
    (h >> shift) as usize & !(RUN as usize - 1) | (h as usize & (RUN as usize - 1))
}

/// Bucket `b`'s place in the probe cycle of a table of `mask + 1` buckets ([`next`] adds
/// one to it, modulo the table).
#[inline(always)]
fn cycle_pos(b: usize, mask: usize) -> usize {
    (b % RUN as usize) * ((mask + 1) / RUN as usize) + b / RUN as usize
}

/// How many buckets after a removed one [`passed_by_later`] looks at before it assumes
/// the worst.
const PASS_SCAN: usize = 4;

/// Whether a key after bucket `i`, in its cluster, probed through `i` on its way from its
/// home: then `i` must stay a tombstone. Looks at up to [`PASS_SCAN`] buckets, and says yes
/// when the cluster goes on past them.
#[inline]
fn passed_by_later(t: &[u64], i: usize) -> bool {
    let mask = t.len() - 1;
    let at = cycle_pos(i, mask);
    let mut j = next(i, mask);
    for _ in 0..PASS_SCAN {
        let e = t[j];
        if e == EMPTY {
            return false;
        }
        if e != TOMB {
            let from = cycle_pos(home((e >> 32) as u32, t.len()), mask);
            // Its probe covered the cycle from its home up to (not including) its bucket.
            if at.wrapping_sub(from) & mask < cycle_pos(j, mask).wrapping_sub(from) & mask {
                return true;
            }
        }
        j = next(j, mask);
    }
    true
}

#[inline]
fn entry(h: u32, slot: u32) -> u64 {
    (h as u64) << 32 | slot as u64
}

/// The bucket after `i` in the probe cycle of a table of `n` buckets (`mask = n - 1`): the
/// same lane in the next group, or the next lane in the first group after the last.
#[inline(always)]
fn next(i: usize, mask: usize) -> usize {
    let j = i + RUN as usize;
    if j > mask {
        (j + 1) & (RUN as usize - 1)
    } else {
        j
    }
}

/// The bucket before `i` in the probe cycle ([`next`] undone).
#[inline(always)]
fn prev(i: usize, mask: usize) -> usize {
    if i < RUN as usize {
        mask + 1 - RUN as usize + (i.wrapping_sub(1) & (RUN as usize - 1))
    } else {
        i - RUN as usize
    }
}

/// A key's place when it is absent, from [`SlotIndex::probe`]: the free bucket (the first
/// tombstone on the way, or the empty one that ended the probe; `usize::MAX` for an empty
/// table) and the key's hash, for [`SlotIndex::insert_at`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vacant {
    bucket: usize,
    h: u32,
}

impl SlotIndex {
    /// The table's buffer, for tests of its memory.
    #[cfg(test)]
    pub(crate) fn buffer(&self) -> &Vec<u64> {
        &self.table.buf
    }

    /// An empty index whose tables ask for huge pages when `huge_pages`.
    pub(crate) fn new(huge_pages: bool) -> SlotIndex {
        SlotIndex { huge_pages, ..SlotIndex::default() }
    }

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

    /// Fetches ahead the home of the block after `key`'s, once `key` is halfway through its
    /// own block: when PGs come in order (as plans list them), the next block's bucket is in
    /// cache by the time its first PG arrives, instead of a miss to memory every sixteen
    /// pushes. Keys in any other order lose one hash per sixteen.
    #[inline]
    pub(crate) fn prefetch_next_block(&self, key: u64) {
        let pg = key >> 8;
        if pg % RUN == RUN / 2 && !self.table.is_empty() {
            let ahead = key.wrapping_add((RUN / 2) << 8);
            let t = self.table.flat();
            let group = home(hash32(ahead), t.len()) & !(RUN as usize - 1);
            crate::hint::prefetch(&t[group]);
            crate::hint::prefetch(&t[group + RUN as usize - 1]);
        }
    }

    /// Looks `key` up: `Ok(slot)` when present, otherwise where [`SlotIndex::insert_at`]
    /// puts it as long as the table has not changed since. One probe serves both the
    /// supersede check and the insertion of a push.
    #[inline]
    pub(crate) fn probe(&self, key: u64, key_of: impl Fn(u32) -> u64) -> Result<u32, Vacant> {
        let h = hash32(key);
        if self.table.is_empty() {
            return Err(Vacant { bucket: usize::MAX, h });
        }
        let table = self.table.flat();
        let mask = table.len() - 1;
        let mut i = home(h, table.len());
        let mut free = usize::MAX;
        loop {
            let e = table[i];
            // One test for the common case, another key's entry: EMPTY and TOMB both have
            // all-ones high bits, so they pass it only when `h` does too.
            if (e >> 32) as u32 == h && e < TOMB && key_of(e as u32) == key {
                return Ok(e as u32);
            }
            if e >= TOMB {
                if e == EMPTY {
                    return Err(Vacant { bucket: if free == usize::MAX { i } else { free }, h });
                }
                if free == usize::MAX {
                    free = i;
                }
            }
            i = next(i, mask);
        }
    }

    /// Inserts a key known to be absent at the place [`SlotIndex::probe`] returned for it,
    /// when the table has not changed since and need not grow; otherwise it probes again.
    #[inline]
    pub(crate) fn insert_at(&mut self, key: u64, slot: u32, at: Option<Vacant>) {
        match at.and_then(|v| self.table.flat().get(v.bucket).map(|&e| (v, e))) {
            Some((v, TOMB)) => {
                self.table.flat_mut()[v.bucket] = entry(v.h, slot);
                self.tombs -= 1;
                self.len += 1;
            }
            Some((v, EMPTY)) if !self.over_load_with_one_more() => {
                self.table.flat_mut()[v.bucket] = entry(v.h, slot);
                self.len += 1;
            }
            _ => self.insert(key, slot),
        }
    }

    /// Whether one more entry would take live entries plus tombstones past 3/8 of the table.
    #[inline]
    fn over_load_with_one_more(&self) -> bool {
        !within_load(self.len + self.tombs + 1, self.table.len())
    }

    /// Inserts a key known to be absent.
    pub(crate) fn insert(&mut self, key: u64, slot: u32) {
        if self.over_load_with_one_more() {
            self.rebuild();
        }
        let h = hash32(key);
        let t = self.table.flat_mut();
        let mask = t.len() - 1;
        let mut i = home(h, t.len());
        loop {
            let e = t[i];
            if e == EMPTY {
                break;
            }
            if e == TOMB {
                self.tombs -= 1;
                break;
            }
            i = next(i, mask);
        }
        t[i] = entry(h, slot);
        self.len += 1;
    }

    /// Re-lays the table without tombstones: twice the size when the live entries alone
    /// pass 5/16 of it (so that a table full of tombstones is cleaned, not doubled, and
    /// the size at a given number of live keys is what plain doubling at 3/8 gives or at
    /// most one step more), the same size otherwise.
    fn rebuild(&mut self) {
        let cap = self.table.len();
        self.relay(if (self.len + 1) * 16 > cap * 5 { (cap * 2).max(MIN_BUCKETS) } else { cap });
    }

    /// Makes room for `keys` keys in all: the table that inserting them would grow to, laid
    /// out now, so that the inserts move nothing (the same size, so the same memory).
    pub(crate) fn reserve(&mut self, keys: usize) {
        // Within this, no product in the loop overflows (no table of that size exists).
        let keys = keys.min(usize::MAX / 16);
        let mut n = MIN_BUCKETS;
        while !within_load(keys, n) {
            n *= 2;
        }
        if n > self.table.len() {
            self.relay(n);
        }
    }

    /// Re-lays the table at `n` buckets (a power of two that holds every entry).
    fn relay(&mut self, n: usize) {
        let old = std::mem::replace(&mut self.table, Table::new(n, self.huge_pages));
        let mask = n - 1;
        let t = self.table.flat_mut();
        for &e in old.flat().iter().filter(|&&e| e != EMPTY && e != TOMB) {
            let mut i = home((e >> 32) as u32, n);
            while t[i] != EMPTY {
                i = next(i, mask);
            }
            t[i] = e;
        }
        self.tombs = 0;
    }

    /// Removes each `(key, slot)` entry: the buckets they start from, the next ones (which
    /// a removal reads to see whether a later key probed through) and the ones before
    /// (which a removal that leaves no tombstone reads for tombstones to clear) are fetched
    /// ahead for the whole batch first, so that the misses overlap.
    pub(crate) fn remove_all(&mut self, entries: &[(u64, u32)]) {
        if self.table.is_empty() {
            return;
        }
        let mask = self.table.len() - 1;
        for chunk in entries.chunks(64) {
            let t = self.table.flat();
            let mut hs = [0u32; 64];
            for (h, &(key, _)) in hs.iter_mut().zip(chunk) {
                *h = hash32(key);
                let i = home(*h, t.len());
                crate::hint::prefetch(&t[i]);
                crate::hint::prefetch(&t[next(i, mask)]);
                // And the bucket before, which a removal that leaves no tombstone reads.
                crate::hint::prefetch(&t[prev(i, mask)]);
            }
            for (&h, &(_, slot)) in hs.iter().zip(chunk) {
                self.remove_hashed(h, slot);
            }
        }
    }

    /// Removes `key`'s entry (which must map to `slot`).
    #[cfg(test)]
    pub(crate) fn remove(&mut self, key: u64, slot: u32) -> bool {
        self.remove_hashed(hash32(key), slot)
    }

    fn remove_hashed(&mut self, h: u32, slot: u32) -> bool {
        if self.table.is_empty() {
            return false;
        }
        let want = entry(h, slot);
        let t = self.table.flat_mut();
        let mask = t.len() - 1;
        let mut i = home(h, t.len());
        loop {
            let e = t[i];
            if e == EMPTY {
                return false;
            }
            if e == want {
                break;
            }
            i = next(i, mask);
        }
        self.len -= 1;
        // A tombstone keeps the keys after it reachable without the backward shift's moves.
        // None is needed when no key after the bucket probed through it (the end of a
        // cluster, most often), and then the ones before it go too: a key that probed
        // through them would have probed through this bucket as well.
        if passed_by_later(t, i) {
            t[i] = TOMB;
            self.tombs += 1;
        } else {
            t[i] = EMPTY;
            let mut j = prev(i, mask);
            while t[j] == TOMB {
                t[j] = EMPTY;
                self.tombs -= 1;
                j = prev(j, mask);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's invariant: every live entry's probe, from its home to its bucket,
    /// crosses no empty bucket (so a lookup, which stops at one, finds it); and the
    /// tombstones are counted.
    fn check_paths(idx: &SlotIndex) {
        let t = idx.table.flat();
        let mask = t.len().wrapping_sub(1);
        for (j, &e) in t.iter().enumerate() {
            if e == EMPTY || e == TOMB {
                continue;
            }
            let mut i = home((e >> 32) as u32, t.len());
            while i != j {
                assert_ne!(t[i], EMPTY, "entry at {j} unreachable: bucket {i} on its path is empty");
                i = next(i, mask);
            }
        }
        assert_eq!(t.iter().filter(|&&e| e == TOMB).count(), idx.tombs);
    }

    /// Buckets a lookup of `key` visits.
    fn probe_len(idx: &SlotIndex, key: u64, keys: &[u64]) -> usize {
        let t = idx.table.flat();
        let mask = t.len() - 1;
        let h = hash32(key);
        let mut i = home(h, t.len());
        let mut n = 1;
        while !((t[i] >> 32) as u32 == h && t[i] < TOMB && keys[t[i] as u32 as usize] == key) {
            assert_ne!(t[i], EMPTY, "key lost");
            i = next(i, mask);
            n += 1;
        }
        n
    }

    /// Lookups stay short for the key shapes hosts push: PGs in order (one shard or
    /// several) and every sixteenth PG, which the hash spreads evenly (a run of blocks
    /// lands on groups apart, so a lookup rarely leaves its home), and PGs at random, which
    /// probe as far as linear probing does at this load.
    #[test]
    fn probes_stay_short() {
        type Shape = fn(u64) -> u64;
        let n = 200_000u64;
        let shapes: [(&str, Shape, f64); 4] = [
            ("in order", |i| i << 8, 1.05),
            ("in order, 4 shards", |i| ((i / 4) << 8) | (i % 4), 1.05),
            ("every 16th", |i| (i * 16) << 8, 1.05),
            ("random", |i| (crate::hash::mix64(i) >> 32) << 8, 1.25),
        ];
        for (name, shape, bound) in shapes {
            let keys: Vec<u64> = (0..n).map(shape).collect();
            let mut idx = SlotIndex::default();
            for (s, &k) in keys.iter().enumerate() {
                if let Err(at) = idx.probe(k, |s| keys[s as usize]) {
                    idx.insert_at(k, s as u32, Some(at));
                }
            }
            let lens: Vec<usize> = keys.iter().map(|&k| probe_len(&idx, k, &keys)).collect();
            let mean = lens.iter().sum::<usize>() as f64 / n as f64;
            let worst = lens.iter().copied().max().unwrap_or(0);
            assert!(mean < bound && worst < 16, "{name}: mean probe {mean:.3}, worst {worst}");
        }
    }

    /// A reserved index holds its keys without growing, in the table that growing to them
    /// gives, and keeps what it held.
    #[test]
    fn reserve_lays_out_the_grown_table_once() {
        for n in [0usize, 1, 6, 7, 100, 3 * 1024, 3 * 1024 + 1, 50_000] {
            let mut grown = SlotIndex::default();
            for k in 0..n as u64 {
                grown.insert(k << 8, k as u32);
            }
            let mut idx = SlotIndex::default();
            const ODD: u32 = 1 << 30;
            let key_of = |s: u32| if s == ODD { u64::MAX << 8 } else { (s as u64) << 8 };
            idx.insert(u64::MAX << 8, ODD);
            idx.reserve(n.max(1));
            let buf = idx.buffer().as_ptr();
            for k in 1..n as u64 {
                idx.insert(k << 8, k as u32);
            }
            assert_eq!(idx.buffer().as_ptr(), buf, "{n} keys: no growth after the reserve");
            assert_eq!(idx.table.len(), grown.table.len().max(MIN_BUCKETS), "{n} keys: the grown size");
            assert_eq!(idx.find(u64::MAX << 8, key_of), Some(ODD), "{n} keys: kept");
            assert!((1..n as u64).all(|k| idx.find(k << 8, key_of) == Some(k as u32)), "{n} keys: all found");
            // Reserving less than it holds changes nothing.
            idx.reserve(1);
            assert_eq!(idx.buffer().as_ptr(), buf);
        }
    }

    /// Every table starts on a 128-byte boundary, so that each group is one line pair.
    #[test]
    fn groups_are_line_pairs() {
        for n in [16usize, 32, 1024, 1 << 16, 1 << 20] {
            for _ in 0..3 {
                let t = Table::new(n, false);
                assert_eq!(t.flat().len(), n);
                assert_eq!(t.flat().as_ptr() as usize % 128, 0, "table of {n}");
                assert!(t.flat().iter().all(|&e| e == EMPTY));
            }
        }
        assert!(Table::default().flat().is_empty());
    }

    /// `next` is one cycle through every bucket, and `prev` undoes it.
    #[test]
    fn probe_cycle_visits_every_bucket() {
        for n in [16usize, 32, 256, 4096] {
            let mask = n - 1;
            for start in [0, 1, 15, n.saturating_sub(17), n - 1] {
                let mut seen = vec![false; n];
                let mut i = start;
                for _ in 0..n {
                    assert!(!seen[i], "bucket {i} twice in a table of {n}");
                    seen[i] = true;
                    assert_eq!(prev(next(i, mask), mask), i);
                    i = next(i, mask);
                }
                assert_eq!(i, start);
            }
        }
    }

    /// Keys that all share their place in a block (every sixteenth PG) in tables from the
    /// smallest up: the rotation spreads them over the lanes, and a full lane goes on in
    /// the next one, so that every key is found and every probe ends.
    #[test]
    fn every_sixteenth_pg() {
        let keys: Vec<u64> = (0..3000u64).map(|i| (i * 16) << 8).collect();
        let mut idx = SlotIndex::default();
        for (s, &k) in keys.iter().enumerate() {
            let at = idx.probe(k, |s| keys[s as usize]).expect_err("absent");
            idx.insert_at(k, s as u32, Some(at));
            if s % 97 == 0 {
                for (t, &k) in keys.iter().enumerate().take(s + 1) {
                    assert_eq!(idx.find(k, |s| keys[s as usize]), Some(t as u32));
                }
            }
        }
        let lanes = idx.table.flat().iter().filter(|&&e| e != EMPTY).fold([0usize; 16], |mut c, &e| {
            c[(e >> 32) as usize % 16] += 1;
            c
        });
        assert!(lanes.iter().all(|&c| c > 3000 / 32), "lanes {lanes:?}");
        for (s, &k) in keys.iter().enumerate() {
            assert!(idx.remove(k, s as u32));
        }
        assert_eq!(idx.len, 0);
        assert_eq!(idx.table.flat().iter().filter(|&&e| e == TOMB).count(), idx.tombs);
    }

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
            check_paths(&idx);
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
                check_paths(&idx);
                assert_eq!(idx.table.flat().iter().filter(|&&e| e == TOMB).count(), idx.tombs);
                for (s, &k) in keys.iter().enumerate() {
                    if k != u64::MAX {
                        assert_eq!(idx.find(k, |s| keys[s as usize]), Some(s as u32));
                    }
                }
            }
        }
    }
}
