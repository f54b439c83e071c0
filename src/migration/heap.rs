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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
/// it.
#[inline(always)]
fn sift_up(v: &mut [Entry], mut pos: usize, e: Entry) {
    while pos > 0 {
        let up = parent(pos);
        let p = v[up];
        if e >= p {
            break;
        }
        v[pos] = p;
        pos = up;
    }
    v[pos] = e;
}

/// A pair's queue: a min-queue of [`Entry`]s with lazy removal and no position index. The
/// owner keeps, per slot, the tag of its one valid entry; removing or re-keying an entry
/// only changes that tag, and the entries left behind (*stale*) are dropped when they reach
/// the top or when they pass a fifth of the queue ([`LazyHeap::maybe_compact`]).
///
/// Two parts hold the entries: a *run* sorted from smallest to largest, and a 4-ary
/// min-heap of the entries pushed since the run was last merged (four children to a cache
/// line; see [`ARITY`]). A push goes into the heap; a pop takes the smaller of the run's
/// first and the heap's top. When a start
/// ([`LazyHeap::pop`]) takes the heap's top, the heap is first sorted into the run if it
/// holds [`MERGE_MIN`] entries, an eighth of the run and at most [`MERGE_MAX`]. So a start
/// at a million queued tasks reads the run's front, usually the cache line the previous
/// start from this pair read, and a small heap's top, where a pop from one big heap walks
/// its whole depth, a cache miss per level (most of what starting a task cost). A merge
/// sorts the heap's entries and moves the run's entries that sort before the largest of
/// them: none when keys grow with time, as queue times do (the run is then empty when a
/// start first takes from the heap), and at most eight per entry merged, so each entry
/// pushed costs O(log n) in all.
///
/// Both parts share one buffer, the heap at its start and the run at its end: a pop from
/// the run frees a place at the run's front, a push takes the first free place after the
/// heap, and a merge writes the sorted heap in front of the run. So the queue needs no more
/// room than the entries it holds. The buffer grows by half when full while it fills, by an
/// eighth once it holds stale entries: in a million-task queue churned by cancels, doubling
/// as a `Vec` does held 2.06 places per queued task, growing by half 1.81, this 1.41. A
/// rebuild keeps room for the stale entries allowed until the next one and gives the rest
/// back (1.37 places per queued task in that queue).
///
/// The owner keeps the top valid: after any change that can make the top stale it calls
/// [`LazyHeap::clean_top`], so [`LazyHeap::peek`] always shows a valid entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct LazyHeap {
    /// `[..heap]`: the heap; `[run..]`: the run; between them, free places.
    buf: Vec<Entry>,
    heap: u32,
    run: u32,
    stale: u32,
    /// The smallest entry of either part, kept by every change: [`LazyHeap::peek`] reads
    /// the owner's cache line, not the queue's (a cache miss per look at a million queued
    /// tasks). [`NONE`] (tag 0, which no entry has) when the queue is empty.
    top: Entry,
}

/// A start that takes the heap's top merges the heap into the run first when the heap
/// holds at least this many entries and an eighth of the run.
pub(crate) const MERGE_MIN: usize = 8;

/// The largest heap sorted into the run in one merge (a sort of 1,024 entries takes tens
/// of microseconds): beyond it, the heap serves its own pops, as one big heap would.
pub(crate) const MERGE_MAX: usize = 1024;

/// The most stale entries a queue of `live` valid ones keeps: a quarter of them plus 16
/// ([`LazyHeap::over_stale_bound`]).
#[inline]
fn stale_allowed(live: usize) -> usize {
    (live + 64) / 4
}

/// How many entries ahead of its check a rebuild announces an entry.
const AHEAD: usize = 16;

/// What fills a free place, and the top of an empty queue: tag 0, which no entry has (the
/// owner's tags start at 1).
const NONE: Entry = Entry { key: 0, tag: 0, slot: 0 };

impl LazyHeap {
    /// Entries, valid and stale.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.heap as usize + self.run_len()
    }

    #[inline]
    fn run_len(&self) -> usize {
        self.buf.len() - self.run as usize
    }

    /// Valid entries.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.len() - self.stale as usize
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.top.tag == 0
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<Entry> {
        (self.top.tag != 0).then_some(self.top)
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.buf[..self.heap as usize].iter().chain(self.buf[self.run as usize..].iter())
    }

    /// The run's smallest entry.
    #[inline]
    fn run_front(&self) -> Option<Entry> {
        self.buf.get(self.run as usize).copied()
    }

    /// The smaller of the run's first and the heap's top.
    #[inline]
    fn least(&self) -> Option<Entry> {
        let r = self.run_front();
        if self.heap == 0 {
            return r;
        }
        let h = self.buf[0];
        Some(match r {
            Some(r) if r < h => r,
            _ => h,
        })
    }

    /// Adds `e`; true when it became the top (it sorts before the cached top, which is the
    /// least of both parts).
    #[inline(always)]
    pub(crate) fn push(&mut self, e: Entry) -> bool {
        debug_assert!(e.tag != 0, "tag 0 marks an empty queue");
        self.add(e);
        let top = self.is_empty() || e < self.top;
        if top {
            self.top = e;
        }
        top
    }

    /// Adds `e` to the heap part (the cached top is the caller's to keep).
    #[inline(always)]
    fn add(&mut self, e: Entry) {
        if self.heap == self.run {
            if self.run as usize == self.buf.len() {
                // No run: the buffer is the heap, grown as a `Vec` is, but by half.
                if self.buf.len() == self.buf.capacity() {
                    self.buf.reserve_exact(self.growth());
                }
                self.buf.push(NONE);
                self.run += 1;
            } else {
                self.grow();
            }
        }
        self.heap += 1;
        heap_push(&mut self.buf[..self.heap as usize], e);
    }

    /// How many places a full buffer grows by: half of it while it fills, an eighth once it
    /// holds stale entries (churn, which the next compaction takes back: growing by half
    /// then left the room for good).
    #[inline]
    fn growth(&self) -> usize {
        let n = self.buf.len();
        if self.stale == 0 {
            n / 2 + 4
        } else {
            n / 8 + 4
        }
    }

    /// Grows the buffer (see [`LazyHeap::growth`]).
    #[cold]
    fn grow(&mut self) {
        // Places are counted in u32: a queue holds fewer entries than that (max_tasks is
        // below 2^31, stale entries at most half as many again), so the buffer stops there.
        self.set_places((self.buf.len() + self.growth()).min(u32::MAX as usize));
    }

    /// Makes the buffer `new` places long (at least the entries it holds), the run moved to
    /// its new end and the room given back when it shrinks.
    fn set_places(&mut self, new: usize) {
        let (old, r) = (self.buf.len(), self.run_len());
        if new > old {
            self.buf.reserve_exact(new - old);
            self.buf.resize(new, NONE);
            self.buf.copy_within(old - r..old, new - r);
        } else {
            self.buf.copy_within(old - r..old, new - r);
            self.buf.truncate(new);
            self.buf.shrink_to_fit();
        }
        self.run = (new - r) as u32;
    }

    /// Removes the top entry (valid or not; the caller accounts for it), to start it: when
    /// it is the heap's, the heap is merged into the run first (see the type's docs).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.take_top(true)
    }

    /// Removes the top entry; `merge`: the heap may be merged into the run first, which
    /// only starts pay for (a stale top dropped by a cancel is taken from the heap as it
    /// is, so that the entries of a queue that only churns are never sorted).
    #[inline]
    fn take_top(&mut self, merge: bool) -> Option<Entry> {
        let top = self.peek()?;
        if self.run_front() == Some(top) {
            self.run += 1;
        } else {
            let n = self.heap as usize;
            if merge && (MERGE_MIN..=MERGE_MAX).contains(&n) && self.merge_pays() {
                self.merge();
                self.run += 1;
            } else {
                heap_pop(&mut self.buf[..n]);
                self.heap -= 1;
            }
        }
        self.top = self.least().unwrap_or(NONE);
        Some(top)
    }

    /// Sorts the heap into the run when it holds an eighth of the run, as a start would, but
    /// whatever its size: for a bulk push (a whole plan), so that the ticks after it find
    /// sorted runs instead of each start sorting its pair's queue.
    pub(crate) fn settle(&mut self) {
        if self.heap > 0 && self.merge_pays() {
            self.merge();
        }
    }

    /// Whether the heap holds an eighth of the run: a merge then moves at most eight run
    /// entries per entry merged, so each entry costs O(log n) in all.
    #[inline]
    fn merge_pays(&self) -> bool {
        self.heap as usize >= self.run_len() / 8
    }

    /// Sorts the heap's entries into the run.
    #[cold]
    fn merge(&mut self) {
        let (b, rs, end) = (self.heap as usize, self.run as usize, self.buf.len());
        let v = &mut self.buf[..];
        v[..b].sort_unstable();
        // The merged run starts `b` places earlier, in the free places before it.
        let to = rs - b;
        if rs == end || v[b - 1] < v[rs] {
            // All of the heap sorts before the run (keys that grow with time: the run is
            // empty when a start first takes from the heap): it goes in front.
            v.copy_within(0..b, to);
        } else {
            // From the small end, the heap's entries from a copy: the writes stay below the
            // run's next read, and once the heap's entries are all placed, the run's that
            // are left are where they were.
            let a = v[..b].to_vec();
            let (mut i, mut k) = (rs, to);
            for &e in &a {
                while i < end && v[i] < e {
                    v[k] = v[i];
                    i += 1;
                    k += 1;
                }
                v[k] = e;
                k += 1;
            }
        }
        self.run = to as u32;
        self.heap = 0;
    }

    /// Gives the top entry a larger key and puts it in its place.
    #[inline]
    pub(crate) fn raise_top(&mut self, key: u64) {
        let Some(mut top) = self.peek() else {
            return;
        };
        let in_run = self.run_front() == Some(top);
        top.key = key;
        if in_run {
            self.run += 1;
            self.add(top);
        } else {
            self.buf[0] = top;
            sift_down(&mut self.buf[..self.heap as usize], 0);
        }
        self.top = self.least().unwrap_or(NONE);
    }

    /// Records that one valid entry became stale.
    #[inline]
    pub(crate) fn mark_stale(&mut self) {
        self.stale += 1;
    }

    /// Pops stale entries off the top until the top is valid or the queue is empty.
    #[inline]
    pub(crate) fn clean_top(&mut self, valid: impl Fn(Entry) -> bool) {
        while let Some(top) = self.peek() {
            if valid(top) {
                break;
            }
            self.take_top(false);
            self.stale -= 1;
        }
    }

    /// Whether the stale entries are more than a fifth of the queue (plus 16): what
    /// [`LazyHeap::maybe_compact`] never leaves, so the queue stays under 1.25 entries per
    /// valid one, plus 16.
    #[inline]
    pub(crate) fn over_stale_bound(&self) -> bool {
        self.stale as usize > stale_allowed(self.live())
    }

    /// Drops the stale entries once they pass [`LazyHeap::over_stale_bound`]; the cost,
    /// one pass, is paid by the stale entries that built up since the last time. `ahead(e)`
    /// is told of each entry a little before `valid(e)` is asked (to fetch what `valid`
    /// reads: the owner's tags, a cache miss each at a million tasks).
    #[inline]
    pub(crate) fn maybe_compact(&mut self, ahead: impl Fn(Entry), valid: impl Fn(Entry) -> bool) {
        if self.over_stale_bound() {
            self.rebuild_ahead(ahead, |e| valid(e).then_some(e.key));
        }
    }

    /// Keeps the entries for which `f` gives a key, with that key, and restores the order;
    /// a buffer with more room than the next compaction needs shrinks.
    pub(crate) fn rebuild(&mut self, f: impl FnMut(Entry) -> Option<u64>) {
        self.rebuild_ahead(|_| {}, f);
    }

    /// [`LazyHeap::rebuild`], telling `ahead` of each entry [`AHEAD`] entries before `f`.
    fn rebuild_ahead(&mut self, ahead: impl Fn(Entry), mut f: impl FnMut(Entry) -> Option<u64>) {
        let (b, rs, end) = (self.heap as usize, self.run as usize, self.buf.len());
        let v = &mut self.buf[..];
        let mut keep = |e: &mut Entry| match f(*e) {
            Some(k) => {
                e.key = k;
                true
            }
            None => false,
        };
        // The heap's kept entries to its start, the run's to the buffer's end (in one pass
        // each, the run's also telling whether it is still sorted: unchanged keys leave it
        // so, new ones, a policy change, may not).
        let mut h = 0;
        for r in 0..b {
            // The buffer's own lines further ahead still: reading an entry to announce it
            // would otherwise wait for its line.
            if let Some(e) = v[..b].get(r + 3 * AHEAD) {
                crate::hint::prefetch(e);
            }
            if let Some(&e) = v[..b].get(r + AHEAD) {
                ahead(e);
            }
            let mut e = v[r];
            if keep(&mut e) {
                v[h] = e;
                h += 1;
            }
        }
        let (mut w, mut sorted) = (end, true);
        for r in (rs..end).rev() {
            if r >= rs + 3 * AHEAD {
                crate::hint::prefetch(&v[r - 3 * AHEAD]);
            }
            if r >= rs + AHEAD {
                ahead(v[r - AHEAD]);
            }
            let mut e = v[r];
            if keep(&mut e) {
                sorted &= w == end || e < v[w];
                w -= 1;
                v[w] = e;
            }
        }
        if !sorted {
            v[w..].sort_unstable();
        }
        heapify(&mut v[..h]);
        self.heap = h as u32;
        self.run = w as u32;
        self.stale = 0;
        // Room for the stale entries the bound allows before the next compaction, plus 16,
        // so that a queue that only churns never grows; the rest goes back. Keeping up to
        // twice the entries, as before, held 1.47 places per queued task in a churned
        // million-task queue; this holds 1.37.
        let len = self.len();
        let room = len + stale_allowed(len) + 16;
        if end > room + 16 {
            self.set_places(room);
        }
        self.top = self.least().unwrap_or(NONE);
    }

    /// Whether both parts keep their order and the cached top is the least entry (for
    /// tests and invariant checks).
    pub(crate) fn check(&self) -> Result<(), String> {
        let (heap, run) = (&self.buf[..self.heap as usize], &self.buf[self.run as usize..]);
        if self.heap > self.run {
            return Err("heap and run overlap".into());
        }
        if run.windows(2).any(|w| w[0] >= w[1]) {
            return Err("run out of order".into());
        }
        if (1..heap.len()).any(|i| heap[i] < heap[parent(i)]) {
            return Err("heap out of order".into());
        }
        if self.peek() != self.least() {
            return Err("cached top out of date".into());
        }
        Ok(())
    }
}

/// The heap part's arity: four 16-byte children fill one cache line, and a push's sift
/// climbs half as many levels as in a binary heap. Pops take from the sorted run, so the
/// wider nodes a pop compares cost little: against a binary heap part, push at 1M queued
/// went 40.8 -> 35.8 ns and re-prioritize 158 -> 143, pop and cancel unchanged (when every
/// pop walked the heap, an earlier stop measured the same push gain and pop 4% slower).
const ARITY: usize = 4;

/// The parent of place `i > 0` of a heap part.
#[inline(always)]
fn parent(i: usize) -> usize {
    (i - 1) / ARITY
}

/// The index of the smallest of `v[from..to]` (non-empty).
#[inline(always)]
fn least_of(v: &[Entry], from: usize, to: usize) -> usize {
    let mut c = from;
    for k in from + 1..to {
        if v[k] < v[c] {
            c = k;
        }
    }
    c
}

/// Sifts `e` into the heap part `v`, whose last place (one past the heap it held) is free.
#[inline(always)]
fn heap_push(v: &mut [Entry], e: Entry) {
    let Some(n) = v.len().checked_sub(1) else {
        return;
    };
    let mut pos = n;
    if n > ARITY {
        // Most entries come to rest at the bottom or one level up. Those two cases take
        // no branch on the keys (the mispredicted exit from the loop below cost a third
        // of a push at a million queued): both slots are written whichever it is.
        let p1 = parent(n);
        let p2 = parent(p1);
        let a = v[p1];
        let up1 = e < a;
        // Not below the grandparent, then not below any ancestor above it either.
        if e >= v[p2] {
            v[n] = pick(up1, a, e);
            v[p1] = pick(up1, e, a);
            return;
        }
        // Above the grandparent: the loop from there.
        v[n] = a;
        v[p1] = v[p2];
        pos = p2;
    }
    sift_up(v, pos, e);
}

/// Removes the top of the heap part `v`, leaving `v[..len - 1]` a heap.
#[inline]
fn heap_pop(v: &mut [Entry]) {
    let Some((&mut last, v)) = v.split_last_mut() else {
        return;
    };
    if v.is_empty() {
        return;
    }
    // Floyd's pop: walk the hole to the bottom along the smallest children, then sift the
    // former last entry up from there (it usually stays near the bottom).
    let mut pos = 0;
    loop {
        let l = ARITY * pos + 1;
        if l >= v.len() {
            break;
        }
        let c = least_of(v, l, (l + ARITY).min(v.len()));
        v[pos] = v[c];
        pos = c;
    }
    sift_up(v, pos, last);
}

/// Moves the entry at `pos` of the heap part `v` down to its place below.
#[inline]
fn sift_down(v: &mut [Entry], mut pos: usize) {
    let n = v.len();
    let item = v[pos];
    loop {
        let l = ARITY * pos + 1;
        if l >= n {
            break;
        }
        let c = least_of(v, l, (l + ARITY).min(n));
        if v[c] >= item {
            break;
        }
        v[pos] = v[c];
        pos = c;
    }
    v[pos] = item;
}

/// Heap order over the heap part `v`, from its last parent up.
fn heapify(v: &mut [Entry]) {
    for i in (0..(v.len() + ARITY - 2) / ARITY).rev() {
        sift_down(v, i);
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
    fn run_and_heap_pop_in_order() {
        // Keys that grow with time (the run's append), keys below the run's (its merge from
        // the large end), raised tops in either part, heaps past MERGE_MAX and a rebuild
        // with new keys, against a sorted model.
        let mut h = LazyHeap::default();
        let mut model = std::collections::BTreeSet::new();
        let (mut x, mut clock, mut tag) = (7u64, 0u64, 1u32);
        let (mut appended, mut interleaved, mut from_run, mut from_heap) = (0, 0, 0, 0);
        for step in 0..60_000u32 {
            x = crate::hash::mix64(x);
            // Phases of 5,000 steps: pushes mostly (the heap grows past MERGE_MAX), then
            // balanced, then pops mostly.
            let phase = (step / 5_000) % 3;
            let push = match phase {
                0 => x % 10 < 9,
                1 => x % 2 == 0,
                _ => x % 10 == 0,
            };
            if push {
                clock += x >> 60;
                // Back-dated keys in every other stretch of 1,000 steps only.
                let back = (step / 1_000) % 2 == 0 && (x >> 8) % 4 == 0;
                let key = if back { clock.saturating_sub((x >> 16) % 3_000) } else { clock };
                let e = Entry { key, slot: (x >> 32) as u32 % 5_000, tag };
                tag += 1;
                let before = h.peek();
                let became = h.push(e);
                assert_eq!(became, before.is_none_or(|t| e < t));
                model.insert(e);
            } else if (x >> 40) % 8 == 0 {
                // Raise the top's key.
                if let Some(t) = h.peek() {
                    let in_run = h.run_front() == Some(t);
                    // Past every key in the forward stretches, a little above its own in the
                    // back-dated ones.
                    let key = if (step / 1_000) % 2 == 0 {
                        t.key + 1 + (x >> 48) % 2_000
                    } else {
                        clock += 1;
                        clock
                    };
                    h.raise_top(key);
                    assert!(model.remove(&t));
                    model.insert(Entry { key, ..t });
                    if in_run {
                        from_run += 1;
                    } else {
                        from_heap += 1;
                    }
                }
            } else {
                let run_before = h.run_len();
                assert_eq!(h.pop(), model.pop_first());
                // A merge: into an empty run (appended) or among the run's entries.
                if h.run_len() > run_before.saturating_sub(1) {
                    if run_before == 0 {
                        appended += 1;
                    } else {
                        interleaved += 1;
                    }
                }
            }
            if step % 20_000 == 19_999 {
                // New keys for everything (a policy change): the run is out of order
                // until the rebuild sorts it.
                let mut next = Vec::new();
                h.rebuild(|e| {
                    let k = crate::hash::mix64(e.key) % (clock + 1);
                    next.push(Entry { key: k, ..e });
                    Some(k)
                });
                model = next.into_iter().collect();
            }
            assert_eq!(h.peek(), model.first().copied(), "step {step}");
            assert_eq!(h.len(), model.len());
            if step % 64 == 0 {
                h.check().unwrap_or_else(|e| panic!("{e} at step {step}"));
            }
        }
        assert!(!h.is_empty());
        // Every path was taken.
        assert!(appended > 0 && interleaved > 10, "merges: {appended} appended, {interleaved} interleaved");
        assert!(from_run > 10 && from_heap > 10, "raised: {from_run} in the run, {from_heap} in the heap");
    }

    #[test]
    fn keys_that_grow_with_time_drain_the_run_then_append() {
        // The scheduler's steady state: pushes with later keys than everything queued, one
        // start per push. Starts come from the run until it is empty; then the heap, all
        // of it later, is sorted and becomes the run with nothing moved.
        let mut h = LazyHeap::default();
        let mut next = 0u64;
        let mut push = |h: &mut LazyHeap| {
            next += 1 + crate::hash::mix64(next) % 3;
            h.push(Entry { key: next, slot: (next % 1000) as u32, tag: 1 });
        };
        for _ in 0..300 {
            push(&mut h);
        }
        let (mut last, mut appends) = (0, 0);
        for _ in 0..3_000 {
            push(&mut h);
            let run_before = h.run_len();
            let e = h.pop().unwrap();
            assert!(e.key > last);
            last = e.key;
            if run_before == 0 {
                // The whole heap went into the run.
                assert!(
                    (h.heap == 0) && h.run_len() == 300,
                    "{} in the run, {} in the heap",
                    h.run_len(),
                    (h.heap as usize)
                );
                appends += 1;
            } else {
                assert_eq!(h.run_len(), run_before - 1, "a start from the run merged");
            }
        }
        assert!(appends >= 9, "{appends} merges");
        h.check().unwrap();
    }

    #[test]
    fn a_drained_queue_gives_its_room_back_at_the_next_rebuild() {
        let mut h = LazyHeap::default();
        for i in 0..5_000u32 {
            h.push(Entry { key: (i as u64 * 7919) % 5_003, slot: i, tag: 1 });
        }
        let mut last = None;
        for _ in 0..4_900 {
            let e = h.pop();
            assert!(e > last);
            last = e;
        }
        assert!(h.capacity() >= 5_000);
        h.rebuild(|e| Some(e.key));
        assert_eq!(h.len(), 100);
        assert!(h.capacity() < 200, "{} places kept for 100 entries", h.capacity());
        h.check().unwrap();
        for _ in 0..100 {
            let e = h.pop();
            assert!(e > last);
            last = e;
        }
        assert!(h.is_empty() && h.pop().is_none());
    }

    /// A queue that only churns (each cancel followed by a push, compacting at the stale
    /// bound as the scheduler does) keeps the room its compactions leave, whatever room it
    /// had grown to before, and never grows past it.
    #[test]
    fn a_churned_queue_stays_within_its_room() {
        let mut tags = vec![0u32; 4000];
        let (mut live, mut free): (Vec<u32>, Vec<u32>) = ((0..4000).collect(), Vec::new());
        let mut h = LazyHeap::default();
        let mut next = 1u32;
        for &slot in &live {
            h.push(Entry { key: crate::hash::mix64(slot as u64) % 10_000, slot, tag: next });
            tags[slot as usize] = next;
            next += 1;
        }
        let mut x = 7u64;
        // Half the tasks are cancelled (the buffer keeps its 4000 places), then the rest
        // churn: each cancel is followed by a push.
        for step in 0..40_000 {
            x = crate::hash::mix64(x);
            let gone = live.swap_remove((x % live.len() as u64) as usize);
            tags[gone as usize] = 0;
            free.push(gone);
            h.mark_stale();
            h.clean_top(|e| tags[e.slot as usize] == e.tag);
            h.maybe_compact(|_| {}, |e| tags[e.slot as usize] == e.tag);
            if step >= 2000 {
                let slot = free.swap_remove(((x >> 32) % free.len() as u64) as usize);
                h.push(Entry { key: (x >> 20) % 10_000, slot, tag: next });
                tags[slot as usize] = next;
                next += 1;
                live.push(slot);
            }
            if step >= 3000 {
                // Past the first compaction of the churn: room for 2000 live entries and the
                // stale ones allowed (a quarter plus 16), plus 32 and the slack of 16.
                assert!(h.buf.len() <= 2000 + 500 + 48, "{} places at step {step}", h.buf.len());
            }
        }
        assert_eq!(h.live(), 2000);
        h.check().unwrap();
    }

    #[test]
    fn a_heap_past_merge_max_serves_its_own_pops() {
        let mut h = LazyHeap::default();
        for i in 0..(MERGE_MAX as u32 + 10) {
            h.push(Entry { key: (MERGE_MAX as u64 + 10 - i as u64) * 3, slot: i, tag: 1 });
        }
        assert_eq!(h.pop().unwrap().key, 3);
        while (h.heap as usize) > MERGE_MAX {
            h.pop();
            assert!((h.run_len() == 0), "a heap of {} entries was sorted in one merge", (h.heap as usize) + 1);
        }
        // Now small enough: the next pop merges it.
        h.pop();
        assert!((h.heap == 0) && h.run_len() == MERGE_MAX - 1);
        h.check().unwrap();
    }

    #[test]
    fn a_settled_plan_pops_from_its_run() {
        let mut h = LazyHeap::default();
        for i in 0..(2 * MERGE_MAX as u32) {
            h.push(Entry { key: crate::hash::mix64(i as u64) % 1000, slot: i, tag: 1 });
        }
        // Past MERGE_MAX a start would not sort it; a settle does, whatever its size.
        h.settle();
        assert_eq!((h.heap, h.run_len()), (0, 2 * MERGE_MAX));
        h.check().unwrap();
        let keys: Vec<u64> = std::iter::from_fn(|| h.pop().map(|e| e.key)).collect();
        assert!(keys.len() == 2 * MERGE_MAX && keys.windows(2).all(|w| w[0] <= w[1]));
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
            h.maybe_compact(|_| {}, |e| tags[e.slot as usize] == e.tag);
            assert_eq!(h.live(), model.len());
            assert_eq!(h.peek(), model.iter().next().copied());
            // The run's and the heap's order, which a push keeps along its branch-free and
            // its looping paths alike, and the cached top.
            h.check().unwrap_or_else(|e| panic!("{e} at step {step}"));
            assert!(h.len() * 4 <= h.live() * 5 + 64);
            if step % 37 == 0 {
                // A bulk push's end: the heap goes into the run when an eighth of it.
                let (heap, run) = (h.heap as usize, h.run_len());
                h.settle();
                let merged = heap > 0 && heap >= run / 8;
                assert_eq!((h.heap as usize, h.run_len()), if merged { (0, heap + run) } else { (heap, run) });
                assert_eq!(h.peek(), model.iter().next().copied());
                h.check().unwrap_or_else(|e| panic!("{e} after a settle at step {step}"));
            }
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
