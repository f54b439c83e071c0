//! An indexed binary min-heap over dense `u32` ids: push, pop, remove and change-key in
//! O(log n) without a scan, because every id's position is kept up to date on each move.
//!
//! The core ([`HeapVec`]) keeps its positions wherever the owner wants them (the scheduler
//! keeps them inside its task records, which saves a separate array); [`IndexedHeap`] is the
//! stand-alone form with its own position array.

#![forbid(unsafe_code)]

/// "Not in a heap".
pub const NO_POS: u32 = u32::MAX;

/// Where a heap writes the positions of its ids.
pub trait PosStore {
    /// Records that `id` is now at `pos`.
    fn set_pos(&mut self, id: u32, pos: u32);
}

/// The heap array: `(key, id)` entries, smallest key on top.
#[derive(Debug, Clone, Default)]
pub struct HeapVec<K> {
    v: Vec<(K, u32)>,
}

impl<K: Ord + Copy> HeapVec<K> {
    /// An empty heap.
    pub const fn new() -> Self {
        HeapVec { v: Vec::new() }
    }

    /// An empty heap with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        HeapVec { v: Vec::with_capacity(n) }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// Whether it is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// Allocated entries (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.v.capacity()
    }

    /// The smallest entry.
    #[inline]
    pub fn peek(&self) -> Option<(K, u32)> {
        self.v.first().copied()
    }

    /// The entry at `pos`.
    #[inline]
    pub fn get(&self, pos: u32) -> Option<(K, u32)> {
        self.v.get(pos as usize).copied()
    }

    /// Iterates the entries in array order.
    pub fn iter(&self) -> impl Iterator<Item = &(K, u32)> {
        self.v.iter()
    }

    /// Adds `id` with `key`.
    #[inline]
    pub fn push(&mut self, key: K, id: u32, ps: &mut impl PosStore) {
        let pos = self.v.len();
        self.v.push((key, id));
        self.sift_up(pos, ps);
    }

    /// Removes and returns the smallest entry.
    #[inline]
    pub fn pop(&mut self, ps: &mut impl PosStore) -> Option<(K, u32)> {
        if self.v.is_empty() {
            return None;
        }
        Some(self.remove_at(0, ps))
    }

    /// Removes the entry at `pos` (which must be `< len`; checked by the caller).
    pub fn remove_at(&mut self, pos: u32, ps: &mut impl PosStore) -> (K, u32) {
        let pos = pos as usize;
        let last = self.v.len() - 1;
        self.v.swap(pos, last);
        let out = self.v.pop().unwrap_or_else(|| unreachable!("len checked"));
        ps.set_pos(out.1, NO_POS);
        if pos < last {
            // The removed key lay between its parent's and its children's, so comparing the
            // moved-in key with it says which way (if any) to go without reading the
            // parent's cache line on every removal.
            let moved = self.v[pos].0;
            if moved < out.0 {
                self.sift_up(pos, ps);
            } else if moved > out.0 {
                self.sift_down(pos, ps);
            } else {
                ps.set_pos(self.v[pos].1, pos as u32);
            }
        }
        out
    }

    /// Changes the key of the entry at `pos`.
    pub fn update_at(&mut self, pos: u32, key: K, ps: &mut impl PosStore) {
        let pos = pos as usize;
        let old = self.v[pos].0;
        self.v[pos].0 = key;
        if key < old {
            self.sift_up(pos, ps);
        } else if key > old {
            self.sift_down(pos, ps);
        }
    }

    /// Rebuilds the heap after the keys were rewritten by `f` (a policy change).
    pub fn rekey(&mut self, mut f: impl FnMut(u32) -> K, ps: &mut impl PosStore) {
        for e in self.v.iter_mut() {
            e.0 = f(e.1);
        }
        let n = self.v.len();
        for i in (0..n / 2).rev() {
            self.sift_down(i, ps);
        }
        for (i, e) in self.v.iter().enumerate() {
            ps.set_pos(e.1, i as u32);
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self, ps: &mut impl PosStore) {
        for e in self.v.drain(..) {
            ps.set_pos(e.1, NO_POS);
        }
    }

    #[inline]
    fn sift_up(&mut self, mut pos: usize, ps: &mut impl PosStore) -> usize {
        let item = self.v[pos];
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let p = self.v[parent];
            if item.0 >= p.0 {
                break;
            }
            self.v[pos] = p;
            ps.set_pos(p.1, pos as u32);
            pos = parent;
        }
        self.v[pos] = item;
        ps.set_pos(item.1, pos as u32);
        pos
    }

    #[inline]
    fn sift_down(&mut self, mut pos: usize, ps: &mut impl PosStore) {
        let n = self.v.len();
        let item = self.v[pos];
        loop {
            let l = 2 * pos + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && self.v[r].0 < self.v[l].0 { r } else { l };
            let ce = self.v[c];
            if ce.0 >= item.0 {
                break;
            }
            self.v[pos] = ce;
            ps.set_pos(ce.1, pos as u32);
            pos = c;
        }
        self.v[pos] = item;
        ps.set_pos(item.1, pos as u32);
    }
}

impl PosStore for Vec<u32> {
    #[inline(always)]
    fn set_pos(&mut self, id: u32, pos: u32) {
        if let Some(p) = self.get_mut(id as usize) {
            *p = pos;
        }
    }
}

/// A stand-alone indexed min-heap over ids `0..capacity`, with its own position array.
///
/// ```
/// use trimtab::migration::IndexedHeap;
/// let mut h = IndexedHeap::with_capacity(10);
/// h.push(3, 30u64).unwrap();
/// h.push(7, 10).unwrap();
/// h.change_key(3, 5).unwrap();
/// assert_eq!(h.pop(), Some((3, 5)));
/// assert!(h.remove(7).is_some());
/// assert!(h.is_empty());
/// assert!(h.push(15, 1).is_none()); // out of range until the range grows
/// h.grow(20);
/// h.push(15, 1).unwrap();
/// assert_eq!(h.key(15), Some(1));
/// ```
#[derive(Debug, Clone)]
pub struct IndexedHeap<K> {
    heap: HeapVec<K>,
    pos: Vec<u32>,
}

impl<K: Ord + Copy> IndexedHeap<K> {
    /// A heap for ids `0..capacity`.
    pub fn with_capacity(capacity: u32) -> Self {
        IndexedHeap { heap: HeapVec::with_capacity(capacity as usize), pos: vec![NO_POS; capacity as usize] }
    }

    /// Widens the id range to `0..capacity` (a no-op when it is that wide already).
    pub fn grow(&mut self, capacity: u32) {
        if self.pos.len() < capacity as usize {
            self.pos.resize(capacity as usize, NO_POS);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Whether `id` is in the heap.
    pub fn contains(&self, id: u32) -> bool {
        self.pos.get(id as usize).is_some_and(|&p| p != NO_POS)
    }

    /// `id`'s key, when it is in the heap.
    pub fn key(&self, id: u32) -> Option<K> {
        self.heap.get(*self.pos.get(id as usize)?).map(|e| e.0)
    }

    /// Adds `id`; `None` when `id` is out of range or already present.
    #[inline]
    pub fn push(&mut self, id: u32, key: K) -> Option<()> {
        if *self.pos.get(id as usize)? != NO_POS {
            return None;
        }
        self.heap.push(key, id, &mut self.pos);
        Some(())
    }

    /// The smallest `(id, key)`.
    pub fn peek(&self) -> Option<(u32, K)> {
        self.heap.peek().map(|(k, i)| (i, k))
    }

    /// Removes and returns the smallest `(id, key)`.
    #[inline]
    pub fn pop(&mut self) -> Option<(u32, K)> {
        self.heap.pop(&mut self.pos).map(|(k, i)| (i, k))
    }

    /// Removes `id`, returning its key.
    #[inline]
    pub fn remove(&mut self, id: u32) -> Option<K> {
        let p = *self.pos.get(id as usize)?;
        if p == NO_POS {
            return None;
        }
        Some(self.heap.remove_at(p, &mut self.pos).0)
    }

    /// Changes `id`'s key.
    #[inline]
    pub fn change_key(&mut self, id: u32, key: K) -> Option<()> {
        let p = *self.pos.get(id as usize)?;
        if p == NO_POS {
            return None;
        }
        self.heap.update_at(p, key, &mut self.pos);
        Some(())
    }

    /// Bytes allocated per id slot and entry (for the memory figure).
    pub fn allocated_bytes(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<(K, u32)>() + self.pos.capacity() * 4
    }
}

/// Node `n`'s out group: pairs from it, waiting for one of its outbound slots.
#[inline]
pub(crate) fn out_group(n: u32) -> u32 {
    n * 2
}

/// Node `n`'s in group: pairs into it, waiting for one of its inbound slots.
#[inline]
pub(crate) fn in_group(n: u32) -> u32 {
    n * 2 + 1
}

/// The pairs with queued work, grouped by the node slot each waits for, and a heap over
/// the groups whose slot is free: the admission's "which pair next" without visiting the
/// pairs that cannot start.
///
/// Every node has two groups: its *out* group (pairs from it, not known to be blocked on
/// their target) and its *in* group (pairs into it that were found blocked on it while
/// their source was free). A group is *active* while its node has a free slot in its
/// direction (the nodes of the active groups are kept as two lists, the nodes with a free
/// outbound and with a free inbound slot, which admission walks when few nodes are free);
/// only active, non-empty groups are in the top heap, keyed by their best pair.
/// So a node filling up or freeing a slot costs one top-heap operation, whatever the number
/// of pairs waiting for it, and the admission looks only at the best pair of a group whose
/// node can take it.
#[derive(Debug, Clone)]
pub(crate) struct Groups {
    heaps: Vec<HeapVec<u128>>,
    /// Per pair: its group, or [`NO_POS`].
    of: Vec<u32>,
    /// Per pair: its position in its group's heap.
    pos: Vec<u32>,
    /// The nodes of the active out groups (`[0]`) and in groups (`[1]`): the nodes with a
    /// free outbound and inbound slot.
    free: [Vec<u32>; 2],
    /// Per group: its node's place in `free`, or [`NO_POS`] while the group is inactive.
    free_at: Vec<u32>,
    /// The active, non-empty groups by their best pair's key (one `u128` compare).
    top: IndexedHeap<u128>,
}

impl Default for Groups {
    fn default() -> Self {
        Groups {
            heaps: Vec::new(),
            of: Vec::new(),
            pos: Vec::new(),
            free: [Vec::new(), Vec::new()],
            free_at: Vec::new(),
            top: IndexedHeap::with_capacity(0),
        }
    }
}

impl Groups {
    /// Makes sure groups `0..n` exist (new ones active).
    pub(crate) fn ensure(&mut self, n: usize) {
        while self.heaps.len() < n {
            let g = self.heaps.len() as u32;
            self.heaps.push(HeapVec::new());
            let list = &mut self.free[(g & 1) as usize];
            self.free_at.push(list.len() as u32);
            list.push(g / 2);
        }
        self.top.grow(n as u32);
    }

    /// The group pair `p` is in.
    #[inline]
    pub(crate) fn group_of(&self, p: u32) -> Option<u32> {
        self.of.get(p as usize).copied().filter(|&g| g != NO_POS)
    }

    /// The key pair `p` has in its group.
    #[inline]
    pub(crate) fn key_of(&self, p: u32) -> Option<u128> {
        let g = self.group_of(p)?;
        self.heaps[g as usize].get(self.pos[p as usize]).map(|e| e.0)
    }

    /// The best pair of group `g`.
    #[inline]
    pub(crate) fn top_of(&self, g: u32) -> Option<u32> {
        self.heaps.get(g as usize)?.peek().map(|e| e.1)
    }

    /// Whether group `g` is active.
    pub(crate) fn is_active(&self, g: u32) -> bool {
        self.free_at.get(g as usize).is_some_and(|&i| i != NO_POS)
    }

    /// The nodes with a free outbound (`out`) or inbound slot: those of the active groups.
    #[inline]
    pub(crate) fn free_nodes(&self, out: bool) -> &[u32] {
        &self.free[!out as usize]
    }

    /// The best pair of the best active group, with that group.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(u32, u32)> {
        let (g, _) = self.top.peek()?;
        let (_, p) = self.heaps[g as usize].peek()?;
        Some((g, p))
    }

    /// Puts pair `p` into group `g` with `key`: moves it there if it is in another group,
    /// re-keys it if it is already there.
    pub(crate) fn place(&mut self, p: u32, g: u32, key: u128) {
        if self.of.len() <= p as usize {
            self.of.resize(p as usize + 1, NO_POS);
            self.pos.resize(p as usize + 1, NO_POS);
        }
        let cur = self.of[p as usize];
        if cur == g {
            let before = self.heaps[g as usize].peek();
            self.heaps[g as usize].update_at(self.pos[p as usize], key, &mut self.pos);
            if self.heaps[g as usize].peek() != before {
                self.sync(g);
            }
            return;
        }
        if cur != NO_POS {
            self.remove(p);
        }
        let h = &mut self.heaps[g as usize];
        h.push(key, p, &mut self.pos);
        self.of[p as usize] = g;
        if h.peek().is_some_and(|e| e.1 == p) {
            self.sync(g);
        }
    }

    /// Takes pair `p` out of its group (a no-op when it is in none).
    pub(crate) fn remove(&mut self, p: u32) {
        let Some(g) = self.group_of(p) else {
            return;
        };
        let h = &mut self.heaps[g as usize];
        let was_top = h.peek().is_some_and(|e| e.1 == p);
        h.remove_at(self.pos[p as usize], &mut self.pos);
        self.of[p as usize] = NO_POS;
        if was_top {
            self.sync(g);
        }
    }

    /// Activates or deactivates group `g`; returns whether that changed anything.
    pub(crate) fn set_active(&mut self, g: u32, on: bool) -> bool {
        if g as usize >= self.free_at.len() || self.is_active(g) == on {
            return false;
        }
        let list = &mut self.free[(g & 1) as usize];
        if on {
            self.free_at[g as usize] = list.len() as u32;
            list.push(g / 2);
        } else {
            let i = std::mem::replace(&mut self.free_at[g as usize], NO_POS) as usize;
            list.swap_remove(i);
            if let Some(&m) = list.get(i) {
                self.free_at[(m * 2 + (g & 1)) as usize] = i as u32;
            }
        }
        self.sync(g);
        true
    }

    /// Brings group `g`'s entry in the top heap in line with its state and best pair.
    fn sync(&mut self, g: u32) {
        match self.heaps[g as usize].peek() {
            Some((k, _)) if self.free_at[g as usize] != NO_POS => {
                if self.top.change_key(g, k).is_none() {
                    self.top.push(g, k);
                }
            }
            _ => {
                self.top.remove(g);
            }
        }
    }

    /// Bytes allocated (for the memory figure).
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.heaps.iter().map(|h| h.capacity() * 32).sum::<usize>()
            + self.heaps.capacity() * std::mem::size_of::<HeapVec<u128>>()
            + (self.of.capacity() + self.pos.capacity()) * 4
            + (self.free[0].capacity() + self.free[1].capacity() + self.free_at.capacity()) * 4
            + self.top.allocated_bytes()
    }

    /// Checks positions, memberships and the top heap against the groups.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (g, h) in self.heaps.iter().enumerate() {
            for (i, &(_, p)) in h.iter().enumerate() {
                if self.of.get(p as usize) != Some(&(g as u32)) || self.pos[p as usize] != i as u32 {
                    return Err(format!("group {g}: pair {p} out of place"));
                }
            }
            if h.iter().enumerate().any(|(i, e)| i > 0 && h.get(((i - 1) / 2) as u32).is_some_and(|q| q.0 > e.0)) {
                return Err(format!("group {g}: heap order broken"));
            }
            let want = if self.is_active(g as u32) { h.peek().map(|e| e.0) } else { None };
            let have = self.top.key(g as u32);
            if want != have {
                return Err(format!("group {g}: top heap has {have:?}, group says {want:?}"));
            }
        }
        for (d, list) in self.free.iter().enumerate() {
            if list.iter().enumerate().any(|(i, &n)| self.free_at.get((n * 2) as usize + d) != Some(&(i as u32))) {
                return Err("free-node lists out of step with the active groups".into());
            }
        }
        if self.free_at.iter().filter(|&&i| i != NO_POS).count() != self.free[0].len() + self.free[1].len() {
            return Err("an active group missing from the free-node lists".into());
        }
        let members = self.heaps.iter().map(|h| h.len()).sum::<usize>();
        if self.of.iter().filter(|&&g| g != NO_POS).count() != members {
            return Err("pairs marked in a group that does not hold them".into());
        }
        Ok(())
    }
}

/// One entry of a [`LazyHeap`]: ordered by key, then slot and tag (a total order, so the
/// top is one definite entry), compared as one `u128` (two instructions and no branch,
/// where comparing the fields in turn branches on each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Entry {
    pub(crate) key: u64,
    // The tag before the slot: the two then read as one little-endian `slot << 32 | tag`.
    pub(crate) tag: u32,
    pub(crate) slot: u32,
}

impl Entry {
    #[inline(always)]
    fn rank(&self) -> u128 {
        (self.key as u128) << 64 | (self.slot as u128) << 32 | self.tag as u128
    }
}

/// `a` if `c`, else `b`, by masks rather than a branch (`std::hint::select_unpredictable`
/// needs Rust 1.88).
#[inline(always)]
fn pick(c: bool, a: Entry, b: Entry) -> Entry {
    let m = (c as u64).wrapping_neg();
    let m32 = m as u32;
    Entry {
        key: (a.key & m) | (b.key & !m),
        tag: (a.tag & m32) | (b.tag & !m32),
        slot: (a.slot & m32) | (b.slot & !m32),
    }
}

impl Ord for Entry {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for Entry {
    #[inline(always)]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }

    #[inline(always)]
    fn lt(&self, other: &Self) -> bool {
        self.rank() < other.rank()
    }

    #[inline(always)]
    fn ge(&self, other: &Self) -> bool {
        self.rank() >= other.rank()
    }
}

/// Puts `e` into the hole at `pos` or above it, moving down the ancestors that rank after
/// it; returns where it went.
#[inline(always)]
fn sift_up(v: &mut [Entry], mut pos: usize, e: Entry) -> usize {
    while pos > 0 {
        let parent = (pos - 1) / 2;
        let p = v[parent];
        if e >= p {
            break;
        }
        v[pos] = p;
        pos = parent;
    }
    v[pos] = e;
    pos
}

/// A min-heap with lazy removal and no position index: the owner keeps, per slot, the tag
/// of its one valid entry; removing or re-keying an entry only changes that tag, and the
/// entries left behind (*stale*) are dropped when they reach the top or when they pass a
/// third of the heap ([`LazyHeap::maybe_compact`]). Sifts move 16-byte entries and write
/// nothing else, where a position-indexed heap writes each moved id's position (a cache
/// miss each at a million entries).
///
/// The owner keeps the top valid: after any change that can make the top stale it calls
/// [`LazyHeap::clean_top`], so [`LazyHeap::peek`] always shows a valid entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct LazyHeap {
    v: Vec<Entry>,
    stale: u32,
    /// A copy of `v[0]`, kept by every change: [`LazyHeap::peek`] reads the owner's cache
    /// line, not the heap's (a cache miss per look at a million queued tasks).
    top: Option<Entry>,
}

impl LazyHeap {
    /// Entries, valid and stale.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    /// Valid entries.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.v.len() - self.stale as usize
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.v.capacity()
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<Entry> {
        self.top
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.v.iter()
    }

    /// Adds `e`; true when it became the top.
    #[inline(always)]
    pub(crate) fn push(&mut self, e: Entry) -> bool {
        let n = self.v.len();
        self.v.push(e);
        let v = &mut self.v[..];
        let mut pos = n;
        if n >= 3 {
            // Most entries come to rest at the bottom or one level up. Those two cases take
            // no branch on the keys (the mispredicted exit from the loop below cost a third
            // of a push at a million queued): both slots are written whichever it is.
            let p1 = (n - 1) / 2;
            let p2 = (p1 - 1) / 2;
            let a = v[p1];
            let up1 = e < a;
            // Not below the grandparent, then not below any ancestor above it either.
            if e >= v[p2] {
                v[n] = pick(up1, a, e);
                v[p1] = pick(up1, e, a);
                return false;
            }
            // Above the grandparent: the loop from there.
            v[n] = a;
            v[p1] = v[p2];
            pos = p2;
        }
        let top = sift_up(v, pos, e) == 0;
        if top {
            self.top = Some(e);
        }
        top
    }

    /// Removes the top entry (valid or not; the caller accounts for it).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        let last = self.v.pop()?;
        let Some(&top) = self.v.first() else {
            self.top = None;
            return Some(last);
        };
        // Floyd's pop: walk the hole to the bottom along the smaller children, then sift
        // the former last entry up from there (it usually stays near the bottom). Written
        // against the slice's own length, so that the compiler drops the bounds checks.
        let v = &mut self.v[..];
        let mut pos = 0;
        while 2 * pos + 2 < v.len() {
            let l = 2 * pos + 1;
            let c = if v[l + 1] < v[l] { l + 1 } else { l };
            v[pos] = v[c];
            pos = c;
        }
        if 2 * pos + 1 < v.len() {
            v[pos] = v[2 * pos + 1];
            pos = 2 * pos + 1;
        }
        sift_up(v, pos, last);
        self.top = Some(v[0]);
        Some(top)
    }

    /// Gives the top entry a larger key and sifts it down to its place.
    #[inline]
    pub(crate) fn raise_top(&mut self, key: u64) {
        let Some(top) = self.v.first_mut() else {
            return;
        };
        top.key = key;
        self.sift_down(0);
        self.top = self.v.first().copied();
    }

    /// Moves the entry at `pos` down to its place below.
    #[inline]
    fn sift_down(&mut self, mut pos: usize) {
        let n = self.v.len();
        let item = self.v[pos];
        loop {
            let l = 2 * pos + 1;
            if l >= n {
                break;
            }
            let c = if l + 1 < n && self.v[l + 1] < self.v[l] { l + 1 } else { l };
            if self.v[c] >= item {
                break;
            }
            self.v[pos] = self.v[c];
            pos = c;
        }
        self.v[pos] = item;
    }

    /// Records that one valid entry became stale.
    #[inline]
    pub(crate) fn mark_stale(&mut self) {
        self.stale += 1;
    }

    /// Pops stale entries off the top until the top is valid or the heap is empty.
    #[inline]
    pub(crate) fn clean_top(&mut self, valid: impl Fn(Entry) -> bool) {
        while let Some(top) = self.peek() {
            if valid(top) {
                break;
            }
            self.pop();
            self.stale -= 1;
        }
    }

    /// Drops the stale entries once they are more than a third of the heap (so the heap
    /// stays under 1.5 entries per valid one); the cost, one pass, is paid by the stale
    /// entries that built up since the last time.
    #[inline]
    pub(crate) fn maybe_compact(&mut self, valid: impl Fn(Entry) -> bool) {
        if self.stale as usize * 2 > self.live() + 32 {
            self.rebuild(|e| valid(e).then_some(e.key));
        }
    }

    /// Keeps the entries for which `f` gives a key, with that key, and re-heapifies.
    pub(crate) fn rebuild(&mut self, mut f: impl FnMut(Entry) -> Option<u64>) {
        self.v.retain_mut(|e| match f(*e) {
            Some(k) => {
                e.key = k;
                true
            }
            None => false,
        });
        self.stale = 0;
        for i in (0..self.v.len() / 2).rev() {
            self.sift_down(i);
        }
        self.top = self.v.first().copied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_sorted_model() {
        let mut h = IndexedHeap::with_capacity(1000);
        let mut model = std::collections::BTreeMap::new();
        let mut x = 12345u64;
        for step in 0..20_000u32 {
            x = crate::hash::mix64(x);
            let id = (x % 1000) as u32;
            let key = (x >> 20) % 500;
            match step % 4 {
                0 | 1 => {
                    if h.push(id, (key, id)).is_some() {
                        model.insert(id, (key, id));
                    }
                }
                2 => assert_eq!(h.remove(id), model.remove(&id)),
                _ => {
                    if h.change_key(id, (key, id)).is_some() {
                        model.insert(id, (key, id));
                    }
                }
            }
            if step % 7 == 0 {
                let want = model.iter().map(|(&i, &k)| (k, i)).min();
                assert_eq!(h.pop().map(|(i, k)| (k, i)), want);
                if let Some((_, i)) = want {
                    model.remove(&i);
                }
            }
        }
        assert_eq!(h.len(), model.len());
        assert!(h.push(5000, (0, 0)).is_none());
    }

    #[test]
    fn lazy_heap_matches_a_model() {
        // Slot -> current tag (0: not in the heap); the model holds the valid entries.
        let mut tags = vec![0u32; 300];
        let mut next = 1u32;
        let mut h = LazyHeap::default();
        let mut model = std::collections::BTreeSet::new();
        let mut x = 99u64;
        for step in 0..40_000u32 {
            x = crate::hash::mix64(x);
            let slot = (x % 300) as u32;
            let key = (x >> 20) % 200;
            let old = tags[slot as usize];
            if old != 0 {
                // Remove or re-key: the old entry goes stale.
                let e = *model.iter().find(|e: &&Entry| e.slot == slot).unwrap();
                model.remove(&e);
                h.mark_stale();
                tags[slot as usize] = 0;
            }
            if old == 0 || step % 3 == 0 {
                let e = Entry { key, slot, tag: next };
                tags[slot as usize] = next;
                next += 1;
                let became_top = h.push(e);
                assert_eq!(became_top, h.peek() == Some(e));
                model.insert(e);
            }
            h.clean_top(|e| tags[e.slot as usize] == e.tag);
            h.maybe_compact(|e| tags[e.slot as usize] == e.tag);
            assert_eq!(h.live(), model.len());
            assert_eq!(h.peek(), model.iter().next().copied());
            assert_eq!(h.peek(), h.v.first().copied());
            // The heap order itself, which a push keeps along its branch-free and its
            // looping paths alike.
            assert!((1..h.v.len()).all(|i| h.v[i] >= h.v[(i - 1) / 2]), "heap order at step {step}");
            assert!(h.len() * 2 <= h.live() * 3 + 34);
            if step % 11 == 0 {
                if let Some(e) = h.pop() {
                    assert!(model.remove(&e));
                    tags[e.slot as usize] = 0;
                    h.clean_top(|e| tags[e.slot as usize] == e.tag);
                }
            }
        }
    }
}
