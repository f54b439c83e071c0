//! Migration: which move runs next, and how many bytes each running move may send now.
//!
//! A task moves one shard of one placement group from a source device on a source node to
//! a target device on a target node. The scheduler decides the order (policy, aging,
//! rebuild before rebalance), admits a task only when its source has a free outbound slot,
//! its target a free inbound slot, the cluster a free slot and the throttle tokens, and on
//! each [`Scheduler::tick`] hands out byte grants to running tasks within the throttle.
//! Large tasks run one chunk at a time: after each chunk a task gives its slots back and
//! competes again, which lets the scheduler re-pair nodes so that the busiest ones never
//! idle (the makespan stays within a few percent of the lower bound).
//!
//! Left to the host: copying the bytes it was granted, reporting progress, completion and
//! failure, and ticking. The host drains [`Scheduler::poll_event`] and
//! [`Scheduler::poll_grant`] after each call that changes state (push, cancel, report,
//! tick).
//!
//! ## How a task is chosen, without scanning
//!
//! Queued tasks live in one queue per (source node, target node) pair, ordered by the
//! policy key (a sorted run that starts take from and a binary heap of recent pushes,
//! merged into the run when a start needs it; see `heap::LazyHeap`), and each pair is
//! keyed by its best task's key tier and, within a tier, by how much work is left on its
//! two nodes (critical-path first). The pairs wait in
//! *groups*, two per node: a node's out group holds pairs from it, and its in group the
//! pairs into it that were found blocked on its inbound slots while their source was free.
//! A group is active while its node has a free slot in its direction, and a heap over the
//! active groups gives the best pair that one of its nodes can take. Admission looks at that
//! pair: if its other node is full too, the pair moves to that node's (inactive) group and
//! stays there until that node frees a slot; otherwise its best task starts. So a blocked
//! task never holds back the tasks behind it (no head-of-line blocking), a node that fills
//! up or frees a slot costs one operation on the group heap however many pairs wait for it,
//! and a pair is looked at again only when a node it waits for frees a slot. When few
//! nodes have a free slot (tasks completing one at a time), admission instead looks up the
//! pairs between the free sources and the free targets (at most 16 lookups), which gives the
//! same best pair without moving the blocked ones. Admission stops as soon as no node has a
//! free outbound or no node a free inbound slot. A start costs O(log n) amortized in its
//! pair queue (usually one read of the run's front) plus O(log pairs) for each pair found
//! blocked on the way (fewer than one per start after a whole running set completes; each
//! pair keeps a copy of its queue's top, so choosing reads no task record and no tag, and
//! the records and tags of the tasks an admission started are fetched together at its end,
//! where their cache misses overlap). A tick in which nothing changed does no admission
//! work at all, so its cost does not depend on the number of queued tasks.
//!
//! The pair queues remove lazily: a queued task's entry carries a tag, a dense per-task array
//! holds the tag of its one valid entry, and a cancel, a supersede or a re-key only changes
//! that tag (O(1); a raised priority pushes a new entry, O(log n), and a lowered one moves
//! nothing until the entry reaches the top). Stale entries are dropped when they reach the
//! top, which is kept valid and exact, and by one compaction pass once they are a fifth of
//! their queue, so a queue never holds more than 1.25 entries per queued task (plus 16). At a million
//! queued tasks this saves the cache misses of keeping every entry's position up to date.
//!
//! The three tables that an operation reads at a random place (the task records, their tags
//! and the (pg, shard) index: 100 MB at a million tasks) ask the kernel for huge pages
//! (`madvise(MADV_HUGEPAGE)` on Linux, unless [`SchedulerConfig::huge_pages`] is false; the
//! kernel follows it when transparent huge pages are `madvise` or `always`). With 4 KiB
//! pages each such read also missed the TLB, which under a hypervisor walks two sets of page
//! tables: at a million queued tasks on a VM, in one run, a cancel took 191 ns against 226
//! on 4 KiB pages and a re-prioritize 115 against 153 (the scheduler bench has both rows).
//!
//! ## Order, aging and the wait bound
//!
//! The policy key is a *virtual time*: the time the task was queued plus a handicap. Under
//! [`Policy::Priority`] the handicap is `(10 − priority) × aging_step`, under
//! [`Policy::Importance`] `(1000 − importance) × 9 × aging_step / 1000`, and under
//! [`Policy::Deadline`] the key is the deadline itself (a task without one gets
//! `queued + no_deadline_horizon`). So a task is never overtaken, within its class, by a
//! task queued more than `9 × aging_step` after it (priority and importance policies) — its
//! wait is bounded by the work queued before that — and once a blocked task has waited
//! `starvation_guard` its two nodes are reserved for it until it starts, so node contention
//! (its source free while its target is busy and the other way round) cannot postpone it
//! for more than one running chunk per slot. Such a task is seen when a slot it needs frees
//! and its pair is the best waiting for that slot (which its aging key makes it, in the
//! end); of those seen, the one waiting longest is served first. With `strict_classes` (the
//! default) rebuild and repair work (redundancy at risk) always goes before drain and
//! rebalance work: rebalance can never starve a rebuild.

#![forbid(unsafe_code)]

mod heap;
mod index;
mod pairs;
mod plan;
pub mod sim;

pub use plan::{requests_from_plan, PlanRequests, PlanTasks};

pub use heap::{HeapVec, IndexedHeap, PosStore, NO_POS};

use heap::{in_group, out_group, Entry, Groups, LazyHeap};

use crate::hint::growing;
use crate::throttle::{Limit, NodeRef, Throttle, ThrottleConfig, ThrottleError};
use crate::time::{Time, NANOS_PER_SEC};
use index::SlotIndex;
use pairs::PairIndex;
use std::collections::{BinaryHeap, VecDeque};

/// Errors of the migration scheduler. A call that returns one changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// No live task has this id (never pushed, or already finished).
    #[error("unknown task {0:#x}")]
    UnknownTask(u64),
    /// A field of a request or configuration is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A queue is at its capacity.
    #[error("{what} capacity {cap} reached")]
    CapacityExceeded {
        /// Which queue.
        what: &'static str,
        /// Its capacity.
        cap: u64,
    },
    /// Progress beyond the bytes granted or the task's size, or going backwards.
    #[error("invalid progress for task {id:#x}: {done} bytes reported, {limit} allowed")]
    InvalidProgress {
        /// The task.
        id: u64,
        /// Bytes reported.
        done: u64,
        /// Bytes granted so far (the most that can have been copied).
        limit: u64,
    },
    /// The call does not apply to the task in its state (e.g. progress on a queued task).
    #[error("task {0:#x} is not running")]
    NotRunning(u64),
    /// The throttle refused a node or limit.
    #[error(transparent)]
    Throttle(#[from] ThrottleError),
}

/// What a move is for; rebuild and repair restore redundancy and go first by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum TaskKind {
    /// Re-create a lost copy (redundancy at risk).
    Rebuild = 0,
    /// Move data off a node being decommissioned.
    Drain = 1,
    /// Even out the distribution.
    Rebalance = 2,
    /// Replace a damaged copy.
    Repair = 3,
}

impl TaskKind {
    /// From the C/raw value.
    pub fn from_u8(v: u8) -> Option<TaskKind> {
        Some(match v {
            0 => TaskKind::Rebuild,
            1 => TaskKind::Drain,
            2 => TaskKind::Rebalance,
            3 => TaskKind::Repair,
            _ => return None,
        })
    }
}

/// The ordering policy of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Policy {
    /// Higher priority first, aged by queueing time.
    Priority = 0,
    /// Earliest deadline first.
    Deadline = 1,
    /// Higher importance score first, aged by queueing time.
    Importance = 2,
}

impl Policy {
    /// From the C/raw value.
    pub fn from_u8(v: u8) -> Option<Policy> {
        Some(match v {
            0 => Policy::Priority,
            1 => Policy::Deadline,
            2 => Policy::Importance,
            _ => return None,
        })
    }
}

/// One move as the host (or a placement movement plan) describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MoveRequest {
    /// Placement group.
    pub pg: u32,
    /// Shard (replica or EC position) within the PG.
    pub shard: u8,
    /// Source device.
    pub from_device: u32,
    /// Target device.
    pub to_device: u32,
    /// Node holding the source device.
    pub from_node: u32,
    /// Node holding the target device.
    pub to_node: u32,
    /// Bytes to copy (at least 1).
    pub bytes: u64,
    /// What the move is for.
    pub kind: TaskKind,
    /// 1 (lowest) to 10 (highest).
    pub priority: u8,
    /// Optional deadline.
    pub deadline: Option<Time>,
    /// The host's own importance score in `0..=1000`; `None` computes one (see
    /// [`importance_score`]).
    pub importance: Option<u32>,
    /// Client accesses per second to this PG (feeds the computed importance).
    pub access_rate: u32,
}

impl MoveRequest {
    /// A rebalance move of `bytes` from (node, device) to (node, device) with priority 5.
    pub fn new(pg: u32, shard: u8, from: (u32, u32), to: (u32, u32), bytes: u64) -> MoveRequest {
        MoveRequest {
            pg,
            shard,
            from_node: from.0,
            from_device: from.1,
            to_node: to.0,
            to_device: to.1,
            bytes,
            kind: TaskKind::Rebalance,
            priority: 5,
            deadline: None,
            importance: None,
            access_rate: 0,
        }
    }
}

/// The importance score (0..=1000) computed when the host gives none: priority counts for
/// up to 600, client access rate for up to 200 (logarithmic), small size for up to 100
/// (smaller moves finish sooner and free their PG) and deadline urgency for up to 100 (full
/// within a minute, none beyond an hour).
pub fn importance_score(r: &MoveRequest, now: Time) -> u32 {
    let p = r.priority.clamp(1, 10) as u32 * 60;
    let a = (32 - r.access_rate.leading_zeros()).min(20) * 10;
    let size_log = 64 - r.bytes.leading_zeros();
    let s = 100u32.saturating_sub(size_log.saturating_sub(20) * 5);
    let d = match r.deadline {
        None => 0,
        Some(t) => {
            let left = t.nanos_since(now) / NANOS_PER_SEC;
            if left <= 60 {
                100
            } else if left >= 3600 {
                0
            } else {
                (100 * (3600 - left) / 3540) as u32
            }
        }
    };
    (p + a + s + d).min(1000)
}

/// A task's id: its slot in the low 32 bits and the slot's generation in the high 32, so a
/// finished task's id is never mistaken for a later one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct TaskId(pub u64);

/// The state of a live task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum TaskState {
    /// Waiting for slots (possibly between chunks).
    Queued = 0,
    /// Holding its slots and receiving grants.
    Running = 1,
    /// Waiting out a retry backoff.
    Backoff = 2,
}

/// A live task as [`Scheduler::task`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskInfo {
    /// Its id.
    pub id: TaskId,
    /// Placement group.
    pub pg: u32,
    /// Shard.
    pub shard: u8,
    /// Source device.
    pub from_device: u32,
    /// Target device.
    pub to_device: u32,
    /// Source node.
    pub from_node: u32,
    /// Target node.
    pub to_node: u32,
    /// Total bytes.
    pub bytes: u64,
    /// Bytes reported copied in this attempt.
    pub done: u64,
    /// Bytes granted in this attempt.
    pub granted: u64,
    /// Kind.
    pub kind: TaskKind,
    /// Priority 1..=10.
    pub priority: u8,
    /// Importance 0..=1000 (computed or the host's).
    pub importance: u32,
    /// Deadline.
    pub deadline: Option<Time>,
    /// State.
    pub state: TaskState,
    /// Failed attempts so far.
    pub attempts: u8,
}

/// Something the host should know; drained with [`Scheduler::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// The task took its slots for the first time (in this attempt): start copying as
    /// grants arrive.
    Started {
        /// The task.
        id: TaskId,
    },
    /// Every byte was reported; the task is gone.
    Completed {
        /// The task.
        id: TaskId,
    },
    /// The task failed for good after its retries; the task is gone.
    Failed {
        /// The task.
        id: TaskId,
        /// The host's reason code from the last failure.
        reason: u32,
        /// Attempts made.
        attempts: u8,
    },
    /// The task failed and will be queued again at `at`; its progress restarts from zero.
    Retrying {
        /// The task.
        id: TaskId,
        /// The host's reason code.
        reason: u32,
        /// The attempt that failed (1 = first).
        attempt: u8,
        /// When it is queued again.
        at: Time,
    },
    /// The host cancelled the task; its slots and unused tokens are back.
    Cancelled {
        /// The task.
        id: TaskId,
    },
    /// A newer task for the same PG shard replaced this one, which is gone.
    Superseded {
        /// The replaced task.
        id: TaskId,
        /// The task that replaced it.
        by: TaskId,
    },
}

/// Bytes a running task may copy now; drained with [`Scheduler::poll_grant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    /// The task.
    pub id: TaskId,
    /// Bytes granted since its last drained grant.
    pub bytes: u64,
}

/// Configuration of a [`Scheduler`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchedulerConfig {
    /// The throttle (global limit, load ceiling, node capacity).
    pub throttle: ThrottleConfig,
    /// Outbound limit of a node first seen in a request.
    pub node_out: Limit,
    /// Inbound limit of a node first seen in a request.
    pub node_in: Limit,
    /// Concurrent outbound moves per node (like Ceph's osd_max_backfills).
    pub max_out_per_node: u32,
    /// Concurrent inbound moves per node.
    pub max_in_per_node: u32,
    /// Concurrent moves in the cluster.
    pub max_running: u32,
    /// Most live tasks (queued, running, backing off).
    pub max_tasks: u32,
    /// Most undrained events; past it events are dropped and counted.
    pub max_events: u32,
    /// Bytes a task runs before giving its slots back and competing again.
    pub chunk_bytes: u64,
    /// The ordering policy.
    pub policy: Policy,
    /// Rebuild and repair strictly before drain and rebalance.
    pub strict_classes: bool,
    /// The aging unit: one priority level is worth this much queueing time.
    pub aging_step_ns: u64,
    /// Under [`Policy::Deadline`], the deadline given to tasks without one, after queueing.
    pub no_deadline_horizon_ns: u64,
    /// Policy keys within this many nanoseconds (a power of two is used) count as a tie,
    /// broken by the remaining work on the pair's nodes.
    pub tie_window_ns: u64,
    /// A blocked task that has waited this long gets its nodes reserved until it starts.
    pub starvation_guard_ns: u64,
    /// Break ties (and order grants) by the remaining work on a pair's two nodes, busiest
    /// first (default); `false` gives plain greedy list scheduling, for comparison.
    pub critical_first: bool,
    /// Failures retried before a task fails for good.
    pub max_retries: u8,
    /// First retry backoff; doubles per attempt.
    pub backoff_base_ns: u64,
    /// Largest backoff.
    pub backoff_max_ns: u64,
    /// The host's usual tick interval (used by [`Scheduler::next_deadline`]).
    pub tick_interval_ns: u64,
    /// Ask the kernel for huge pages under the task records, their tags and the (pg, shard)
    /// index (default true; see the module docs). A host that wants no huge pages, or
    /// cannot afford the first touch of one (zeroing 2 MiB, about 100 µs, or a compaction
    /// when memory is fragmented) inside a push, sets it to false.
    #[serde(default = "huge_pages_by_default")]
    pub huge_pages: bool,
}

fn huge_pages_by_default() -> bool {
    true
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            throttle: ThrottleConfig::default(),
            node_out: Limit::new(100 << 20, 10 << 20),
            node_in: Limit::new(100 << 20, 10 << 20),
            max_out_per_node: 4,
            max_in_per_node: 4,
            max_running: 4096,
            max_tasks: 2_000_000,
            max_events: 65_536,
            chunk_bytes: 64 << 20,
            policy: Policy::Priority,
            strict_classes: true,
            aging_step_ns: 60 * NANOS_PER_SEC,
            no_deadline_horizon_ns: 3600 * NANOS_PER_SEC,
            tie_window_ns: NANOS_PER_SEC,
            starvation_guard_ns: 600 * NANOS_PER_SEC,
            critical_first: true,
            max_retries: 3,
            backoff_base_ns: NANOS_PER_SEC,
            backoff_max_ns: 300 * NANOS_PER_SEC,
            tick_interval_ns: 100_000_000,
            huge_pages: huge_pages_by_default(),
        }
    }
}

impl SchedulerConfig {
    fn validate(&self) -> Result<(), MigrationError> {
        self.node_out.validate()?;
        self.node_in.validate()?;
        self.throttle.global.validate()?;
        self.throttle.load.validate()?;
        let bad = |c: bool, m| {
            if c {
                Err(MigrationError::InvalidArgument(m))
            } else {
                Ok(())
            }
        };
        bad(self.max_out_per_node == 0 || self.max_in_per_node == 0, "per-node caps must be at least 1")?;
        bad(self.max_running == 0, "max_running must be at least 1")?;
        bad(self.max_tasks == 0 || self.max_tasks >= u32::MAX / 2, "max_tasks out of range")?;
        bad(self.max_events == 0, "max_events must be at least 1")?;
        bad(self.chunk_bytes == 0, "chunk_bytes must be at least 1")?;
        bad(self.aging_step_ns == 0 || self.aging_step_ns > 1 << 50, "aging_step_ns out of range")?;
        bad(self.tick_interval_ns == 0, "tick_interval_ns must be at least 1")?;
        bad(self.backoff_base_ns > self.backoff_max_ns, "backoff_base_ns above backoff_max_ns")?;
        Ok(())
    }
}

/// Counts, bytes and rates at one moment; see [`Scheduler::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Tasks waiting for slots.
    pub queued: u64,
    /// Tasks holding slots.
    pub running: u64,
    /// Tasks waiting out a backoff.
    pub backoff: u64,
    /// Tasks completed so far.
    pub completed: u64,
    /// Tasks failed for good so far.
    pub failed: u64,
    /// Tasks cancelled so far.
    pub cancelled: u64,
    /// Tasks superseded so far.
    pub superseded: u64,
    /// Bytes reported done (completed tasks and progress of live ones; saturates).
    pub bytes_done: u64,
    /// Bytes left on live tasks (saturates).
    pub bytes_left: u64,
    /// Bytes granted cluster-wide in the last whole second.
    pub rate_bps: u64,
    /// Estimated time of completion at that rate, or `Time::MAX` when nothing moves.
    pub eta: Time,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
}

/// The policy key of a task: its class in the top two bits, its virtual time below.
fn task_key(cfg: &SchedulerConfig, t: &Task) -> u64 {
    let class = if cfg.strict_classes && !matches!(t.kind, TaskKind::Rebuild | TaskKind::Repair) { 1u64 } else { 0 };
    let step = cfg.aging_step_ns;
    let vt = match cfg.policy {
        Policy::Priority => t.queued_at.saturating_add((10 - t.priority.clamp(1, 10)) as u64 * step),
        Policy::Importance => t.queued_at.saturating_add((1000 - (t.importance as u64).min(1000)) * step / 1000 * 9),
        Policy::Deadline => {
            if t.deadline == u64::MAX {
                t.queued_at.saturating_add(cfg.no_deadline_horizon_ns)
            } else {
                t.deadline
            }
        }
    };
    class << CLASS_SHIFT | vt.min(VT_MAX)
}

/// Microseconds to move `rem` bytes at `rate` bytes per second (at least 1): in 64 bits
/// whenever they suffice (a 128-bit division is a library call), the same value either way.
#[inline]
fn drain_micros(rem: u128, rate: u64) -> u128 {
    let rate = rate.max(1);
    match u64::try_from(rem) {
        Ok(r) if r <= u64::MAX / 1_000_000 => (r * 1_000_000 / rate) as u128,
        _ => rem.saturating_mul(1_000_000) / rate as u128,
    }
}

/// A pair's criticality from its source's drain time out and its target's drain time in.
#[inline]
fn crit_of(out: u128, inn: u128) -> u64 {
    u64::try_from(out.saturating_add(inn)).unwrap_or(u64::MAX)
}

/// The id of the task in `slot` at `generation` ([`Scheduler::slot_of`] takes it apart).
#[inline]
fn task_id(slot: u32, generation: u32) -> TaskId {
    TaskId((generation as u64) << 32 | slot as u64)
}

/// A (pg, shard) key.
fn pg_key(pg: u32, shard: u8) -> u64 {
    (pg as u64) << 8 | shard as u64
}

const FLAG_STARTED: u8 = 1;
const FLAG_IMPORTANCE_SET: u8 = 2;
const FLAG_DEAD: u8 = 4;
/// Set only inside [`Scheduler::cancel_many`], on the tasks its batch names so far (so that
/// an id given twice is seen).
const FLAG_IN_BATCH: u8 = 8;

/// In a slot's tag: its entry's key is below the task's own (raised lazily, see
/// [`Scheduler::rekey_task`]). The tag array is read for every top anyway, so a top without
/// this bit is known exact without reading its task record. Tags themselves stay below it.
const TAG_LAZY: u32 = 1 << 31;

/// Asks for the cache line of `slot`'s tag (what [`entry_valid`] reads).
#[inline]
fn prefetch_tag(tags: &[u32], slot: u32) {
    if let Some(t) = tags.get(slot as usize) {
        crate::hint::prefetch(t);
    }
}

/// Compacts `heap` once its stale entries pass their bound, fetching each entry's tag ahead
/// of its check.
#[inline]
fn compact(heap: &mut LazyHeap, tags: &[u32]) {
    heap.maybe_compact(|e| prefetch_tag(tags, e.slot), |e| entry_valid(tags, &e));
}

/// Whether `e` is its slot's one valid entry.
#[inline]
fn entry_valid(tags: &[u32], e: &Entry) -> bool {
    tags[e.slot as usize] & !TAG_LAZY == e.tag
}

/// One task record: 64 bytes, aligned to a cache line, so that a cancel or a start reads
/// one line for it; plus 16 in its pair queue (20 at most, counting stale entries), 4 of
/// tag and 21–43 in the (pg, shard) index (34 at a million tasks). What only a running task has (bytes granted,
/// the end of its chunk) is in its [`RunEntry`]; a task that is not running has been
/// granted exactly what it has done.
#[derive(Debug, Clone)]
#[repr(align(64))]
struct Task {
    bytes: u64,
    done: u64,
    deadline: u64,
    queued_at: u64,
    pg: u32,
    from_device: u32,
    to_device: u32,
    pair: u32,
    generation: u32,
    /// Running-list index while running, free-list link while free (a queued task's heap
    /// entry is told from its stale copies by `Scheduler::tags`).
    pos: u32,
    importance: u16,
    priority: u8,
    shard: u8,
    kind: TaskKind,
    state: TaskState,
    attempts: u8,
    flags: u8,
}

/// A pair's key in its group: (tier of its best task's key, inverted criticality, the key),
/// compared in that order, packed into one `u128`. The tier is the key's bits above the
/// tie shift, so the key's bits below it are all that the third part adds: tier, inverted
/// criticality and those low bits take 128 bits exactly, and the packed order is the
/// tuple's.
#[inline]
fn group_key(k: u64, crit: u64, tie_shift: u32) -> u128 {
    let tier = (k >> tie_shift) as u128;
    let low = (k as u128) & ((1u128 << tie_shift) - 1);
    tier << 64 << tie_shift | ((u64::MAX - crit) as u128) << tie_shift | low
}

#[derive(Debug, Clone)]
struct Pair {
    src: u32,
    dst: u32,
    heap: LazyHeap,
    /// When the task of the heap's top entry was queued (what the starvation guard asks),
    /// or [`SINCE_UNREAD`] until it is first asked: a start does not read the record of
    /// the task that becomes its pair's top.
    top_since: u64,
    /// Valid entries whose key was raised lazily (their slot's tag has [`TAG_LAZY`]): while
    /// there are none and no stale entries either, a new top is valid and exact without
    /// reading its tag.
    lazy: u32,
    live: u32,
}

/// [`Pair::top_since`] not read yet.
const SINCE_UNREAD: u64 = u64::MAX;

#[derive(Debug, Clone, Default)]
struct NodeState {
    id: u32,
    out_running: u32,
    in_running: u32,
    rem_out: u128,
    rem_in: u128,
    win: u64,
    win_out: u64,
    win_in: u64,
    prev_out: u64,
    prev_in: u64,
}

impl NodeState {
    fn roll(&mut self, w: u64) {
        if self.win != w {
            if self.win + 1 == w {
                self.prev_out = self.win_out;
                self.prev_in = self.win_in;
            } else {
                self.prev_out = 0;
                self.prev_in = 0;
            }
            self.win = w;
            self.win_out = 0;
            self.win_in = 0;
        }
    }
}

/// A running task's entry in the running list.
#[derive(Debug, Clone, Copy)]
struct RunEntry {
    slot: u32,
    /// The task's source and target nodes (so that a grant reads neither the task record
    /// nor its pair).
    src: u32,
    dst: u32,
    /// The task's generation (what a queued grant is checked against).
    generation: u32,
    /// Bytes granted and not yet drained by [`Scheduler::poll_grant`].
    pending: u64,
    crit: u64,
    /// Bytes granted in this attempt (at least the task's `done`).
    granted: u64,
    /// Where the current chunk ends.
    chunk_end: u64,
}

/// The migration scheduler. See the module docs for how it decides.
#[derive(Debug, Clone)]
pub struct Scheduler {
    cfg: SchedulerConfig,
    throttle: Throttle,
    tasks: Vec<Task>,
    /// Per slot, the tag of the task's valid pair-heap entry; 0 when it is not queued.
    tags: Vec<u32>,
    /// The next tag to hand out (never 0; at the wrap every heap drops its stale entries,
    /// so a tag in a heap is never reused for the same slot while a stale copy remains).
    next_tag: u32,
    free_head: u32,
    live: u32,
    index: SlotIndex,
    /// Finished tasks whose entries are still in the index: ((pg, shard) key, slot). A
    /// lookup ignores them (their slot is dead, or holds a live task of its own whose key
    /// is what the lookup compares); they go in batches of [`UNINDEX_BATCH`] and at
    /// every tick.
    unindexed: Vec<(u64, u32)>,
    nodes: Vec<NodeState>,
    pairs: Vec<Pair>,
    /// (source, target) node refs to pair.
    pair_index: PairIndex,
    free_pairs: Vec<u32>,
    groups: Groups,
    /// Admission's work beyond the starts themselves, so far: pairs found blocked (and
    /// moved), and pairs looked up between free nodes.
    blocked_seen: u64,
    looked_up: u64,
    token_wait: Vec<u32>,
    starving: Option<u32>,
    running: Vec<RunEntry>,
    /// Tasks the admission in progress took off their queues: (slot, source, target,
    /// criticality), entered in the running list when it ends.
    starting: Vec<(u32, u32, u32, u64)>,
    timers: BinaryHeap<std::cmp::Reverse<(u64, u32, u32)>>,
    grants: VecDeque<(u32, u32)>,
    events: VecDeque<Event>,
    dirty: bool,
    now: u64,
    tie_shift: u32,
    counts: [u64; 3],
    totals: [u64; 4],
    bytes_done: u128,
    bytes_left: u128,
    events_dropped: u64,
    g_win: u64,
    g_cur: u64,
    g_prev: u64,
    scratch: Vec<u128>,
    /// Per node, its drain times out and in (see [`Scheduler::grant`]).
    drains: Vec<(u128, u128)>,
}

/// Finished tasks whose index entries are removed together.
const UNINDEX_BATCH: usize = 64;

/// Up to this many (free source, free target) node pairs, admission looks the pairs up
/// directly rather than through the group heap.
const ENUMERATE_FREE_PAIRS: usize = 16;

const CLASS_SHIFT: u32 = 62;
const VT_MAX: u64 = (1 << CLASS_SHIFT) - 1;

impl Scheduler {
    /// A scheduler with no nodes and no tasks, as of `now`.
    pub fn new(cfg: SchedulerConfig, now: Time) -> Result<Scheduler, MigrationError> {
        cfg.validate()?;
        let throttle = Throttle::new(cfg.throttle, now)?;
        let tie_shift = 64 - cfg.tie_window_ns.max(1).leading_zeros() - 1;
        Ok(Scheduler {
            cfg,
            throttle,
            tasks: Vec::new(),
            tags: Vec::new(),
            next_tag: 1,
            free_head: NO_POS,
            live: 0,
            index: SlotIndex::new(cfg.huge_pages),
            unindexed: Vec::new(),
            nodes: Vec::new(),
            pairs: Vec::new(),
            pair_index: PairIndex::default(),
            free_pairs: Vec::new(),
            groups: Groups::default(),
            blocked_seen: 0,
            looked_up: 0,
            token_wait: Vec::new(),
            starving: None,
            running: Vec::new(),
            starting: Vec::new(),
            timers: BinaryHeap::new(),
            grants: VecDeque::new(),
            events: VecDeque::new(),
            dirty: false,
            now: now.0,
            tie_shift,
            counts: [0; 3],
            totals: [0; 4],
            bytes_done: 0,
            bytes_left: 0,
            events_dropped: 0,
            g_win: 0,
            g_cur: 0,
            g_prev: 0,
            scratch: Vec::new(),
            drains: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.cfg
    }

    /// The throttle, to read rates and buckets.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Reserves room for `n` tasks up front: the records, their tags and the (pg, shard)
    /// index, so that pushes never reallocate or rehash, and the room asks for huge pages
    /// before it is first touched (see the module docs). Room past `max_tasks` would never
    /// be used, so `n` is capped there.
    pub fn reserve_tasks(&mut self, n: usize) {
        let (n, huge) = (n.min(self.cfg.max_tasks as usize), self.cfg.huge_pages);
        growing(&mut self.tasks, huge, |v| v.reserve(n.saturating_sub(v.len())));
        growing(&mut self.tags, huge, |v| v.reserve(n.saturating_sub(v.len())));
        self.index.reserve(n);
    }

    fn advance(&mut self, now: Time) -> Time {
        self.now = self.now.max(now.0);
        Time(self.now)
    }

    fn emit(&mut self, e: Event) {
        if self.events.len() >= self.cfg.max_events as usize {
            self.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// Adds node `id` with its own limits (a node first seen in a request gets the
    /// configured defaults instead).
    pub fn add_node(&mut self, id: u32, out: Limit, inb: Limit, now: Time) -> Result<(), MigrationError> {
        let now = self.advance(now);
        self.throttle.add_node(id, out, inb, now)?;
        self.push_node(id);
        Ok(())
    }

    /// Changes node `id`'s limits; they apply at the next grant.
    pub fn set_node_limits(&mut self, id: u32, out: Limit, inb: Limit, now: Time) -> Result<(), MigrationError> {
        let now = self.advance(now);
        Ok(self.throttle.set_node_limits(id, out, inb, now)?)
    }

    /// Changes the global limit; it applies at the next grant.
    pub fn set_global_limit(&mut self, limit: Limit, now: Time) -> Result<(), MigrationError> {
        let now = self.advance(now);
        Ok(self.throttle.set_global_limit(limit, now)?)
    }

    /// Reports load for a node (or the cluster with `None`); see [`crate::throttle::LoadConfig`].
    pub fn report_load(
        &mut self,
        node: Option<u32>,
        m: crate::throttle::LoadMetrics,
        now: Time,
    ) -> Result<(), MigrationError> {
        let now = self.advance(now);
        Ok(self.throttle.report_load(node, m, now)?)
    }

    fn node_ref(&mut self, id: u32, now: Time) -> Result<NodeRef, MigrationError> {
        if let Some(r) = self.throttle.node(id) {
            return Ok(r);
        }
        let r = self.throttle.add_node(id, self.cfg.node_out, self.cfg.node_in, now)?;
        self.push_node(id);
        Ok(r)
    }

    /// A new node: no slot taken, so both of its groups are active.
    fn push_node(&mut self, id: u32) {
        self.nodes.push(NodeState { id, ..Default::default() });
        self.groups.ensure(self.nodes.len() * 2);
    }

    fn task_key(&self, t: &Task) -> u64 {
        task_key(&self.cfg, t)
    }

    fn validate(&self, r: &MoveRequest) -> Result<(), MigrationError> {
        if r.bytes == 0 {
            return Err(MigrationError::InvalidArgument("bytes must be at least 1"));
        }
        if !(1..=10).contains(&r.priority) {
            return Err(MigrationError::InvalidArgument("priority must be 1..=10"));
        }
        if r.importance.is_some_and(|i| i > 1000) {
            return Err(MigrationError::InvalidArgument("importance must be 0..=1000"));
        }
        Ok(())
    }

    /// Queues one move. A live task for the same (pg, shard) is superseded (its slots and
    /// tokens come back, and an [`Event::Superseded`] says so).
    pub fn push(&mut self, r: MoveRequest, now: Time) -> Result<TaskId, MigrationError> {
        self.validate(&r)?;
        // Every check before the first change, so that a refusal changes nothing (not even
        // the last time seen).
        let now = Time(self.now.max(now.0));
        let key = pg_key(r.pg, r.shard);
        let probe = self.index.probe(key, |s| self.live_key(s));
        self.index.prefetch_next_block(key);
        let old = probe.ok();
        if old.is_none() && self.live >= self.cfg.max_tasks {
            return Err(MigrationError::CapacityExceeded { what: "task", cap: self.cfg.max_tasks as u64 });
        }
        // One lookup per node; adding a node (checked first) is off the common path.
        let (s, d) = match (self.throttle.node(r.from_node), self.throttle.node(r.to_node)) {
            (Some(s), Some(d)) => (s, d),
            (sr, dr) => {
                let new = sr.is_none() as usize + (dr.is_none() && r.to_node != r.from_node) as usize;
                if new + self.throttle.node_count() > self.cfg.throttle.max_nodes as usize {
                    return Err(MigrationError::CapacityExceeded {
                        what: "node",
                        cap: self.cfg.throttle.max_nodes as u64,
                    });
                }
                (self.node_ref(r.from_node, now)?, self.node_ref(r.to_node, now)?)
            }
        };
        self.now = now.0;
        let pair = self.pair_for(s.0, d.0);
        // Count the new task on its pair first, so that superseding the last task of the
        // same pair does not free it.
        self.pairs[pair as usize].live += 1;
        let nodes = (s.0 as usize, d.0 as usize);

        if let Some(o) = old {
            // Supersede: remove the old task, then report it once the new id is known.
            let oid = self.id_of(o);
            self.finish(o, now);
            let id = self.insert_task(&r, pair, nodes, now, None);
            self.emit(Event::Superseded { id: oid, by: id });
            self.totals[3] += 1;
            return Ok(id);
        }
        // Nothing touched the index since the probe: its free bucket is still the place.
        Ok(self.insert_task(&r, pair, nodes, now, probe.err()))
    }

    /// Queues every move of a plan, in order; stops at the first refusal and returns the
    /// ids pushed so far with the error (the moves before it stay queued). It reserves the
    /// plan's room first (as far as its iterator's size hint goes) and sorts what it queued
    /// per pair at its end, so the ticks after a large plan start tasks at their steady cost
    /// (at a million tasks, the first 75 rounds of starts took 420 ns a start, sorting as
    /// they went, and now take 170).
    pub fn push_plan<I: IntoIterator<Item = MoveRequest>>(
        &mut self,
        plan: I,
        now: Time,
    ) -> Result<Vec<TaskId>, (Vec<TaskId>, MigrationError)> {
        let plan = plan.into_iter();
        // Room for the whole plan at once (within the capacity): one allocation, which asks
        // for huge pages before its first touch, where growing by doubling would copy.
        let n = plan.size_hint().0.min((self.cfg.max_tasks as usize).saturating_sub(self.live as usize));
        self.reserve_tasks(self.live as usize + n);
        let mut ids = Vec::with_capacity(n);
        let mut out = Ok(());
        for r in plan {
            match self.push(r, now) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    out = Err(e);
                    break;
                }
            }
        }
        // Every pair's remaining work changed: refresh the order once (O(pairs)). And sort
        // what the plan queued, here rather than in the first start from each pair.
        for p in 0..self.pairs.len() as u32 {
            self.pairs[p as usize].heap.settle();
            self.place(p);
        }
        match out {
            Ok(()) => Ok(ids),
            Err(e) => Err((ids, e)),
        }
    }

    fn pair_for(&mut self, s: u32, d: u32) -> u32 {
        if let Some(p) = self.pair_index.get(s, d) {
            return p;
        }
        let pair = Pair { src: s, dst: d, heap: LazyHeap::default(), top_since: SINCE_UNREAD, lazy: 0, live: 0 };
        let p = match self.free_pairs.pop() {
            Some(p) => {
                self.pairs[p as usize] = pair;
                p
            }
            None => {
                self.pairs.push(pair);
                (self.pairs.len() - 1) as u32
            }
        };
        self.pair_index.insert(s, d, p);
        p
    }

    /// The (pg, shard) key of the live task in `slot`, or `u64::MAX`: what an index entry is
    /// checked against. A finished task's entry may still be in the index (see
    /// `unindexed`), and only a live task's key matches.
    #[inline]
    fn live_key(&self, slot: u32) -> u64 {
        self.tasks.get(slot as usize).filter(|t| t.flags & FLAG_DEAD == 0).map_or(u64::MAX, |t| pg_key(t.pg, t.shard))
    }

    fn id_of(&self, slot: u32) -> TaskId {
        task_id(slot, self.tasks[slot as usize].generation)
    }

    #[inline(always)]
    fn insert_task(
        &mut self,
        r: &MoveRequest,
        pair: u32,
        (s, d): (usize, usize),
        now: Time,
        at: Option<index::Vacant>,
    ) -> TaskId {
        let importance = r.importance.unwrap_or_else(|| importance_score(r, now)).min(1000) as u16;
        let mut t = Task {
            bytes: r.bytes,
            done: 0,
            deadline: r.deadline.map_or(u64::MAX, |d| d.0),
            queued_at: now.0,
            pg: r.pg,
            from_device: r.from_device,
            to_device: r.to_device,
            pair,
            generation: 0,
            pos: NO_POS,
            importance,
            priority: r.priority,
            shard: r.shard,
            kind: r.kind,
            state: TaskState::Queued,
            attempts: 0,
            flags: if r.importance.is_some() { FLAG_IMPORTANCE_SET } else { 0 },
        };
        let key = self.task_key(&t);
        let (slot, generation) = if self.free_head != NO_POS {
            let s = self.free_head;
            let old = &self.tasks[s as usize];
            self.free_head = old.pos;
            t.generation = old.generation.wrapping_add(1);
            let g = t.generation;
            self.tasks[s as usize] = t;
            (s, g)
        } else {
            growing(&mut self.tasks, self.cfg.huge_pages, |v| v.push(t));
            ((self.tasks.len() - 1) as u32, 0)
        };
        self.index.insert_at(pg_key(r.pg, r.shard), slot, at);
        if self.tags.len() <= slot as usize {
            growing(&mut self.tags, self.cfg.huge_pages, |v| v.resize(slot as usize + 1, 0));
        }
        self.live += 1;
        self.counts[TaskState::Queued as usize] += 1;
        self.bytes_left += r.bytes as u128;
        self.nodes[s].rem_out += r.bytes as u128;
        self.nodes[d].rem_in += r.bytes as u128;
        self.enqueue_keyed(slot, pair, key, now.0);
        task_id(slot, generation)
    }

    /// Puts a task (state already Queued) into its pair queue and the pair where it belongs.
    #[inline(always)]
    fn enqueue(&mut self, slot: u32) {
        let t = &self.tasks[slot as usize];
        self.enqueue_keyed(slot, t.pair, self.task_key(t), t.queued_at);
    }

    /// [`Scheduler::enqueue`] with the task's pair, key and queue time known.
    #[inline(always)]
    fn enqueue_keyed(&mut self, slot: u32, p: u32, key: u64, since: u64) {
        let tag = self.new_tag(slot);
        self.tags[slot as usize] = tag;
        let e = Entry { key, slot, tag };
        let pair = &mut self.pairs[p as usize];
        let top = pair.heap.push(e);
        if top {
            pair.top_since = since;
        }
        // The pair's key changes only when its best task does; its criticality part is
        // refreshed whenever the pair starts a task or is found blocked, and after a plan.
        if top || self.groups.group_of(p).is_none() {
            self.place(p);
        }
        self.dirty = true;
    }

    /// A fresh tag for `slot`'s next heap entry.
    #[inline]
    fn new_tag(&mut self, slot: u32) -> u32 {
        let cur = self.tags[slot as usize] & !TAG_LAZY;
        loop {
            if self.next_tag >= TAG_LAZY {
                // Wrapped: drop every stale entry, so that no tag left in a heap can come
                // back for its slot (the valid ones are the slots' current tags, skipped
                // below).
                let tags = &self.tags;
                for pr in self.pairs.iter_mut() {
                    pr.heap.rebuild(|e| entry_valid(tags, &e).then_some(e.key));
                }
                self.next_tag = 1;
            }
            let t = self.next_tag;
            self.next_tag += 1;
            if t != cur {
                return t;
            }
        }
    }

    /// Takes a queued task out of its pair queue (its entry goes stale) and keeps the pair's
    /// top valid and its place in its group current.
    fn dequeue(&mut self, slot: u32) {
        let p = self.tasks[slot as usize].pair;
        let raw = std::mem::replace(&mut self.tags[slot as usize], 0);
        let tag = raw & !TAG_LAZY;
        let tags = &self.tags;
        let pair = &mut self.pairs[p as usize];
        pair.lazy -= (raw & TAG_LAZY != 0) as u32;
        pair.heap.mark_stale();
        let top = pair.heap.peek().is_some_and(|e| e.slot == slot && e.tag == tag);
        compact(&mut pair.heap, tags);
        if top {
            self.fix_top(p);
            self.place(p);
        }
        self.counts[TaskState::Queued as usize] -= 1;
    }

    /// Makes pair `p`'s top entry valid and exact: stale entries come off, and a valid one
    /// whose key is older than its task's (a key raised lazily, see
    /// [`Scheduler::rekey_task`]) goes down to its place with the task's key.
    fn fix_top(&mut self, p: u32) {
        let pair = &mut self.pairs[p as usize];
        if pair.lazy == 0 && pair.heap.len() == pair.heap.live() {
            // Every entry valid, every key its task's own: nothing to read.
            pair.top_since = SINCE_UNREAD;
            return;
        }
        while let Some(e) = self.pairs[p as usize].heap.peek() {
            let tag = self.tags[e.slot as usize];
            if tag & !TAG_LAZY != e.tag {
                let tags = &self.tags;
                self.pairs[p as usize].heap.clean_top(|e| entry_valid(tags, &e));
                continue;
            }
            if tag & TAG_LAZY == 0 {
                // The key is the task's own: its record (a cache miss at a million tasks)
                // is left unread until the task starts.
                self.pairs[p as usize].top_since = SINCE_UNREAD;
                break;
            }
            self.tags[e.slot as usize] = e.tag;
            self.pairs[p as usize].lazy -= 1;
            let t = &self.tasks[e.slot as usize];
            let key = self.task_key(t);
            self.pairs[p as usize].top_since = t.queued_at;
            if key == e.key {
                break;
            }
            self.pairs[p as usize].heap.raise_top(key);
        }
    }

    /// The earliest pair `p`'s top task can have been queued, from its key alone: under the
    /// aging policies every key a task gets is its queue time plus a handicap of at most
    /// `9 × aging_step` (a lazily raised entry keeps an older such key); under the deadline
    /// policy the key says nothing of it.
    #[inline]
    fn since_at_least(&self, p: u32) -> u64 {
        match (self.cfg.policy, self.pairs[p as usize].heap.peek()) {
            (Policy::Priority | Policy::Importance, Some(e)) => {
                (e.key & VT_MAX).saturating_sub(9 * self.cfg.aging_step_ns)
            }
            _ => 0,
        }
    }

    /// Whether pair `p`'s top task can have waited the starvation guard, judged without its
    /// task record where that can be (see [`Scheduler::since_at_least`]).
    #[inline]
    fn may_starve(&self, p: u32, now: Time) -> bool {
        if self.pairs[p as usize].heap.is_empty() {
            return false;
        }
        match now.0.checked_sub(self.cfg.starvation_guard_ns) {
            None => false,
            Some(latest) => self.since_at_least(p) <= latest,
        }
    }

    /// When pair `p`'s top task was queued (read from its record the first time asked).
    fn since_of(&mut self, p: u32) -> u64 {
        let pr = &self.pairs[p as usize];
        if pr.top_since != SINCE_UNREAD {
            return pr.top_since;
        }
        let since = pr.heap.peek().map_or(SINCE_UNREAD, |e| self.tasks[e.slot as usize].queued_at);
        self.pairs[p as usize].top_since = since;
        since
    }

    fn crit(&self, s: u32, d: u32) -> u64 {
        if !self.cfg.critical_first {
            return 0;
        }
        crit_of(self.node_drain(s).0, self.node_drain(d).1)
    }

    /// Microseconds node `n` needs to send (`.0`) and to receive (`.1`) what is left on it,
    /// at its current rates.
    #[inline]
    fn node_drain(&self, n: u32) -> (u128, u128) {
        let (o, i) = self.throttle.node_rates(NodeRef(n)).unwrap_or((1, 1));
        let st = &self.nodes[n as usize];
        (drain_micros(st.rem_out, o), drain_micros(st.rem_in, i))
    }

    /// Re-keys pair `p` in its group from its current best task (a pair in no group goes
    /// to its source's out group), or takes it out when it has nothing queued.
    fn place(&mut self, p: u32) {
        let pair = &self.pairs[p as usize];
        let crit = self.crit(pair.src, pair.dst);
        self.place_in(p, None, crit);
    }

    /// [`Scheduler::place`] into group `to` (by default its current group, or its source's
    /// out group), with the pair's criticality already worked out. The key: its best task's
    /// key tier, then its criticality.
    fn place_in(&mut self, p: u32, to: Option<u32>, crit: u64) {
        let pair = &self.pairs[p as usize];
        match pair.heap.peek() {
            None => self.groups.remove(p),
            Some(e) => {
                let k = group_key(e.key, crit, self.tie_shift);
                let g = to.or(self.groups.group_of(p)).unwrap_or(out_group(pair.src));
                self.groups.place(p, g, k);
            }
        }
    }

    /// Node `n`'s slots changed (or the reservation did): its groups are active exactly
    /// while it has a free slot in their direction.
    fn sync_node(&mut self, n: u32) {
        self.sync_dir(n, true);
        self.sync_dir(n, false);
    }

    /// [`Scheduler::sync_node`] for node `n`'s outbound (`out`) or inbound slots alone.
    #[inline]
    fn sync_dir(&mut self, n: u32, out: bool) {
        let (free, g) = if out { (self.out_free(n, true), out_group(n)) } else { (self.in_free(n, true), in_group(n)) };
        if self.groups.set_active(g, free) {
            self.dirty |= free;
        }
    }

    /// Sets the starving pair; the nodes of the old and the new one change reservation.
    fn set_starving(&mut self, v: Option<u32>) {
        let old = std::mem::replace(&mut self.starving, v);
        if old == v {
            return;
        }
        for q in [old, v].into_iter().flatten() {
            let (s, d) = (self.pairs[q as usize].src, self.pairs[q as usize].dst);
            self.sync_node(s);
            self.sync_node(d);
        }
    }

    #[inline]
    fn reserved(&self, node: u32, out: bool) -> u32 {
        match self.starving {
            Some(p) => {
                let pr = &self.pairs[p as usize];
                ((if out { pr.src } else { pr.dst }) == node) as u32
            }
            None => 0,
        }
    }

    #[inline]
    fn out_free(&self, n: u32, reserve: bool) -> bool {
        let r = if reserve { self.reserved(n, true) } else { 0 };
        self.nodes[n as usize].out_running + r < self.cfg.max_out_per_node
    }

    #[inline]
    fn in_free(&self, n: u32, reserve: bool) -> bool {
        let r = if reserve { self.reserved(n, false) } else { 0 };
        self.nodes[n as usize].in_running + r < self.cfg.max_in_per_node
    }

    /// Pair `p` was found blocked: the longest-waiting blocked task past the guard gets its
    /// nodes reserved.
    fn check_starving(&mut self, p: u32, now: Time) {
        if !self.may_starve(p, now) {
            return;
        }
        // Not older than the starving pair already chosen, as its key shows: no record read.
        if let Some(q) = self.starving {
            if !self.pairs[q as usize].heap.is_empty() && self.since_at_least(p) >= self.since_of(q) {
                return;
            }
        }
        let since = self.since_of(p);
        if now.0.saturating_sub(since) < self.cfg.starvation_guard_ns {
            return;
        }
        let older = match self.starving {
            None => true,
            Some(q) => self.pairs[q as usize].heap.is_empty() || self.since_of(q) > since,
        };
        if older {
            self.set_starving(Some(p));
        }
    }

    fn admit(&mut self, now: Time) {
        self.dirty = false;
        // The starving pair first, on its raw (unreserved) slots.
        if let Some(p) = self.starving {
            let pr = &self.pairs[p as usize];
            if pr.heap.is_empty() || pr.live == 0 {
                self.set_starving(None);
            } else if self.running_or_starting() < self.cfg.max_running
                && self.out_free(pr.src, false)
                && self.in_free(pr.dst, false)
            {
                let (s, d) = (pr.src, pr.dst);
                if self.throttle.available(NodeRef(s), NodeRef(d), now).unwrap_or(0) > 0 {
                    self.set_starving(None);
                    self.start_top(p, now);
                }
            }
        }
        // The best pair of the best group whose node has a free slot; the group's node is
        // free, so only the other node can block it, and then the pair moves to that
        // node's (inactive) group, where it stays until that node frees a slot. Once few
        // nodes have a free slot (tasks completing one at a time), the pairs between them
        // are looked up directly instead, which finds the same best pair without moving
        // the blocked ones. Nothing can start once no node has a free outbound or no node a
        // free inbound slot.
        while self.running_or_starting() < self.cfg.max_running {
            let (fo, fi) = (self.groups.free_nodes(true).len(), self.groups.free_nodes(false).len());
            if fo == 0 || fi == 0 {
                break;
            }
            let p = if fo * fi <= ENUMERATE_FREE_PAIRS {
                match self.best_between_free(now) {
                    Some(p) => p,
                    None => break,
                }
            } else {
                let Some((g, p)) = self.groups.peek() else {
                    break;
                };
                let (s, d) = (self.pairs[p as usize].src, self.pairs[p as usize].dst);
                let blocked_on = if !self.out_free(s, true) {
                    Some(out_group(s))
                } else if !self.in_free(d, true) {
                    Some(in_group(d))
                } else {
                    None
                };
                if let Some(to) = blocked_on {
                    if to == g {
                        // An active group whose node is full (cannot happen while sync_node
                        // keeps them in step); deactivating it keeps the loop finite.
                        debug_assert!(false, "active group {g} on a full node");
                        self.groups.set_active(g, false);
                        continue;
                    }
                    let crit = self.crit(s, d);
                    self.place_in(p, Some(to), crit);
                    self.blocked_seen += 1;
                    self.check_starving(p, now);
                    continue;
                }
                p
            };
            let (s, d) = (self.pairs[p as usize].src, self.pairs[p as usize].dst);
            if self.throttle.available(NodeRef(s), NodeRef(d), now).unwrap_or(0) == 0 {
                // Out of tokens (a reservation is being repaid): look again next tick.
                self.groups.remove(p);
                self.token_wait.push(p);
                continue;
            }
            self.start_top(p, now);
        }
        self.enter_running();
    }

    /// Tasks running, and taken off their queue by this admission but not yet entered in
    /// the running list.
    #[inline]
    fn running_or_starting(&self) -> u32 {
        (self.running.len() + self.starting.len()) as u32
    }

    /// Enters the tasks this admission started in the running list, in the order started,
    /// and reports them. Kept apart from the choosing, which touches no task record and no
    /// tag: these (a cache miss each at a million tasks) are all asked for first, then read
    /// and written in one loop, not one at a time between heap updates. A tag cleared in
    /// start_top cost more than the heap's work there: a store that misses holds up the
    /// stores behind it once the store buffer fills.
    fn enter_running(&mut self) {
        let mut started = std::mem::take(&mut self.starting);
        let chunk = self.cfg.chunk_bytes;
        // Every record and tag asked for first: the loop below would otherwise wait on them
        // a few at a time (the work between two records fills the window misses overlap in).
        for &(slot, ..) in &started {
            if let Some(t) = self.tasks.get(slot as usize) {
                crate::hint::prefetch(t);
            }
            prefetch_tag(&self.tags, slot);
        }
        for &(slot, src, dst, crit) in &started {
            self.tags[slot as usize] = 0;
            let pos = self.running.len() as u32;
            let t = &mut self.tasks[slot as usize];
            t.state = TaskState::Running;
            t.pos = pos;
            let first = t.flags & FLAG_STARTED == 0;
            t.flags |= FLAG_STARTED;
            let (done, generation) = (t.done, t.generation);
            let chunk_end = t.bytes.min(done.saturating_add(chunk));
            self.running.push(RunEntry { slot, src, dst, generation, pending: 0, crit, granted: done, chunk_end });
            if first {
                let id = self.id_of(slot);
                self.emit(Event::Started { id });
            }
        }
        self.counts[TaskState::Queued as usize] -= started.len() as u64;
        self.counts[TaskState::Running as usize] += started.len() as u64;
        started.clear();
        self.starting = started;
    }

    /// The best pair (by its key in its group) whose source has a free outbound and whose
    /// target a free inbound slot, looked up over every (free source, free target): the
    /// answer the group heap gives, for few free nodes. The best pair of each free node's
    /// group that is blocked is what the group heap would have found blocked, so it goes
    /// through the starvation check.
    fn best_between_free(&mut self, now: Time) -> Option<u32> {
        // The starvation check first: a reservation it makes changes which nodes are free.
        // One index over the free sources, then the free targets, read afresh each time: a
        // reservation it makes changes the lists as it goes.
        let mut i = 0;
        loop {
            let (fo, fi) = (self.groups.free_nodes(true), self.groups.free_nodes(false));
            let (n, out) = match fo.get(i) {
                Some(&n) => (n, true),
                None => match fi.get(i - fo.len()) {
                    Some(&n) => (n, false),
                    None => break,
                },
            };
            i += 1;
            let Some(q) = self.groups.top_of(if out { out_group(n) } else { in_group(n) }) else {
                continue;
            };
            let pr = &self.pairs[q as usize];
            let other_free = if out { self.in_free(pr.dst, true) } else { self.out_free(pr.src, true) };
            if !other_free {
                self.check_starving(q, now);
            }
        }
        let mut best: Option<(u128, u32)> = None;
        let (free_out, free_in) = (self.groups.free_nodes(true), self.groups.free_nodes(false));
        self.looked_up += (free_out.len() * free_in.len()) as u64;
        for &s in free_out {
            for &d in free_in {
                let Some(p) = self.pair_index.get(s, d) else {
                    continue;
                };
                if let Some(k) = self.groups.key_of(p) {
                    if best.is_none_or(|b| (k, p) < b) {
                        best = Some((k, p));
                    }
                }
            }
        }
        best.map(|b| b.1)
    }

    /// Starts the best task of pair `p` (slots were checked by the caller): takes it off its
    /// queue and its slots; [`Scheduler::enter_running`] finishes the start.
    fn start_top(&mut self, p: u32, now: Time) {
        let Some(Entry { slot, .. }) = self.pairs[p as usize].heap.pop() else {
            return;
        };
        // Its tag (no longer current: the entry is gone) is cleared with the record's
        // writes, in enter_running.
        self.fix_top(p);
        // One valid entry fewer: the stale ones may now pass their bound.
        compact(&mut self.pairs[p as usize].heap, &self.tags);
        let (s, d) = (self.pairs[p as usize].src, self.pairs[p as usize].dst);
        self.nodes[s as usize].out_running += 1;
        self.nodes[d as usize].in_running += 1;
        self.sync_dir(s, true);
        self.sync_dir(d, false);
        // One criticality for both: the pair's new key and the running task's grant order.
        let crit = self.crit(s, d);
        self.place_in(p, None, crit);
        // The task record is written when the admission ends (enter_running).
        self.starting.push((slot, s, d, crit));
        let _ = now;
    }

    /// Takes a running task off the running list and frees its slots (state set by caller).
    fn stop_running(&mut self, slot: u32) {
        let t = &self.tasks[slot as usize];
        let idx = t.pos as usize;
        let p = &self.pairs[t.pair as usize];
        let (s, d) = (p.src, p.dst);
        let unused = self.granted(t).saturating_sub(t.done);
        if unused > 0 {
            let _ = self.throttle.refund(NodeRef(s), NodeRef(d), unused);
        }
        self.running.swap_remove(idx);
        if let Some(e) = self.running.get(idx) {
            self.tasks[e.slot as usize].pos = idx as u32;
        }
        self.tasks[slot as usize].pos = NO_POS;
        let ns = &mut self.nodes[s as usize];
        ns.out_running -= 1;
        let nd = &mut self.nodes[d as usize];
        nd.in_running -= 1;
        self.counts[TaskState::Running as usize] -= 1;
        self.sync_dir(s, true);
        self.sync_dir(d, false);
    }

    /// Takes the finished tasks' entries out of the index, in one loop: each is a cache
    /// miss at a million tasks, which there overlap instead of each waiting behind the
    /// read of its task record.
    fn flush_unindexed(&mut self) {
        self.index.remove_all(&self.unindexed);
        self.unindexed.clear();
    }

    /// Removes a live task for good (cancel, supersede, complete, fail): frees slots,
    /// returns tokens, drops it from its heap, index and pair. Emits nothing.
    fn finish(&mut self, slot: u32, _now: Time) {
        let t = &self.tasks[slot as usize];
        let state = t.state;
        let pair = t.pair;
        // Its index entry goes later, with others (see `unindexed`).
        self.unindexed.push((pg_key(t.pg, t.shard), slot));
        if self.unindexed.len() >= UNINDEX_BATCH {
            self.flush_unindexed();
        }
        match state {
            TaskState::Running => self.stop_running(slot),
            TaskState::Queued => self.dequeue(slot),
            TaskState::Backoff => self.counts[TaskState::Backoff as usize] -= 1,
        }
        let t = &self.tasks[slot as usize];
        let left = t.bytes - t.done;
        let (s, d) = (self.pairs[pair as usize].src, self.pairs[pair as usize].dst);
        self.bytes_left -= left as u128;
        self.nodes[s as usize].rem_out -= left as u128;
        self.nodes[d as usize].rem_in -= left as u128;
        let pr = &mut self.pairs[pair as usize];
        pr.live -= 1;
        if pr.live == 0 {
            self.groups.remove(pair);
            self.token_wait.retain(|&x| x != pair);
            if self.starving == Some(pair) {
                self.set_starving(None);
            }
            self.pair_index.remove(s, d);
            self.pairs[pair as usize].heap = LazyHeap::default();
            self.free_pairs.push(pair);
        }
        let t = &mut self.tasks[slot as usize];
        t.flags |= FLAG_DEAD;
        t.pos = self.free_head;
        self.free_head = slot;
        self.live -= 1;
    }

    fn slot_of(&self, id: TaskId) -> Result<u32, MigrationError> {
        let slot = id.0 as u32;
        match self.tasks.get(slot as usize) {
            Some(t) if t.generation == (id.0 >> 32) as u32 && t.flags & FLAG_DEAD == 0 => Ok(slot),
            _ => Err(MigrationError::UnknownTask(id.0)),
        }
    }

    /// The state of a live task.
    pub fn state(&self, id: TaskId) -> Result<TaskState, MigrationError> {
        Ok(self.tasks[self.slot_of(id)? as usize].state)
    }

    /// What the scheduler knows of a live task.
    pub fn task(&self, id: TaskId) -> Result<TaskInfo, MigrationError> {
        let t = &self.tasks[self.slot_of(id)? as usize];
        let p = &self.pairs[t.pair as usize];
        Ok(TaskInfo {
            id,
            pg: t.pg,
            shard: t.shard,
            from_device: t.from_device,
            to_device: t.to_device,
            from_node: self.nodes[p.src as usize].id,
            to_node: self.nodes[p.dst as usize].id,
            bytes: t.bytes,
            done: t.done,
            granted: self.granted(t),
            kind: t.kind,
            priority: t.priority,
            importance: t.importance as u32,
            deadline: if t.deadline == u64::MAX { None } else { Some(Time(t.deadline)) },
            state: t.state,
            attempts: t.attempts,
        })
    }

    /// (bytes done, bytes granted, total bytes) of a live task.
    pub fn progress(&self, id: TaskId) -> Result<(u64, u64, u64), MigrationError> {
        let t = &self.tasks[self.slot_of(id)? as usize];
        Ok((t.done, self.granted(t), t.bytes))
    }

    /// A running task's entry in the running list (`None` for a task in any other state).
    fn run_entry(&self, t: &Task) -> Option<&RunEntry> {
        self.running.get(t.pos as usize).filter(|_| t.state == TaskState::Running)
    }

    /// Bytes granted to a live task in this attempt: what its running entry says, or, when
    /// it is not running, exactly what it has done.
    fn granted(&self, t: &Task) -> u64 {
        self.run_entry(t).map_or(t.done, |e| e.granted)
    }

    /// Cancels a task in any state; its slots and unused tokens come back.
    pub fn cancel(&mut self, id: TaskId, now: Time) -> Result<(), MigrationError> {
        let slot = self.slot_of(id)?;
        let now = self.advance(now);
        self.cancel_slot(slot, id, now);
        Ok(())
    }

    /// Cancels the live task `id` in `slot` (checked by the caller).
    fn cancel_slot(&mut self, slot: u32, id: TaskId, now: Time) {
        self.finish(slot, now);
        self.totals[2] += 1;
        self.emit(Event::Cancelled { id });
    }

    /// Cancels every task of `ids`, as [`Scheduler::cancel`] cancels one, in order; all or
    /// nothing: an id of no live task, or one given twice, refuses the whole batch with
    /// nothing changed. Returns how many were cancelled.
    ///
    /// A first pass only checks the ids, so that the reads of their records (a cache miss
    /// each at a million tasks) overlap instead of each waiting for the cancel before it.
    pub fn cancel_many(&mut self, ids: &[TaskId], now: Time) -> Result<usize, MigrationError> {
        for (i, &id) in ids.iter().enumerate() {
            let checked = self.slot_of(id).and_then(|slot| {
                let t = &mut self.tasks[slot as usize];
                if t.flags & FLAG_IN_BATCH != 0 {
                    return Err(MigrationError::InvalidArgument("a task given twice"));
                }
                t.flags |= FLAG_IN_BATCH;
                prefetch_tag(&self.tags, slot);
                Ok(())
            });
            if let Err(e) = checked {
                for &id in &ids[..i] {
                    self.tasks[id.0 as u32 as usize].flags &= !FLAG_IN_BATCH;
                }
                return Err(e);
            }
        }
        let now = self.advance(now);
        for &id in ids {
            let slot = id.0 as u32;
            self.tasks[slot as usize].flags &= !FLAG_IN_BATCH;
            self.cancel_slot(slot, id, now);
        }
        Ok(ids.len())
    }

    /// Changes a task's priority (1..=10); a queued task moves in the queue at once.
    pub fn set_priority(&mut self, id: TaskId, priority: u8, now: Time) -> Result<(), MigrationError> {
        if !(1..=10).contains(&priority) {
            return Err(MigrationError::InvalidArgument("priority must be 1..=10"));
        }
        let slot = self.slot_of(id)?;
        self.advance(now);
        let old = self.task_key(&self.tasks[slot as usize]);
        self.tasks[slot as usize].priority = priority;
        self.rekey_task(slot, old);
        Ok(())
    }

    /// Sets a task's importance score (0..=1000), overriding the computed one.
    pub fn set_importance(&mut self, id: TaskId, importance: u32, now: Time) -> Result<(), MigrationError> {
        if importance > 1000 {
            return Err(MigrationError::InvalidArgument("importance must be 0..=1000"));
        }
        let slot = self.slot_of(id)?;
        self.advance(now);
        let old = self.task_key(&self.tasks[slot as usize]);
        let t = &mut self.tasks[slot as usize];
        t.importance = importance as u16;
        t.flags |= FLAG_IMPORTANCE_SET;
        self.rekey_task(slot, old);
        Ok(())
    }

    /// A queued task's key went from `old` to its current one. A smaller key gets a new
    /// entry (the old one goes stale); a larger one is applied lazily: the entry keeps its
    /// smaller key, which only makes it surface early, and it is put in its place when it
    /// reaches the top ([`Scheduler::fix_top`]), so lowering a priority touches no heap.
    fn rekey_task(&mut self, slot: u32, old: u64) {
        let t = &self.tasks[slot as usize];
        if t.state != TaskState::Queued {
            return;
        }
        let key = self.task_key(t);
        if key < old {
            self.dequeue(slot);
            self.counts[TaskState::Queued as usize] += 1;
            self.enqueue(slot);
        } else if key > old {
            let (p, tag) = (t.pair, self.tags[slot as usize] & !TAG_LAZY);
            // The entry keeps its smaller key; the mark makes fix_top look when it is on top.
            if self.tags[slot as usize] & TAG_LAZY == 0 {
                self.tags[slot as usize] |= TAG_LAZY;
                self.pairs[p as usize].lazy += 1;
            }
            if self.pairs[p as usize].heap.peek().is_some_and(|e| e.slot == slot && e.tag == tag) {
                self.fix_top(p);
                self.place(p);
                self.dirty = true;
            }
        }
    }

    /// Switches the ordering policy; everything queued is re-ordered (O(n)).
    pub fn set_policy(&mut self, policy: Policy) {
        self.cfg.policy = policy;
        let (cfg, tags, tasks) = (self.cfg, &self.tags, &self.tasks);
        for pr in self.pairs.iter_mut() {
            pr.heap.rebuild(|e| entry_valid(tags, &e).then(|| task_key(&cfg, &tasks[e.slot as usize])));
            pr.top_since = SINCE_UNREAD;
            pr.lazy = 0;
        }
        // Every key is the task's own again.
        for t in self.tags.iter_mut() {
            *t &= !TAG_LAZY;
        }
        for p in 0..self.pairs.len() as u32 {
            self.place(p);
        }
        self.dirty = true;
    }

    /// The current policy.
    pub fn policy(&self) -> Policy {
        self.cfg.policy
    }

    /// Reports that `done` bytes (cumulative, this attempt) of a running task are copied.
    /// At the end of a chunk the task gives its slots back and queues again; at the last
    /// byte it completes. More than was granted, or going backwards, is an error.
    pub fn report_progress(&mut self, id: TaskId, done: u64, now: Time) -> Result<(), MigrationError> {
        let slot = self.slot_of(id)?;
        let t = &self.tasks[slot as usize];
        if t.state != TaskState::Running {
            return Err(MigrationError::NotRunning(id.0));
        }
        let (granted, chunk_end) = self.run_entry(t).map_or((t.done, t.done), |e| (e.granted, e.chunk_end));
        if done < t.done || done > granted {
            return Err(MigrationError::InvalidProgress { id: id.0, done, limit: granted });
        }
        let now = self.advance(now);
        let t = &self.tasks[slot as usize];
        let delta = done - t.done;
        let (pair, bytes) = (t.pair, t.bytes);
        let (s, d) = (self.pairs[pair as usize].src, self.pairs[pair as usize].dst);
        self.tasks[slot as usize].done = done;
        self.bytes_done += delta as u128;
        self.bytes_left -= delta as u128;
        self.nodes[s as usize].rem_out -= delta as u128;
        self.nodes[d as usize].rem_in -= delta as u128;
        if done == bytes {
            self.complete_slot(slot, now);
        } else if done >= chunk_end {
            // End of a chunk: give the slots back and compete again with the same key.
            self.stop_running(slot);
            self.tasks[slot as usize].state = TaskState::Queued;
            self.counts[TaskState::Queued as usize] += 1;
            self.enqueue(slot);
        }
        Ok(())
    }

    fn complete_slot(&mut self, slot: u32, now: Time) {
        let id = self.id_of(slot);
        let t = &mut self.tasks[slot as usize];
        let rest = t.bytes - t.done;
        t.done = t.bytes;
        // Everything is copied: nothing granted goes back to the throttle.
        if let Some(e) = self.running.get_mut(t.pos as usize) {
            e.granted = e.granted.max(t.bytes);
        }
        self.bytes_done += rest as u128;
        self.bytes_left -= rest as u128;
        let (s, d) = {
            let p = &self.pairs[t.pair as usize];
            (p.src, p.dst)
        };
        self.nodes[s as usize].rem_out -= rest as u128;
        self.nodes[d as usize].rem_in -= rest as u128;
        self.finish(slot, now);
        self.totals[0] += 1;
        self.emit(Event::Completed { id });
    }

    /// Reports that a running task finished (all of its bytes are copied).
    pub fn report_complete(&mut self, id: TaskId, now: Time) -> Result<(), MigrationError> {
        let slot = self.slot_of(id)?;
        if self.tasks[slot as usize].state != TaskState::Running {
            return Err(MigrationError::NotRunning(id.0));
        }
        let now = self.advance(now);
        self.complete_slot(slot, now);
        Ok(())
    }

    /// Reports that a running or between-chunks task failed with the host's `reason`: it
    /// retries after an exponential backoff (progress restarts from zero) until
    /// `max_retries`, then fails for good.
    pub fn report_failure(&mut self, id: TaskId, reason: u32, now: Time) -> Result<(), MigrationError> {
        let slot = self.slot_of(id)?;
        let t = &self.tasks[slot as usize];
        if t.state == TaskState::Backoff || (t.state == TaskState::Queued && t.flags & FLAG_STARTED == 0) {
            return Err(MigrationError::NotRunning(id.0));
        }
        let now = self.advance(now);
        let t = &self.tasks[slot as usize];
        let attempt = t.attempts.saturating_add(1);
        if attempt > self.cfg.max_retries {
            self.finish(slot, now);
            self.totals[1] += 1;
            self.emit(Event::Failed { id, reason, attempts: attempt });
            return Ok(());
        }
        match t.state {
            TaskState::Running => self.stop_running(slot),
            _ => self.dequeue(slot),
        }
        let t = &mut self.tasks[slot as usize];
        let redo = t.done;
        t.done = 0;
        t.attempts = attempt;
        t.state = TaskState::Backoff;
        t.flags &= !FLAG_STARTED;
        let (s, d) = {
            let p = &self.pairs[t.pair as usize];
            (p.src, p.dst)
        };
        let generation = t.generation;
        self.bytes_done -= redo as u128;
        self.bytes_left += redo as u128;
        self.nodes[s as usize].rem_out += redo as u128;
        self.nodes[d as usize].rem_in += redo as u128;
        self.counts[TaskState::Backoff as usize] += 1;
        let shift = (attempt - 1).min(62) as u32;
        let wait = self.cfg.backoff_base_ns.saturating_mul(1u64 << shift).min(self.cfg.backoff_max_ns);
        let at = now.0.saturating_add(wait);
        self.timers.push(std::cmp::Reverse((at, slot, generation)));
        self.emit(Event::Retrying { id, reason, attempt, at: Time(at) });
        Ok(())
    }

    /// The passage of time: re-queues tasks whose backoff ended, starts what can start, and
    /// grants bytes to running tasks within the throttle (busiest nodes first). Drain
    /// [`Scheduler::poll_event`] and [`Scheduler::poll_grant`] afterwards. A `now` older
    /// than the last seen is the last seen; a repeated tick grants only what refilled.
    pub fn tick(&mut self, now: Time) {
        let now = self.advance(now);
        if !self.unindexed.is_empty() {
            self.flush_unindexed();
        }
        while let Some(&std::cmp::Reverse((at, slot, generation))) = self.timers.peek() {
            if at > now.0 {
                break;
            }
            self.timers.pop();
            let Some(t) = self.tasks.get_mut(slot as usize) else {
                continue;
            };
            if t.generation != generation || t.flags & FLAG_DEAD != 0 || t.state != TaskState::Backoff {
                continue;
            }
            t.state = TaskState::Queued;
            self.counts[TaskState::Backoff as usize] -= 1;
            self.counts[TaskState::Queued as usize] += 1;
            self.enqueue(slot);
        }
        if !self.token_wait.is_empty() {
            let w = std::mem::take(&mut self.token_wait);
            for &p in &w {
                self.place(p);
            }
            self.dirty = true;
        }
        if self.dirty || self.starving.is_some() {
            self.admit(now);
        }
        if !self.running.is_empty() {
            self.grant(now);
        }
    }

    fn grant(&mut self, now: Time) {
        // Busiest pairs first, so that the bottleneck nodes never wait for tokens. With more
        // running tasks than nodes, each node's drain times are worked out once.
        if self.cfg.critical_first && self.nodes.len() <= self.running.len() {
            let mut drains = std::mem::take(&mut self.drains);
            drains.clear();
            drains.extend((0..self.nodes.len() as u32).map(|n| self.node_drain(n)));
            for e in self.running.iter_mut() {
                e.crit = crit_of(drains[e.src as usize].0, drains[e.dst as usize].1);
            }
            self.drains = drains;
        } else {
            for i in 0..self.running.len() {
                let e = &self.running[i];
                let c = self.crit(e.src, e.dst);
                self.running[i].crit = c;
            }
        }
        // (busiest first, then by slot), packed with the running-list index into one u128
        // so that the sort compares plain integers.
        let mut order = std::mem::take(&mut self.scratch);
        order.clear();
        order.extend(
            self.running
                .iter()
                .enumerate()
                .map(|(i, e)| ((u64::MAX - e.crit) as u128) << 64 | (e.slot as u128) << 32 | i as u128),
        );
        order.sort_unstable();
        let w = now.0 / NANOS_PER_SEC;
        if self.g_win != w {
            self.g_prev = if self.g_win + 1 == w { self.g_cur } else { 0 };
            self.g_win = w;
            self.g_cur = 0;
        }
        for &o in &order {
            let i = o as u32;
            let e = self.running[i as usize];
            let want = e.chunk_end.saturating_sub(e.granted);
            if want == 0 {
                continue;
            }
            let (s, d) = (e.src, e.dst);
            let g = self.throttle.acquire_up_to(NodeRef(s), NodeRef(d), want, now).unwrap_or(0);
            if g == 0 {
                continue;
            }
            self.running[i as usize].granted += g;
            if e.pending == 0 {
                self.grants.push_back((e.slot, e.generation));
            }
            self.running[i as usize].pending += g;
            self.g_cur += g;
            let ns = &mut self.nodes[s as usize];
            ns.roll(w);
            ns.win_out += g;
            let nd = &mut self.nodes[d as usize];
            nd.roll(w);
            nd.win_in += g;
        }
        self.scratch = order;
    }

    /// The next grant to act on: bytes a running task may copy now. `None` once drained.
    /// Changed by [`Scheduler::tick`] (new grants) and by calls that stop a task (its
    /// undrained grant is dropped and its tokens refunded).
    pub fn poll_grant(&mut self) -> Option<Grant> {
        while let Some((slot, generation)) = self.grants.pop_front() {
            let Some(t) = self.tasks.get(slot as usize) else {
                continue;
            };
            if t.generation != generation || t.flags & FLAG_DEAD != 0 || t.state != TaskState::Running {
                continue;
            }
            let idx = t.pos as usize;
            let Some(e) = self.running.get_mut(idx) else {
                continue;
            };
            if e.pending == 0 {
                continue;
            }
            let bytes = std::mem::take(&mut e.pending);
            return Some(Grant { id: self.id_of(slot), bytes });
        }
        None
    }

    /// The next event. `None` once drained. Changed by push (superseded), cancel, the
    /// report calls and tick.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the next tick matters: a backoff ending, or (while tasks run or wait for
    /// tokens) one tick interval after the last `now`; `None` when nothing is pending.
    pub fn next_deadline(&self) -> Option<Time> {
        let mut t = self.timers.peek().map(|r| r.0 .0);
        if !self.running.is_empty() || self.dirty || !self.token_wait.is_empty() || self.starving.is_some() {
            let n = self.now.saturating_add(self.cfg.tick_interval_ns);
            t = Some(t.map_or(n, |x| x.min(n)));
        }
        t.map(Time)
    }

    /// Counts, bytes, the cluster rate over the last whole second and an ETA.
    pub fn status(&self) -> Status {
        let w = self.now / NANOS_PER_SEC;
        let rate = if self.g_win == w {
            self.g_prev
        } else if self.g_win + 1 == w {
            self.g_cur
        } else {
            0
        };
        let eta = if self.bytes_left == 0 {
            Time(self.now)
        } else if rate == 0 {
            Time::MAX
        } else {
            let ns = self.bytes_left.saturating_mul(NANOS_PER_SEC as u128) / rate as u128;
            Time(self.now.saturating_add(u64::try_from(ns).unwrap_or(u64::MAX)))
        };
        Status {
            queued: self.counts[0],
            running: self.counts[1],
            backoff: self.counts[2],
            completed: self.totals[0],
            failed: self.totals[1],
            cancelled: self.totals[2],
            superseded: self.totals[3],
            bytes_done: u64::try_from(self.bytes_done).unwrap_or(u64::MAX),
            bytes_left: u64::try_from(self.bytes_left).unwrap_or(u64::MAX),
            rate_bps: rate,
            eta,
            events_dropped: self.events_dropped,
        }
    }

    /// Bytes granted out of and into node `id` over the last whole second.
    pub fn node_rate(&self, id: u32) -> Result<(u64, u64), MigrationError> {
        let r = self.throttle.node(id).ok_or(MigrationError::Throttle(ThrottleError::UnknownNode(id)))?;
        let n = &self.nodes[r.0 as usize];
        let w = self.now / NANOS_PER_SEC;
        Ok(if n.win == w {
            (n.prev_out, n.prev_in)
        } else if n.win + 1 == w {
            (n.win_out, n.win_in)
        } else {
            (0, 0)
        })
    }

    /// Running (outbound, inbound) moves on node `id`.
    pub fn node_running(&self, id: u32) -> Result<(u32, u32), MigrationError> {
        let r = self.throttle.node(id).ok_or(MigrationError::Throttle(ThrottleError::UnknownNode(id)))?;
        let n = &self.nodes[r.0 as usize];
        Ok((n.out_running, n.in_running))
    }

    /// Host ids of every node, in the order they were first seen.
    pub fn node_ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Ids of the running tasks (in running-list order).
    pub fn running_ids(&self) -> Vec<TaskId> {
        self.running.iter().map(|e| self.id_of(e.slot)).collect()
    }

    /// Bytes allocated per live task by the queue structures (task records, heaps, index),
    /// for the memory figure.
    pub fn allocated_bytes(&self) -> usize {
        self.tasks.capacity() * std::mem::size_of::<Task>()
            + self.index.allocated_bytes()
            + self.tags.capacity() * 4
            + self.pairs.iter().map(|p| p.heap.capacity() * 16 + std::mem::size_of::<Pair>()).sum::<usize>()
            + self.pair_index.allocated_bytes()
            + self.groups.allocated_bytes()
    }

    /// Checks the internal invariants (caps, counts, slots, bytes); for tests and fuzzing.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut out = vec![0u32; self.nodes.len()];
        let mut inn = vec![0u32; self.nodes.len()];
        for e in &self.running {
            let t = &self.tasks[e.slot as usize];
            if t.state != TaskState::Running {
                return Err("non-running task in running list".into());
            }
            let p = &self.pairs[t.pair as usize];
            out[p.src as usize] += 1;
            inn[p.dst as usize] += 1;
            if t.done > e.granted || e.granted > e.chunk_end || e.chunk_end > t.bytes {
                return Err(format!("task bytes out of order: {} {} {} {}", t.done, e.granted, e.chunk_end, t.bytes));
            }
            if self.running.get(t.pos as usize).map(|r| r.slot) != Some(e.slot) {
                return Err("running-list index out of date".into());
            }
        }
        if self.running.len() as u32 > self.cfg.max_running {
            return Err("global cap exceeded".into());
        }
        if self.tasks.iter().any(|t| t.flags & FLAG_IN_BATCH != 0) {
            return Err("a batch mark left on a task".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.out_running != out[i] || n.in_running != inn[i] {
                return Err(format!("node {} slot count mismatch", n.id));
            }
            if n.out_running > self.cfg.max_out_per_node || n.in_running > self.cfg.max_in_per_node {
                return Err(format!("node {} cap exceeded", n.id));
            }
        }
        let mut counts = [0u64; 3];
        let mut left = 0u128;
        for t in &self.tasks {
            if t.flags & FLAG_DEAD == 0 {
                counts[t.state as usize] += 1;
                left += (t.bytes - t.done) as u128;
            }
        }
        for (i, t) in self.tasks.iter().enumerate() {
            let queued = t.flags & FLAG_DEAD == 0 && t.state == TaskState::Queued;
            if queued != (self.tags.get(i).copied().unwrap_or(0) != 0) {
                return Err(format!("slot {i}: tag does not match its state"));
            }
        }
        let live = self.tasks.iter().filter(|t| t.flags & FLAG_DEAD == 0).count() as u32;
        // Every live task is found under its key; the index holds the live tasks and the
        // finished ones not yet taken out.
        for (i, t) in self.tasks.iter().enumerate() {
            if t.flags & FLAG_DEAD == 0
                && self.index.find(pg_key(t.pg, t.shard), |s| self.live_key(s)) != Some(i as u32)
            {
                return Err(format!("slot {i}: not in the index under its key"));
            }
        }
        if self.index.len() != live as usize + self.unindexed.len() {
            return Err(format!(
                "index holds {}, {live} live and {} to remove",
                self.index.len(),
                self.unindexed.len()
            ));
        }
        if counts != self.counts || live != self.live {
            return Err(format!("state counts {:?} vs {:?}", counts, self.counts));
        }
        if left != self.bytes_left {
            return Err(format!("bytes left {} vs {}", left, self.bytes_left));
        }
        let mut queued = 0usize;
        for (i, p) in self.pairs.iter().enumerate() {
            let valid = p.heap.iter().filter(|e| entry_valid(&self.tags, e)).count();
            // Every valid entry is its own pair's, with a key at most its task's (raised
            // lazily), and the top's key is exact.
            let own = p.heap.iter().all(|e| {
                let t = &self.tasks[e.slot as usize];
                !entry_valid(&self.tags, e) || (t.pair == i as u32 && e.key <= self.task_key(t))
            }) && p.heap.peek().is_none_or(|e| e.key == self.task_key(&self.tasks[e.slot as usize]));
            if valid != p.heap.live()
                || !own
                || p.heap.peek().is_some_and(|e| !entry_valid(&self.tags, &e))
                || p.heap.over_stale_bound()
            {
                return Err(format!("pair {i}: heap bookkeeping (valid {valid}, live {})", p.heap.live()));
            }
            // A valid entry whose key is not its task's is marked, and the marks are counted.
            if p.heap.iter().any(|e| {
                entry_valid(&self.tags, e)
                    && self.tags[e.slot as usize] & TAG_LAZY == 0
                    && e.key != self.task_key(&self.tasks[e.slot as usize])
            }) {
                return Err(format!("pair {i}: a lazily raised key is not marked"));
            }
            let marked = p
                .heap
                .iter()
                .filter(|e| entry_valid(&self.tags, e) && self.tags[e.slot as usize] & TAG_LAZY != 0)
                .count();
            if marked != p.lazy as usize {
                return Err(format!("pair {i}: {marked} lazily raised keys, {} counted", p.lazy));
            }
            if p.heap.check().is_err()
                || p.heap.peek().is_some_and(|e| {
                    p.top_since != SINCE_UNREAD && self.tasks[e.slot as usize].queued_at != p.top_since
                })
            {
                return Err(format!("pair {i}: cached top out of date"));
            }
            // A pair with queued work is in its source's out group or its target's in
            // group (or waits for tokens); an empty one is in none.
            let g = self.groups.group_of(i as u32);
            let waits = self.token_wait.contains(&(i as u32));
            let at_home = g.is_some_and(|g| g == out_group(p.src) || g == in_group(p.dst));
            if (p.heap.is_empty() && g.is_some()) || (!p.heap.is_empty() && !at_home && !waits) {
                return Err(format!("pair {i}: in group {g:?} (waits for tokens: {waits})"));
            }
            queued += valid;
        }
        // Every pair in use is found at its nodes, and only those are mapped.
        let mut free = vec![false; self.pairs.len()];
        for &i in &self.free_pairs {
            free[i as usize] = true;
        }
        let in_use = self.pairs.len() - self.free_pairs.len();
        if self.pair_index.len() != in_use
            || self
                .pairs
                .iter()
                .enumerate()
                .any(|(i, p)| !free[i] && self.pair_index.get(p.src, p.dst) != Some(i as u32))
        {
            return Err("pair index out of step with the pairs".into());
        }
        if queued as u64 != self.counts[0] {
            return Err("queued count vs heaps".into());
        }
        // The groups check their free-node lists against their activity; here the
        // activity against the slots.
        self.groups.check()?;
        for n in 0..self.nodes.len() as u32 {
            let (o, i) = (self.out_free(n, true), self.in_free(n, true));
            if self.groups.is_active(out_group(n)) != o || self.groups.is_active(in_group(n)) != i {
                return Err(format!("node {}: group activity out of step with its slots", self.nodes[n as usize].id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
