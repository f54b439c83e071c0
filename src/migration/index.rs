//! An open-addressing index from a (pg, shard) key to a task slot. Each bucket holds the
//! slot and the low 32 bits of the key's hash: a probe compares hashes without touching the
//! task records (which would be a cache miss each at a million tasks), and growing or
//! deleting finds every entry's home from its stored hash alone. Linear probing with
//! backward-shift deletion (no tombstones), load at most 3/4.

#![forbid(unsafe_code)]

const EMPTY: u64 = u64::MAX;

#[derive(Debug, Clone, Default)]
pub(crate) struct SlotIndex {
    table: Vec<u64>,
    len: usize,
}

#[inline]
fn hash32(key: u64) -> u32 {
    crate::hash::mix64(key ^ 0x5bd1_e995) as u32
}

#[inline]
fn entry(h: u32, slot: u32) -> u64 {
    (h as u64) << 32 | slot as u64
}

impl SlotIndex {
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.table.capacity() * 8
    }

    #[cfg(test)]
    pub(crate) fn find(&self, key: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.probe(key, key_of).ok()
    }

    /// Looks `key` up: `Ok(slot)` when present, otherwise `Err(bucket)`, the empty bucket
    /// where [`SlotIndex::insert_at`] puts it as long as the table has not changed since
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
        loop {
            let e = self.table[i];
            if e == EMPTY {
                return Err(i);
            }
            if (e >> 32) as u32 == h && key_of(e as u32) == key {
                return Ok(e as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts a key known to be absent at the bucket [`SlotIndex::probe`] returned, when
    /// the table has not changed since and need not grow; anywhere else it probes again.
    #[inline]
    pub(crate) fn insert_at(&mut self, key: u64, slot: u32, bucket: Option<usize>) {
        match bucket {
            Some(b) if (self.len + 1) * 4 <= self.table.len() * 3 && self.table.get(b) == Some(&EMPTY) => {
                self.table[b] = entry(hash32(key), slot);
                self.len += 1;
            }
            _ => self.insert(key, slot),
        }
    }

    /// Inserts a key known to be absent.
    pub(crate) fn insert(&mut self, key: u64, slot: u32) {
        if (self.len + 1) * 4 > self.table.len() * 3 {
            self.grow();
        }
        let mask = self.table.len() - 1;
        let h = hash32(key);
        let mut i = h as usize & mask;
        while self.table[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.table[i] = entry(h, slot);
        self.len += 1;
    }

    fn grow(&mut self) {
        let n = (self.table.len() * 2).max(16);
        let old = std::mem::replace(&mut self.table, vec![EMPTY; n]);
        let mask = n - 1;
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            let mut i = (e >> 32) as usize & mask;
            while self.table[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.table[i] = e;
        }
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
        // Backward-shift deletion keeps every remaining key reachable from its home.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let e = self.table[j];
            if e == EMPTY {
                break;
            }
            let h = (e >> 32) as usize & mask;
            // Move e into the hole when its home is not in (hole, j].
            let between = if hole <= j { h > hole && h <= j } else { h > hole || h <= j };
            if !between {
                self.table[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.table[hole] = EMPTY;
        self.len -= 1;
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
}
