//! The heartbeat failure detector: decides, from arrival times alone, which nodes are
//! alive, suspect or dead. Sending heartbeats, and what to do about a dead node, are the
//! host's.
//!
//! # The rule
//!
//! Per node the detector keeps a ring of the last `window` inter-arrival times (u32
//! microseconds, so at most 1 KiB a node) with integer running sums, and a *pause memory*:
//! the largest excess of an inter-arrival time over the mean seen in the current and the
//! previous epoch of `pause_memory` heartbeats.
//!
//! With `mean` and `sigma = max(std_dev, min_std_dev)` from the window and `y(phi)` the
//! point where Akka's logistic approximation of the normal tail reaches `phi`:
//!
//! * **suspect** when `elapsed >= mean + acceptable_pause + y(suspect_threshold) * sigma`:
//!   what a plain phi accrual detector with a fixed acceptable pause would call
//!   unreachable. Suspect is a warning, not a conviction: nothing should be rebuilt for it.
//! * **dead** when `elapsed >= mean + allowance + y(threshold) * sigma`, where `allowance`
//!   is the larger of `acceptable_pause` and the node's own largest recent pause (plus
//!   `pause_margin`; and, until the node has sent `warmup_heartbeats`, at least
//!   `initial_pause_allowance`); or, whatever the statistics say, when
//!   `elapsed >= hard_timeout`.
//!
//! This is phi accrual where the acceptable pause is learned per node: a node whose
//! garbage collector pauses for 4 s is given 4 s, a node that never pauses is convicted
//! about 1.5 s after its last heartbeat. A fleet-wide fixed pause must cover the worst
//! node, so it is either slow on every node or wrong on the worst ones.
//!
//! **Where learning helps, and where it cannot.** Every arrival-time detector convicts a
//! silent node once its silence passes some per-node bound; they differ only in how the
//! bound is chosen. When nodes pause differently (the usual fleet: heap sizes and loads
//! differ), a learned bound is far better than any fleet-wide one. When every node draws
//! its gaps from one distribution, the best bound is the same for all of them, a fixed
//! timeout is the optimal rule, and a learned bound can only match it (or, early in a
//! node's life, when few pauses have been seen, do somewhat worse). The health benchmark
//! prints both fleets, each row beside a timeout tuned to the same detection time.
//!
//! **What counts as a false suspicion.** A *false suspicion* (a *mistake*) is a node
//! declared [`NodeState::Dead`] while it was in fact alive. Entering
//! [`NodeState::Suspect`] while alive is counted separately (as a suspect entry) and is
//! not a mistake, because hosts are expected to act only on `Dead`.
//!
//! # Flapping
//!
//! A dead node that heartbeats again stays dead until it has sent a run of
//! `recovery_heartbeats` regular heartbeats (each within its suspect bound); every death
//! within `flap_window` of the previous one doubles the run (up to 16 times).
//!
//! # The host's own stalls
//!
//! The detector measures time between its own calls. When two calls (of any kind) are
//! more than `stall_limit` apart (default 5 s, as Cassandra does), the whole gap is a
//! stall of the host and is excluded from every node's elapsed time; a gap between
//! `max_tick_interval` and `stall_limit` has the part beyond `max_tick_interval` excluded.
//! [`FailureDetector::next_deadline`] never lies more than half of `max_tick_interval`
//! after the last call, so a host that ticks when it says is never taken for stalled. A
//! node that really crashed during a stall is detected that much later.
//!
//! # Time, duplicates, unknown nodes
//!
//! A `now` older than the last one seen is treated as the last one seen. A heartbeat at
//! the same (virtual) instant as the node's previous one is a counted no-op
//! ([`DetectorStats::duplicates`]); an interval shorter than `min_interval` refreshes the
//! node but is kept out of the statistics, so a burst of delayed heartbeats cannot make
//! the detector hair-triggered. A heartbeat from an unknown node is
//! [`HealthError::UnknownNode`] and changes nothing (not even the clock).
//!
//! # Cost
//!
//! `heartbeat` is O(1) with no allocation: a lookup in an open-addressing id index
//! (usually one cache line), an update of the node's 64-byte hot record, one write into
//! its window ring, and a few integer operations; when an interval enters the window, the
//! window's mean and deviation are recomputed (two f64 divisions and a square root on the
//! exact integer sums) and cached. The suspect and dead offsets are derived from the cache
//! when needed. So at 10k nodes a heartbeat touches three cache lines (index, record,
//! window), which together stay within a 2 MiB L2.
//!
//! Timers live in a binary heap of `(deadline, slot, generation)` with lazy invalidation:
//! a heartbeat only moves a node's deadline later, which needs no heap operation; the
//! stale entry is re-armed when it pops. `tick` with nothing due is the clock update and
//! one comparison with the heap's top (about 60 instructions, whatever the node count).
//!
//! Memory per node: its window (4 bytes an entry, plus one 64-byte line of padding when
//! the window is an even number of lines, so that rings advancing in step do not crowd a
//! few cache sets: 576 B by default, at most 1088 B), the hot record (64 B), the cold rest
//! (48 B), its index bucket (16 B, at most 3/4 of buckets used) and up to two heap entries
//! (16 B each): about 0.8 KiB by default, 1.35 KiB at the largest window.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::HealthError;
use crate::idindex::IdIndex;
use crate::time::{Time, NANOS_PER_MILLI, NANOS_PER_SEC};

/// The largest window a node may keep (1 KiB of u32 microseconds).
pub const MAX_WINDOW: u32 = 256;
/// Inter-arrival times are clamped to this many microseconds (60 s) before entering the
/// window, so that the integer sums cannot overflow.
const MAX_INTERVAL_US: u64 = 60_000_000;
const NEVER: u64 = u64::MAX;

/// Configuration of a [`FailureDetector`]. Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Most nodes tracked at once (`add_node` beyond it fails).
    pub capacity: usize,
    /// Inter-arrival times kept per node, 2 to 256.
    pub window: u32,
    /// The heartbeat interval assumed before a node has sent two heartbeats.
    pub expected_interval_ns: u64,
    /// Lower bound of the standard deviation used (keeps a too-regular node from being
    /// convicted on the first late heartbeat).
    pub min_std_dev_ns: u64,
    /// Phi level at which a node is declared dead (Akka's threshold; 8 by default).
    pub threshold: f64,
    /// Phi level at which a node becomes suspect, computed with `acceptable_pause` only.
    pub suspect_threshold: f64,
    /// The pause always tolerated, and the floor of the learned allowance. A node that
    /// heartbeats at least this often is never suspected nor declared dead.
    pub acceptable_pause_ns: u64,
    /// The allowance used (at least) until a node has sent `warmup_heartbeats`.
    pub initial_pause_allowance_ns: u64,
    /// Heartbeats a node must have sent before its learned allowance may fall below
    /// `initial_pause_allowance`.
    pub warmup_heartbeats: u32,
    /// Whether the allowance is learned from each node's pauses (otherwise it is
    /// `acceptable_pause` and the detector is Akka's).
    pub learn_pauses: bool,
    /// Heartbeats per pause epoch; a pause is remembered for one to two epochs.
    pub pause_memory: u32,
    /// Extra allowance over the largest remembered pause, in thousandths of it.
    pub pause_headroom_permille: u32,
    /// Extra allowance over the largest remembered pause, nanoseconds.
    pub pause_margin_ns: u64,
    /// Death is declared after this long without a heartbeat, whatever the statistics say.
    pub hard_timeout_ns: u64,
    /// Inter-arrival times shorter than this refresh the node but do not enter its window.
    pub min_interval_ns: u64,
    /// Regular heartbeats a dead node must send before it is alive again.
    pub recovery_heartbeats: u32,
    /// A death within this long of the previous one doubles the recovery run.
    pub flap_window_ns: u64,
    /// The longest gap between calls that is not (partly) taken as a stall of the host.
    pub max_tick_interval_ns: u64,
    /// A gap between calls longer than this is a stall of the host, excluded entirely.
    pub stall_limit_ns: u64,
    /// Events kept until polled; further events are dropped and counted.
    pub event_capacity: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            capacity: 65_536,
            window: 128,
            expected_interval_ns: NANOS_PER_SEC,
            min_std_dev_ns: 100 * NANOS_PER_MILLI,
            threshold: 8.0,
            suspect_threshold: 8.0,
            acceptable_pause_ns: NANOS_PER_SEC,
            initial_pause_allowance_ns: 4 * NANOS_PER_SEC,
            warmup_heartbeats: 3600,
            learn_pauses: true,
            pause_memory: 16_384,
            pause_headroom_permille: 0,
            pause_margin_ns: 0,
            hard_timeout_ns: 10 * NANOS_PER_SEC,
            min_interval_ns: 50 * NANOS_PER_MILLI,
            recovery_heartbeats: 3,
            flap_window_ns: 600 * NANOS_PER_SEC,
            max_tick_interval_ns: NANOS_PER_SEC,
            stall_limit_ns: 5 * NANOS_PER_SEC,
            event_capacity: 4096,
        }
    }
}

impl DetectorConfig {
    /// Akka's phi accrual detector with its defaults (threshold 8, min std-dev 100 ms,
    /// acceptable pause 3 s, no learning), with this crate's hard timeout and stall rule.
    pub fn akka() -> Self {
        DetectorConfig {
            acceptable_pause_ns: 3 * NANOS_PER_SEC,
            initial_pause_allowance_ns: 0,
            learn_pauses: false,
            ..DetectorConfig::default()
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), HealthError> {
        let bad = |m: &str| Err(HealthError::InvalidConfig(m.to_string()));
        if self.capacity == 0 || self.capacity > u32::MAX as usize / 2 {
            return bad("capacity must be in 1..=2^31-1");
        }
        if !(2..=MAX_WINDOW).contains(&self.window) {
            return bad("window must be in 2..=256");
        }
        if self.expected_interval_ns == 0 || self.expected_interval_ns > MAX_INTERVAL_US * 1000 {
            return bad("expected_interval_ns must be in 1 ns..=60 s");
        }
        if self.min_std_dev_ns == 0 || self.min_std_dev_ns > MAX_INTERVAL_US * 1000 {
            return bad("min_std_dev_ns must be in 1 ns..=60 s");
        }
        for (name, t) in [("threshold", self.threshold), ("suspect_threshold", self.suspect_threshold)] {
            if !t.is_finite() || !(0.01..=100.0).contains(&t) {
                return Err(HealthError::InvalidConfig(format!("{name} must be a finite number in 0.01..=100")));
            }
        }
        if self.acceptable_pause_ns > 3600 * NANOS_PER_SEC || self.initial_pause_allowance_ns > 3600 * NANOS_PER_SEC {
            return bad("acceptable_pause_ns and initial_pause_allowance_ns must be at most one hour");
        }
        if self.pause_memory == 0 {
            return bad("pause_memory must be at least 1");
        }
        if self.pause_margin_ns > 3600 * NANOS_PER_SEC {
            return bad("pause_margin_ns must be at most one hour");
        }
        if self.pause_headroom_permille > 10_000 {
            return bad("pause_headroom_permille must be at most 10000");
        }
        if self.hard_timeout_ns <= self.acceptable_pause_ns {
            return bad("hard_timeout_ns must exceed acceptable_pause_ns");
        }
        if self.hard_timeout_ns > 24 * 3600 * NANOS_PER_SEC {
            return bad("hard_timeout_ns must be at most one day");
        }
        if self.recovery_heartbeats == 0 || self.recovery_heartbeats > 1_000_000 {
            return bad("recovery_heartbeats must be in 1..=1000000");
        }
        if self.max_tick_interval_ns < 2 || self.max_tick_interval_ns > self.stall_limit_ns {
            return bad("max_tick_interval_ns must be at least 2 ns and at most stall_limit_ns");
        }
        if self.event_capacity == 0 || self.event_capacity > 1 << 24 {
            return bad("event_capacity must be in 1..=2^24");
        }
        Ok(())
    }
}

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Heartbeats arrive as expected.
    Alive,
    /// Late by the plain phi rule, not yet beyond its own pause history: a warning.
    Suspect,
    /// Declared dead (a conviction). Stays so until a run of regular heartbeats.
    Dead,
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeEventKind {
    /// Alive → Suspect.
    Suspected,
    /// Suspect → Alive: a heartbeat arrived before conviction.
    Cleared,
    /// Alive or Suspect → Dead: the host should treat the node as down.
    Dead,
    /// Dead → Alive after the recovery run.
    Recovered,
}

/// A state transition of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeEvent {
    /// The node's id.
    pub node: u64,
    /// The transition.
    pub kind: NodeEventKind,
    /// The `now` of the call that made the decision.
    pub at: Time,
}

/// Counters, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectorStats {
    /// Nodes tracked.
    pub nodes: usize,
    /// Heartbeats accepted (duplicates included).
    pub heartbeats: u64,
    /// Heartbeats ignored because they came at the same instant as the previous one.
    pub duplicates: u64,
    /// Gaps between calls longer than `stall_limit` (host stalls).
    pub stalls: u64,
    /// Total time excluded as host stall, nanoseconds.
    pub stall_credit_ns: u64,
    /// Alive → Suspect transitions.
    pub suspicions: u64,
    /// Convictions.
    pub deaths: u64,
    /// Dead → Alive transitions.
    pub recoveries: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
}

/// `y` such that Akka's logistic approximation of the normal tail gives `phi`.
fn y_for_phi(phi: f64) -> f64 {
    fn phi_of(y: f64) -> f64 {
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        let p = if y > 0.0 { e / (1.0 + e) } else { 1.0 - 1.0 / (1.0 + e) };
        -p.log10()
    }
    let (mut lo, mut hi) = (-10.0f64, 40.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if phi_of(mid) < phi {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Akka's phi for `elapsed` against `mean` and `sigma` (all in the same unit).
fn akka_phi(elapsed: f64, mean: f64, sigma: f64) -> f64 {
    let y = (elapsed - mean) / sigma;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if elapsed > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

/// The configuration values the hot paths need, copied out so that a node can be updated
/// in place while the detector's other fields are borrowed.
#[derive(Debug, Clone, Copy)]
struct Params {
    expected_us: u64,
    min_std_us: u64,
    floor_us: u64,
    initial_us: u64,
    margin_us: u64,
    headroom_permille: u32,
    learn: bool,
    pause_memory: u32,
    min_interval_ns: u64,
    hard_ns: u64,
    y_dead_milli: i64,
    y_suspect_milli: i64,
}

impl Params {
    fn new(cfg: &DetectorConfig) -> Self {
        Params {
            expected_us: cfg.expected_interval_ns / 1000,
            min_std_us: (cfg.min_std_dev_ns / 1000).max(1),
            floor_us: cfg.acceptable_pause_ns / 1000,
            initial_us: cfg.initial_pause_allowance_ns / 1000,
            margin_us: cfg.pause_margin_ns / 1000,
            headroom_permille: cfg.pause_headroom_permille,
            learn: cfg.learn_pauses,
            pause_memory: cfg.pause_memory,
            min_interval_ns: cfg.min_interval_ns,
            hard_ns: cfg.hard_timeout_ns,
            y_dead_milli: (y_for_phi(cfg.threshold) * 1000.0).round() as i64,
            y_suspect_milli: (y_for_phi(cfg.suspect_threshold) * 1000.0).round() as i64,
        }
    }

    /// Mean and deviation (floored at `min_std_dev`) of the window, microseconds. IEEE
    /// arithmetic on exact integer sums: the same on every platform.
    #[inline(always)]
    fn window_stats(&self, n: &Hot) -> (u64, u64) {
        if n.len < 2 {
            return (self.expected_us, self.min_std_us.max(self.expected_us / 4));
        }
        let len = f64::from(n.len);
        let mean = n.sum as f64 / len;
        let var = (n.sumsq as f64 / len - mean * mean).max(0.0);
        // Both are finite and in 0..=6e7 (the window holds at most 60 s values), where the
        // signed conversion is exact and equal to the unsigned one, and cheaper.
        (mean as i64 as u64, (var.sqrt() as i64 as u64).max(self.min_std_us))
    }

    #[inline(always)]
    fn allowance_us(&self, n: &Hot) -> u64 {
        if !self.learn {
            return self.floor_us;
        }
        let learned = u64::from(n.pause_cur_us.max(n.pause_prev_us));
        let learned = learned
            // Both factors are below 2^32: the product cannot overflow (nor saturate).
            .saturating_add(learned.saturating_mul(u64::from(self.headroom_permille)) / 1000)
            .saturating_add(self.margin_us);
        let a = self.floor_us.max(learned);
        if n.to_warm == 0 {
            a
        } else {
            a.max(self.initial_us)
        }
    }

    /// Recomputes the node's cached mean and deviation (after its window changed).
    #[inline(always)]
    fn refresh(&self, n: &mut Hot) {
        let (mean, sigma) = self.window_stats(n);
        // Both are at most 6e7 (see `window_stats`; the config caps the expected interval
        // and the minimum deviation at 60 s), so they fit a u32 exactly.
        n.mean_us = mean.min(u64::from(u32::MAX)) as u32;
        n.sigma_us = sigma.min(u64::from(u32::MAX)) as u32;
    }

    /// The node's suspect and dead offsets (elapsed time since its last heartbeat at which
    /// it becomes suspect, and dead), nanoseconds: a function of the cached statistics and
    /// the pause memory, so computed when needed rather than stored.
    #[inline(always)]
    fn offsets(&self, n: &Hot) -> (u64, u64) {
        let (mean, sigma) = (i64::from(n.mean_us), i64::from(n.sigma_us));
        // |y| <= 40 000 milli and sigma <= 6e7 us: the product fits an i64 easily.
        let off = |y_sigma: i64, pause_us: u64| -> u64 {
            let v = mean + pause_us.min(1 << 40) as i64 + y_sigma;
            (v.max(0) as u64).saturating_mul(1000)
        };
        let y_dead = self.y_dead_milli * sigma / 1000;
        // The same threshold for both (the default) gives the same term.
        let y_suspect =
            if self.y_suspect_milli == self.y_dead_milli { y_dead } else { self.y_suspect_milli * sigma / 1000 };
        let dead = off(y_dead, self.allowance_us(n)).min(self.hard_ns);
        let suspect = off(y_suspect, self.floor_us).min(dead);
        (suspect, dead)
    }

    /// The virtual time of the node's next relevant deadline.
    #[inline(always)]
    fn due(&self, n: &Hot) -> u64 {
        match n.state {
            NodeState::Alive => n.last_v.saturating_add(self.offsets(n).0),
            NodeState::Suspect => n.last_v.saturating_add(self.offsets(n).1),
            NodeState::Dead => NEVER,
        }
    }
}

/// What a heartbeat reads and writes of a node, in one cache line (61 bytes used). The
/// rest of the node is in [`Cold`] and its window in the detector's window chunks, so that
/// a heartbeat touches the id index, this line and one line of the window. The suspect and
/// dead offsets are not stored: [`Params::offsets`] derives them from this record.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Hot {
    /// Virtual time of the last heartbeat.
    last_v: u64,
    /// Sum of the window's intervals, microseconds (at most 256 * 6e7).
    sum: u64,
    /// Sum of their squares (at most 256 * 3.6e15 < 2^60).
    sumsq: u64,
    /// Virtual deadline of this node's live heap entry, or NEVER.
    scheduled: u64,
    /// The window's mean and deviation (floored), cached: at most 6e7 us.
    mean_us: u32,
    sigma_us: u32,
    /// Largest excess over the mean in the current and the previous pause epoch (an
    /// excess is at most an interval, 6e7 us).
    pause_cur_us: u32,
    pause_prev_us: u32,
    /// Heartbeats in the current pause epoch.
    epoch_count: u32,
    /// Usable heartbeats still needed before the node is warm (0: warm).
    to_warm: u32,
    /// Next ring position to write, and intervals held (both at most 256).
    head: u16,
    len: u16,
    state: NodeState,
}

/// The rest of a node: what only `tick`, a dead node's heartbeat and the queries need.
#[derive(Debug, Clone)]
struct Cold {
    id: u64,
    /// Whether the slot holds a node (freed slots keep their generation).
    live: bool,
    /// Bumped at each heap push and at removal: a heap entry is live only with the
    /// current generation.
    gen: u32,
    run: u32,
    run_ref: bool,
    required_run: u32,
    flaps: u32,
    last_death_v: Option<u64>,
}

// The layout the module docs and the cost rely on.
const _: () = assert!(std::mem::size_of::<Hot>() == 64 && std::mem::align_of::<Hot>() == 64);
const _: () = assert!(std::mem::size_of::<Cold>() <= 48);

/// Where slot `s`'s window lives: the index of its chunk in the detector's `windows`, and
/// its range in that chunk.
#[inline(always)]
fn window_place(s: usize, stride: usize, window: usize) -> (usize, std::ops::Range<usize>) {
    let base = (s & (CHUNK - 1)) * stride;
    (s >> CHUNK_SHIFT, base..base + window)
}

/// Nodes per window chunk. Windows live in chunks of this many nodes, each allocated once
/// (a node's window is `window` u32 at a fixed place), so adding nodes never copies them.
const CHUNK_SHIFT: u32 = 6;
const CHUNK: usize = 1 << CHUNK_SHIFT;

/// A phi accrual failure detector over many nodes, with learned pause allowances, a hard
/// timeout, a suspect state, flapping damping and host-stall immunity (see the module docs
/// for the rule).
///
/// ```
/// use trimtab::health::{DetectorConfig, FailureDetector, NodeEventKind};
/// use trimtab::Time;
/// let mut d = FailureDetector::new(DetectorConfig::default()).unwrap();
/// d.add_node(7, Time::ZERO).unwrap();
/// for s in 1..=20 {
///     d.heartbeat(7, Time::from_secs(s)).unwrap();
///     d.tick(Time::from_secs(s));
/// }
/// // Node 7 crashes; the host ticks when the detector asks it to.
/// while let Some(t) = d.next_deadline() {
///     d.tick(t);
///     if let Some(e) = d.poll_event() {
///         if e.kind == NodeEventKind::Dead {
///             break;
///         }
///     }
/// }
/// assert_eq!(d.node_state(7).unwrap(), trimtab::health::NodeState::Dead);
/// ```
#[derive(Debug, Clone)]
pub struct FailureDetector {
    cfg: DetectorConfig,
    p: Params,
    index: IdIndex,
    /// Per slot: the hot record and the cold rest.
    hot: Vec<Hot>,
    cold: Vec<Cold>,
    /// Slot `s`'s window is `windows[s / CHUNK][(s % CHUNK) * stride..][..window]`.
    windows: Vec<Box<[u32]>>,
    window: usize,
    /// `window`, plus one cache line when the window is an even number of lines: nodes
    /// heartbeat in step, so their rings' current lines would otherwise fall in a
    /// fraction of the cache sets (a 512-byte stride uses one set in eight).
    stride: usize,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    events: VecDeque<NodeEvent>,
    last_call: Option<u64>,
    credit: u64,
    stats: DetectorStats,
}

impl FailureDetector {
    /// A detector with no nodes. Fails with [`HealthError::InvalidConfig`].
    pub fn new(cfg: DetectorConfig) -> Result<Self, HealthError> {
        cfg.validate()?;
        let pre = cfg.capacity.min(1024);
        Ok(FailureDetector {
            p: Params::new(&cfg),
            index: IdIndex::with_capacity(pre),
            hot: Vec::with_capacity(pre),
            cold: Vec::with_capacity(pre),
            windows: Vec::with_capacity(pre.div_ceil(CHUNK)),
            window: cfg.window as usize,
            stride: cfg.window as usize + if cfg.window % 32 == 0 { 16 } else { 0 },
            free: Vec::new(),
            heap: BinaryHeap::with_capacity(pre * 2),
            events: VecDeque::with_capacity(cfg.event_capacity.min(4096)),
            last_call: None,
            credit: 0,
            stats: DetectorStats::default(),
            cfg,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> DetectorStats {
        DetectorStats { nodes: self.index.len(), ..self.stats }
    }

    /// Nodes tracked.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no node is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Starts tracking `node`, alive, as if it had just heartbeated at `now`.
    /// Fails with [`HealthError::DuplicateNode`] or [`HealthError::CapacityExceeded`].
    pub fn add_node(&mut self, node: u64, now: Time) -> Result<(), HealthError> {
        if self.index.contains(node) {
            return Err(HealthError::DuplicateNode(node));
        }
        if self.index.len() >= self.cfg.capacity {
            return Err(HealthError::CapacityExceeded(self.cfg.capacity));
        }
        let vnow = self.advance(now);
        let mut h = Hot {
            last_v: vnow,
            sum: 0,
            sumsq: 0,
            scheduled: NEVER,
            mean_us: 0,
            sigma_us: 0,
            pause_cur_us: 0,
            pause_prev_us: 0,
            epoch_count: 0,
            to_warm: self.cfg.warmup_heartbeats.max(1),
            head: 0,
            len: 0,
            state: NodeState::Alive,
        };
        self.p.refresh(&mut h);
        let c = Cold {
            id: node,
            live: true,
            gen: 0,
            run: 0,
            run_ref: false,
            required_run: self.cfg.recovery_heartbeats,
            flaps: 0,
            last_death_v: None,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                if let (Some(hs), Some(cs)) = (self.hot.get_mut(s as usize), self.cold.get_mut(s as usize)) {
                    *hs = h;
                    // A reused slot keeps its generation: entries of its previous node stay
                    // dead.
                    *cs = Cold { gen: cs.gen, ..c };
                }
                if let Some(w) = self.window_mut(s) {
                    w.fill(0);
                }
                s
            }
            None => {
                let s = self.hot.len();
                if s % CHUNK == 0 {
                    self.windows.push(vec![0u32; CHUNK * self.stride].into_boxed_slice());
                }
                self.hot.push(h);
                self.cold.push(c);
                s as u32
            }
        };
        self.index.insert(node, slot);
        self.reschedule(slot);
        Ok(())
    }

    /// Stops tracking `node`; its pending events stay in the queue.
    /// Fails with [`HealthError::UnknownNode`].
    pub fn remove_node(&mut self, node: u64) -> Result<(), HealthError> {
        let slot = self.index.remove(node).ok_or(HealthError::UnknownNode(node))?;
        if let Some(c) = self.cold.get_mut(slot as usize) {
            c.live = false;
            c.gen = c.gen.wrapping_add(1);
        }
        self.free.push(slot);
        Ok(())
    }

    /// The state of `node`. Changed by `heartbeat`, `tick` and `remove_node`.
    pub fn node_state(&self, node: u64) -> Result<NodeState, HealthError> {
        self.node(node).map(|n| n.state)
    }

    /// The phi level of `node` at `now` against its learned allowance (the value the
    /// conviction threshold is compared with; the hard timeout is not included). Does not
    /// change any state, so a `now` after a host stall is not corrected here.
    pub fn phi(&self, node: u64, now: Time) -> Result<f64, HealthError> {
        let n = self.node(node)?;
        let vnow = now.as_nanos().saturating_sub(self.credit);
        let (mean, sigma) = (n.mean_us, n.sigma_us);
        let elapsed_us = vnow.saturating_sub(n.last_v) as f64 / 1000.0;
        let allowance = self.p.allowance_us(n) as f64;
        Ok(akka_phi(elapsed_us, f64::from(mean) + allowance, f64::from(sigma)))
    }

    /// The largest pause `node` is currently allowed before conviction, nanoseconds.
    pub fn pause_allowance_ns(&self, node: u64) -> Result<u64, HealthError> {
        self.node(node).map(|n| self.p.allowance_us(n).saturating_mul(1000))
    }

    /// Records a heartbeat from `node` at `now`. O(1), no allocation.
    ///
    /// A heartbeat from an unknown node fails with [`HealthError::UnknownNode`] and changes
    /// nothing. A duplicate (same instant as the node's previous heartbeat, including a
    /// `now` that went backwards) is a counted no-op.
    pub fn heartbeat(&mut self, node: u64, now: Time) -> Result<(), HealthError> {
        let slot = self.index.get(node).ok_or(HealthError::UnknownNode(node))?;
        let vnow = self.advance(now);
        self.stats.heartbeats += 1;
        let p = &self.p;
        let s = slot as usize;
        let (chunk, range) = window_place(s, self.stride, self.window);
        let ring = self.windows.get_mut(chunk).and_then(|c| c.get_mut(range));
        let (Some(n), Some(ring)) = (self.hot.get_mut(s), ring) else {
            return Ok(());
        };
        let interval_ns = vnow.saturating_sub(n.last_v);
        if interval_ns == 0 {
            self.stats.duplicates += 1;
            return Ok(());
        }
        n.last_v = vnow;
        let (mean_us, sigma_us) = (u64::from(n.mean_us), u64::from(n.sigma_us));
        let interval_us = (interval_ns / 1000).min(MAX_INTERVAL_US);
        let usable = interval_ns >= p.min_interval_ns;
        let mut event = None;
        match n.state {
            NodeState::Dead => {
                let Some(c) = self.cold.get_mut(s) else { return Ok(()) };
                // The first heartbeat after a death spans the outage: it only sets the
                // reference. Then every regular interval extends the run.
                if c.run_ref && interval_ns <= p.offsets(n).0 {
                    c.run = c.run.saturating_add(1);
                    if usable {
                        push_interval(n, ring, interval_us, mean_us, sigma_us);
                        p.refresh(n);
                    }
                } else {
                    c.run = 0;
                    c.run_ref = true;
                }
                if c.run >= c.required_run {
                    n.state = NodeState::Alive;
                    event = Some(NodeEventKind::Recovered);
                }
            }
            NodeState::Alive | NodeState::Suspect => {
                if usable {
                    if p.learn {
                        // An excess is at most an interval (6e7 us): it fits a u32.
                        let excess = interval_us.saturating_sub(mean_us) as u32;
                        n.pause_cur_us = n.pause_cur_us.max(excess);
                        n.epoch_count += 1;
                        if n.epoch_count >= p.pause_memory {
                            n.pause_prev_us = n.pause_cur_us;
                            n.pause_cur_us = 0;
                            n.epoch_count = 0;
                        }
                        n.to_warm = n.to_warm.saturating_sub(1);
                    }
                    push_interval(n, ring, interval_us, mean_us, sigma_us);
                    p.refresh(n);
                }
                if n.state == NodeState::Suspect {
                    n.state = NodeState::Alive;
                    event = Some(NodeEventKind::Cleared);
                }
            }
        }
        // The statistics depend only on the window, which changes only when an interval
        // is pushed: refreshed there, not here.
        // A heartbeat usually moves the deadline later, which needs no heap operation: the
        // armed entry re-arms itself when it pops. Only an earlier deadline needs a push.
        let due = p.due(n);
        if due != NEVER && (n.scheduled == NEVER || due < n.scheduled) {
            if let Some(c) = self.cold.get_mut(s) {
                c.gen = c.gen.wrapping_add(1);
                n.scheduled = due;
                self.heap.push(Reverse((due, slot, c.gen)));
            }
        }
        if let Some(kind) = event {
            if kind == NodeEventKind::Recovered {
                self.stats.recoveries += 1;
            }
            let at = Time(self.real(vnow));
            self.emit(NodeEvent { node, kind, at });
        }
        Ok(())
    }

    /// Advances time to `now` and convicts or suspects the nodes that are due. Costs what
    /// the due timers cost; with nothing due it is the clock update and one comparison with
    /// the heap's top. A gap since the previous
    /// call longer than `stall_limit` is a host stall and convicts nobody.
    pub fn tick(&mut self, now: Time) {
        let vnow = self.advance(now);
        let real_now = Time(self.real(vnow));
        while let Some(&Reverse((due, slot, gen))) = self.heap.peek() {
            if due > vnow {
                break;
            }
            self.heap.pop();
            let flap_window = self.cfg.flap_window_ns;
            let base_run = self.cfg.recovery_heartbeats;
            let (Some(n), Some(c)) = (self.hot.get_mut(slot as usize), self.cold.get_mut(slot as usize)) else {
                continue;
            };
            if c.gen != gen || !c.live || n.scheduled != due {
                continue;
            }
            n.scheduled = NEVER;
            let node = c.id;
            let elapsed = vnow.saturating_sub(n.last_v);
            let (suspect_off, dead_off) = self.p.offsets(n);
            let mut out: [Option<NodeEventKind>; 2] = [None, None];
            if n.state != NodeState::Dead && elapsed >= dead_off {
                if n.state == NodeState::Alive {
                    out[0] = Some(NodeEventKind::Suspected);
                }
                out[1] = Some(NodeEventKind::Dead);
                n.state = NodeState::Dead;
                c.flaps = match c.last_death_v {
                    Some(prev) if vnow.saturating_sub(prev) <= flap_window => (c.flaps + 1).min(4),
                    _ => 0,
                };
                c.last_death_v = Some(vnow);
                c.required_run = base_run.saturating_mul(1 << c.flaps);
                c.run = 0;
                c.run_ref = false;
            } else if n.state == NodeState::Alive && elapsed >= suspect_off {
                n.state = NodeState::Suspect;
                out[0] = Some(NodeEventKind::Suspected);
            }
            for kind in out.into_iter().flatten() {
                match kind {
                    NodeEventKind::Suspected => self.stats.suspicions += 1,
                    NodeEventKind::Dead => self.stats.deaths += 1,
                    _ => {}
                }
                self.emit(NodeEvent { node, kind, at: real_now });
            }
            self.reschedule(slot);
        }
        self.compact_heap();
    }

    /// When the next `tick` may change something: the earliest node deadline, but never
    /// more than half of `max_tick_interval` after the last call (so that a host that
    /// follows it is never taken for stalled). `None` when no node is tracked. Changed by
    /// every call that takes `now`, and by `add_node`/`remove_node`.
    pub fn next_deadline(&self) -> Option<Time> {
        if self.index.is_empty() {
            return None;
        }
        let cap = self.last_call.unwrap_or(0).saturating_add(self.cfg.max_tick_interval_ns / 2);
        let due = self.heap.peek().map(|Reverse((d, _, _))| self.real(*d)).unwrap_or(NEVER);
        Some(Time(due.min(cap)))
    }

    /// The next event, oldest first; `None` once drained. Filled by `heartbeat` (Cleared,
    /// Recovered) and `tick` (Suspected, Dead).
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    /// Events dropped because the queue was full (also in [`DetectorStats`]).
    pub fn events_dropped(&self) -> u64 {
        self.stats.events_dropped
    }

    /// Ids of the tracked nodes, sorted.
    pub fn nodes(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.index.ids().collect();
        v.sort_unstable();
        v
    }

    fn node(&self, node: u64) -> Result<&Hot, HealthError> {
        let slot = self.index.get(node).ok_or(HealthError::UnknownNode(node))? as usize;
        match (self.hot.get(slot), self.cold.get(slot)) {
            (Some(n), Some(c)) if c.live => Ok(n),
            _ => Err(HealthError::UnknownNode(node)),
        }
    }

    /// Slot `slot`'s window.
    fn window_mut(&mut self, slot: u32) -> Option<&mut [u32]> {
        let (chunk, range) = window_place(slot as usize, self.stride, self.window);
        self.windows.get_mut(chunk)?.get_mut(range)
    }

    fn window(&self, slot: usize) -> Option<&[u32]> {
        let (chunk, range) = window_place(slot, self.stride, self.window);
        self.windows.get(chunk)?.get(range)
    }

    fn real(&self, v: u64) -> u64 {
        if v == NEVER {
            NEVER
        } else {
            v.saturating_add(self.credit)
        }
    }

    /// Moves the clock to `now` (never backwards), crediting host stalls; returns the
    /// virtual time.
    #[inline(always)]
    fn advance(&mut self, now: Time) -> u64 {
        let mut now = now.as_nanos();
        if let Some(last) = self.last_call {
            now = now.max(last);
            let gap = now - last;
            if gap > self.cfg.stall_limit_ns {
                self.credit = self.credit.saturating_add(gap);
                self.stats.stalls += 1;
                self.stats.stall_credit_ns = self.stats.stall_credit_ns.saturating_add(gap);
            } else if gap > self.cfg.max_tick_interval_ns {
                let c = gap - self.cfg.max_tick_interval_ns;
                self.credit = self.credit.saturating_add(c);
                self.stats.stall_credit_ns = self.stats.stall_credit_ns.saturating_add(c);
            }
        }
        self.last_call = Some(now);
        now.saturating_sub(self.credit)
    }

    /// Makes sure the node's earliest relevant deadline has a heap entry no later than it.
    fn reschedule(&mut self, slot: u32) {
        let (Some(n), Some(c)) = (self.hot.get_mut(slot as usize), self.cold.get_mut(slot as usize)) else {
            return;
        };
        if !c.live {
            return;
        }
        let due = self.p.due(n);
        if due == NEVER || due >= n.scheduled && n.scheduled != NEVER {
            // An entry at or before `due` exists: it re-arms itself when it pops.
            return;
        }
        c.gen = c.gen.wrapping_add(1);
        n.scheduled = due;
        self.heap.push(Reverse((due, slot, c.gen)));
    }

    fn compact_heap(&mut self) {
        if self.heap.len() > 2 * self.index.len() + 64 {
            let (hot, cold) = (&self.hot, &self.cold);
            self.heap.retain(|Reverse((d, slot, gen))| {
                let s = *slot as usize;
                cold.get(s).is_some_and(|c| c.gen == *gen && c.live) && hot.get(s).is_some_and(|n| n.scheduled == *d)
            });
        }
    }

    fn emit(&mut self, e: NodeEvent) {
        if self.events.len() >= self.cfg.event_capacity {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// Checks the internal invariants (used by tests and the fuzz target): every live node
    /// is indexed, window sums match their contents, every non-dead node has a heap entry
    /// no later than its deadline, and the event queue respects its capacity.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.events.len() > self.cfg.event_capacity {
            return Err("event queue over capacity".into());
        }
        if self.hot.len() != self.cold.len() || self.windows.len() != self.hot.len().div_ceil(CHUNK) {
            return Err("slot arrays disagree".into());
        }
        let mut live = 0;
        for (i, (n, c)) in self.hot.iter().zip(&self.cold).enumerate() {
            if !c.live {
                continue;
            }
            live += 1;
            if self.index.get(c.id) != Some(i as u32) {
                return Err(format!("node {} not indexed at slot {i}", c.id));
            }
            let Some(window) = self.window(i) else {
                return Err(format!("node {} has no window", c.id));
            };
            let w = window.len();
            if usize::from(n.head) >= w || usize::from(n.len) > w {
                return Err(format!("node {}: ring position out of range", c.id));
            }
            let mut sum = 0u64;
            let mut sumsq = 0u64;
            for k in 0..n.len as usize {
                let idx = (n.head as usize + w - 1 - k) % w;
                let v = u64::from(window[idx]);
                sum += v;
                sumsq += v * v;
            }
            if sum != n.sum || sumsq != n.sumsq {
                return Err(format!("node {}: window sums drifted", c.id));
            }
            if (u64::from(n.mean_us), u64::from(n.sigma_us)) != self.p.window_stats(n) {
                return Err(format!("node {}: cached statistics stale", c.id));
            }
            let (suspect_off, dead_off) = self.p.offsets(n);
            if n.state != NodeState::Dead {
                if n.scheduled == NEVER {
                    return Err(format!("node {} has no timer", c.id));
                }
                let due = match n.state {
                    NodeState::Alive => n.last_v.saturating_add(suspect_off),
                    _ => n.last_v.saturating_add(dead_off),
                };
                if n.scheduled > due {
                    return Err(format!("node {} timer later than its deadline", c.id));
                }
            }
            if suspect_off > dead_off || dead_off > self.cfg.hard_timeout_ns {
                return Err(format!("node {} offsets out of order", c.id));
            }
        }
        if live != self.index.len() {
            return Err("index and slots disagree".into());
        }
        Ok(())
    }
}

/// Pushes one inter-arrival time into the node's window `ring`, keeping integer
/// sums exact. A pause is clamped to `mean + 4 sigma`: it is remembered by the pause
/// memory, and would otherwise inflate the deviation for a whole window. A real change of
/// heartbeat rate still moves the mean, by up to four deviations a heartbeat.
#[inline(always)]
fn push_interval(n: &mut Hot, ring: &mut [u32], interval_us: u64, mean_us: u64, sigma_us: u64) {
    let w = ring.len();
    let cap = mean_us.saturating_add(sigma_us.saturating_mul(4)).min(MAX_INTERVAL_US);
    let v = interval_us.min(cap) as u32;
    // `head < w` always (it wraps below), so no division is needed.
    let head = usize::from(n.head);
    let Some(cell) = ring.get_mut(head) else { return };
    if usize::from(n.len) == w {
        let old = u64::from(*cell);
        n.sum -= old;
        n.sumsq -= old * old;
    } else {
        n.len += 1;
    }
    *cell = v;
    n.sum += u64::from(v);
    n.sumsq += u64::from(v) * u64::from(v);
    n.head = if head + 1 == w { 0 } else { n.head + 1 };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Time {
        Time((s * 1e9) as u64)
    }

    #[test]
    fn y_for_phi_matches_akka() {
        let y = y_for_phi(8.0);
        assert!((akka_phi(y, 0.0, 1.0) - 8.0).abs() < 1e-6, "y={y}");
        assert!(y > 5.0 && y < 5.5);
        assert!(y_for_phi(0.1) < 0.0);
    }

    #[test]
    fn regular_node_is_never_suspected() {
        let mut d = FailureDetector::new(DetectorConfig::default()).unwrap();
        d.add_node(1, Time::ZERO).unwrap();
        for i in 1..5000u64 {
            let t = secs(i as f64 + if i % 2 == 0 { 0.05 } else { -0.05 });
            d.tick(t);
            d.heartbeat(1, t).unwrap();
        }
        assert!(d.poll_event().is_none());
        assert_eq!(d.node_state(1).unwrap(), NodeState::Alive);
        d.check_invariants().unwrap();
    }

    #[test]
    fn crash_is_convicted_then_recovery_needs_a_run() {
        let mut d =
            FailureDetector::new(DetectorConfig { pause_memory: 100, warmup_heartbeats: 100, ..Default::default() })
                .unwrap();
        d.add_node(1, Time::ZERO).unwrap();
        for i in 1..=300u64 {
            d.tick(secs(i as f64));
            d.heartbeat(1, secs(i as f64)).unwrap();
        }
        let mut t = secs(300.0);
        let mut dead_at = None;
        while dead_at.is_none() {
            t = d.next_deadline().unwrap();
            d.tick(t);
            while let Some(e) = d.poll_event() {
                if e.kind == NodeEventKind::Dead {
                    dead_at = Some(e.at);
                }
            }
        }
        let detect = dead_at.unwrap().as_secs_f64() - 300.0;
        assert!(detect > 1.5 && detect < 3.0, "detected after {detect}");
        // Back: the first heartbeat sets the reference, then 3 regular ones.
        let base = t.as_secs_f64() + 10.0;
        for k in 0..4 {
            assert_eq!(d.node_state(1).unwrap(), NodeState::Dead, "k={k}");
            d.heartbeat(1, secs(base + k as f64)).unwrap();
        }
        assert_eq!(d.node_state(1).unwrap(), NodeState::Alive);
        assert_eq!(d.poll_event().unwrap().kind, NodeEventKind::Recovered);
        d.check_invariants().unwrap();
    }

    #[test]
    fn learned_pause_extends_the_deadline() {
        let cfg = DetectorConfig { pause_memory: 50, warmup_heartbeats: 50, ..Default::default() };
        let mut d = FailureDetector::new(cfg).unwrap();
        d.add_node(1, Time::ZERO).unwrap();
        let mut t = 0.0;
        for i in 0..200 {
            let step = if i % 40 == 39 { 4.0 } else { 1.0 };
            // The host ticks when asked (at least every half second).
            let mut k = 0.0;
            while k < step {
                k += 0.5;
                d.tick(secs(t + k));
            }
            t += step;
            d.heartbeat(1, secs(t)).unwrap();
        }
        let allowance = d.pause_allowance_ns(1).unwrap() as f64 / 1e9;
        assert!(allowance > 2.9 && allowance < 3.2, "{allowance}");
        assert!(!std::iter::from_fn(|| d.poll_event()).any(|e| e.kind == NodeEventKind::Dead));
    }

    #[test]
    fn unknown_and_duplicate() {
        let mut d = FailureDetector::new(DetectorConfig::default()).unwrap();
        assert_eq!(d.heartbeat(9, Time::ZERO), Err(HealthError::UnknownNode(9)));
        assert!(d.next_deadline().is_none());
        d.add_node(9, Time::from_secs(1)).unwrap();
        assert_eq!(d.add_node(9, Time::from_secs(1)), Err(HealthError::DuplicateNode(9)));
        d.heartbeat(9, Time::from_secs(2)).unwrap();
        d.heartbeat(9, Time::from_secs(2)).unwrap();
        d.heartbeat(9, Time::from_secs(1)).unwrap();
        assert_eq!(d.stats().duplicates, 2);
        d.check_invariants().unwrap();
        d.remove_node(9).unwrap();
        assert_eq!(d.remove_node(9), Err(HealthError::UnknownNode(9)));
        assert!(DetectorConfig { window: 1, ..Default::default() }.validate().is_err());
        assert!(DetectorConfig { threshold: f64::NAN, ..Default::default() }.validate().is_err());
    }
}
