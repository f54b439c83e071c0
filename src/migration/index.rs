//! An open-addressing index from a (pg, shard) key to a task slot, four bytes per bucket:
//! the keys live in the task records, so the table holds only slot numbers. Linear probing
//! with backward-shift deletion (no tombstones), load at most 3/4.

#![forbid(unsafe_code)]

const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
pub(crate) struct SlotIndex {
    table: Vec<u32>,
    len: usize,
}

#[inline]
fn home(key: u64, mask: usize) -> usize {
    (crate::hash::mix64(key ^ 0x5bd1_e995) as usize) & mask
}

impl SlotIndex {
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.table.capacity() * 4
    }

    pub(crate) fn find(&self, key: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut i = home(key, mask);
        loop {
            let s = self.table[i];
            if s == EMPTY {
                return None;
            }
            if key_of(s) == key {
                return Some(s);
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts a key known to be absent.
    pub(crate) fn insert(&mut self, key: u64, slot: u32, key_of: impl Fn(u32) -> u64 + Copy) {
        if (self.len + 1) * 4 > self.table.len() * 3 {
            self.grow(key_of);
        }
        let mask = self.table.len() - 1;
        let mut i = home(key, mask);
        while self.table[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.table[i] = slot;
        self.len += 1;
    }

    fn grow(&mut self, key_of: impl Fn(u32) -> u64) {
        let n = (self.table.len() * 2).max(16);
        let old = std::mem::replace(&mut self.table, vec![EMPTY; n]);
        let mask = n - 1;
        for s in old.into_iter().filter(|&s| s != EMPTY) {
            let mut i = home(key_of(s), mask);
            while self.table[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.table[i] = s;
        }
    }

    /// Removes `key`'s entry (which must map to `slot`).
    pub(crate) fn remove(&mut self, key: u64, slot: u32, key_of: impl Fn(u32) -> u64) -> bool {
        if self.table.is_empty() {
            return false;
        }
        let mask = self.table.len() - 1;
        let mut i = home(key, mask);
        loop {
            let s = self.table[i];
            if s == EMPTY {
                return false;
            }
            if s == slot {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion keeps every remaining key reachable from its home.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = self.table[j];
            if s == EMPTY {
                break;
            }
            let h = home(key_of(s), mask);
            // Move s into the hole when its home is not in (hole, j].
            let between = if hole <= j { h > hole && h <= j } else { h > hole || h <= j };
            if !between {
                self.table[hole] = s;
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
            let ks = keys.clone();
            if keys[slot as usize] == u64::MAX {
                if idx.find(k, |s| ks[s as usize]).is_none() {
                    keys[slot as usize] = k;
                    let ks = keys.clone();
                    idx.insert(k, slot, |s| ks[s as usize]);
                }
            } else {
                let old = keys[slot as usize];
                assert_eq!(idx.find(old, |s| ks[s as usize]), Some(slot));
                assert!(idx.remove(old, slot, |s| ks[s as usize]));
                keys[slot as usize] = u64::MAX;
                let ks = keys.clone();
                assert_eq!(idx.find(old, |s| ks[s as usize]), None);
            }
        }
        for (s, &k) in keys.iter().enumerate() {
            if k != u64::MAX {
                assert_eq!(idx.find(k, |s| keys[s as usize]), Some(s as u32));
            }
        }
    }
}
