//! # Partition detection: which side of a network split may serve
//!
//! **What it decides.** From each node's connectivity report (the peers it can reach), the
//! detector decides which nodes may accept writes, which may only serve reads, and which
//! must stop, plus a deterministic leader for every connected component. It sees partial
//! partitions (Alquraan et al., OSDI 2018): pairs inside one component that cannot talk,
//! bridge nodes, rings.
//!
//! **What it leaves to the host.** Sending the probes that produce the reports, carrying out
//! the decisions (fencing writes, electing through its own Raft/Paxos, resyncing nodes after
//! a [`PartitionEvent::Recovered`]), and the clock: time is an argument.
//!
//! ## The model
//!
//! * **Nodes** are registered with [`NodeSpec`]: votes (1 for a voter by default, any
//!   weight, 0 for a non-voter) and a leader priority (higher first, default 0).
//! * **Reports.** [`PartitionDetector::report`] replaces a node's view. A report is valid
//!   for `report_timeout_ns` after it was made; then it expires, and its node has no links
//!   until it reports again.
//! * **Mutual graph.** A link counts only when *both* ends report each other; one-way
//!   reachability is a broken link.
//! * **Components** of the mutual graph. A component has *quorum* when it holds a strict
//!   majority of **all** configured votes, or exactly half when the [`TieBreaker`] names it
//!   (the half holding the tiebreaker node, or the lowest-id voter). Components are
//!   disjoint, so at most one has quorum.
//! * **Leader.** Candidates are a component's voters with a fresh report, ranked by priority
//!   (higher first) then id (lower first). A candidate is *viable* when it and the peers it
//!   mutually reaches have quorum: what Raft needs to commit. The leader is the best viable
//!   candidate, or the best candidate when none is viable.
//! * **Modes**, per component ([`Mode`]):
//!   * `Serving`: the quorum component, with a viable leader (and, when
//!     `require_majority_clique` is set, a fully connected group holding quorum);
//!   * `Degraded`: the quorum component holds a majority only through a ring or chain of
//!     partial links, with no viable leader: it must not accept writes (nobody could commit
//!     them without relaying) but it is the side to repair;
//!   * `ReadOnly`: any other component while some component has quorum;
//!   * `SafeMode`: every component when none has quorum.
//!
//!   A node's mode is its component's mode, except in a `Serving` component, where a node
//!   that does not mutually reach the leader is `ReadOnly` (it cannot follow the leader; a
//!   bridge shape leaves such nodes). So a component that holds a majority only through a
//!   bridge serves only with the nodes that reach its leader, and one held together only by
//!   a ring does not serve at all. At most one component ever has `Serving` nodes.
//! * **Partial partitions.** Inside each component, the pairs that do not mutually reach
//!   each other are counted and the first `max_reported_pairs` (by id) listed, each with a
//!   relay both ends reach (the lowest such id) or none. The largest fully connected group
//!   (maximum clique) is reported; it is exact when the component is fully connected (the
//!   common case, detected in O(k * k / 64)), when a greedy clique meets the colouring
//!   bound (bridges, overlapping majorities), or when the component has at most
//!   `exact_clique_limit` members and branch and bound ends within `clique_step_budget`
//!   steps. Otherwise it is the greedy clique with `max_clique_exact == false` and an upper
//!   bound. See the `clique` module's notes.
//!
//! ## Time, stability and events
//!
//! `report`, `add_node`, `remove_node`, `set_votes` and `set_priority` change the graph;
//! [`PartitionDetector::tick`] expires old reports, recomputes the *observed* picture and
//! publishes it once it has stayed the same for `stability_window_ns`, so that one lost
//! report does not flip the cluster. Queries ([`PartitionDetector::mode`],
//! [`PartitionDetector::picture`], ...) answer from the *published* picture, which changes
//! only inside `tick`. A `now` older than the last one seen is treated as the last one seen.
//! [`PartitionDetector::next_deadline`] says when the next `tick` matters.
//!
//! Publishing queues events ([`PartitionEvent`]), drained by
//! [`PartitionDetector::poll_event`]; only `tick` adds events. The queue holds
//! `event_capacity` events; past that, new events are dropped and counted
//! ([`PartitionDetector::events_dropped`]); the published picture is always complete.
//!
//! ## Cost
//!
//! Nodes sit in dense slots ordered by id, so "lowest id" is "lowest bit". Reports are kept
//! as bitset rows with an incrementally maintained transpose, so a changed report costs
//! O(n / 64 + changed links) and the mutual row of node i is `reach[i] & column[i]`. An
//! unchanged report only refreshes its timestamp. Components come from a bitset search that
//! scans only words still holding unvisited nodes.
//!
//! ```
//! use trimtab::partition::{Mode, NodeSpec, PartitionConfig, PartitionDetector};
//! use trimtab::Time;
//!
//! let cfg = PartitionConfig { stability_window_ns: 0, ..PartitionConfig::default() };
//! let mut d = PartitionDetector::new(cfg).unwrap();
//! for id in 1..=5 {
//!     d.add_node(id, NodeSpec::default()).unwrap();
//! }
//! // {1,2,3} | {4,5}
//! let t = Time::from_secs(1);
//! for (n, peers) in [(1, &[2, 3][..]), (2, &[1, 3]), (3, &[1, 2]), (4, &[5]), (5, &[4])] {
//!     d.report(n, peers, t).unwrap();
//! }
//! d.tick(t);
//! assert_eq!(d.mode(1).unwrap(), Mode::Serving);
//! assert_eq!(d.mode(5).unwrap(), Mode::ReadOnly);
//! assert_eq!(d.leader_of(4).unwrap(), Some(4));
//! ```

#![forbid(unsafe_code)]

mod bits;
mod clique;
mod error;
mod reports;

pub use error::PartitionError;
pub use reports::{parse_reports_json, ReportEntry};

use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A node id chosen by the host.
pub type NodeId = u64;

/// The most nodes a detector accepts (`max_nodes` may not exceed it). The matrices take
/// 3 * n * n / 8 bytes: 6 GiB at this limit, 37 MiB at 10,000 nodes.
pub const MAX_NODES_LIMIT: usize = 1 << 17;

/// Ids below this are looked up through a direct table (4 bytes per id up to the largest
/// registered one); larger ids through a hash map.
const DIRECT_LIMIT: u64 = 1 << 20;

/// How an exact half of the votes is broken. Never by chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TieBreaker {
    /// An exact half never has quorum: both halves go to safe mode.
    None,
    /// The half holding the registered voter with the lowest id wins (Akka's split-brain
    /// resolver breaks even splits by lowest address).
    LowestId,
    /// The half holding this node wins (Elasticsearch's tiebreaker node). When the node is
    /// not registered, exact halves have no quorum.
    Node(NodeId),
}

/// The detector's configuration. `Default` gives the values documented per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionConfig {
    /// How long a report stays valid, in nanoseconds (default 5 s). Must be > 0.
    pub report_timeout_ns: u64,
    /// How long a new picture must hold before it is published (default 2 s; 0 publishes
    /// on the next tick).
    pub stability_window_ns: u64,
    /// How exact halves are broken (default [`TieBreaker::LowestId`]).
    pub tie_breaker: TieBreaker,
    /// When set, the quorum component serves only if its largest fully connected group
    /// found also has quorum (default false: a viable leader is enough, as for Raft).
    pub require_majority_clique: bool,
    /// The most nodes that may be registered (default 65,536; at most [`MAX_NODES_LIMIT`]).
    pub max_nodes: usize,
    /// Capacity of the event queue (default 16,384; > 0).
    pub event_capacity: usize,
    /// How many broken pairs are listed per component (default 1,024; all are counted).
    pub max_reported_pairs: usize,
    /// Components with up to this many members get an exact maximum clique by branch and
    /// bound when the greedy bounds do not meet (default 256).
    pub exact_clique_limit: usize,
    /// Step budget of that branch and bound, per component (default 100,000).
    pub clique_step_budget: u64,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            report_timeout_ns: 5 * crate::time::NANOS_PER_SEC,
            stability_window_ns: 2 * crate::time::NANOS_PER_SEC,
            tie_breaker: TieBreaker::LowestId,
            require_majority_clique: false,
            max_nodes: 65_536,
            event_capacity: 16_384,
            max_reported_pairs: 1_024,
            exact_clique_limit: 256,
            clique_step_budget: 100_000,
        }
    }
}

impl PartitionConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), PartitionError> {
        if self.report_timeout_ns == 0 {
            return Err(PartitionError::InvalidConfig("report_timeout_ns must be > 0"));
        }
        if self.max_nodes == 0 || self.max_nodes > MAX_NODES_LIMIT {
            return Err(PartitionError::InvalidConfig("max_nodes must be in 1..=131072"));
        }
        if self.event_capacity == 0 {
            return Err(PartitionError::InvalidConfig("event_capacity must be > 0"));
        }
        Ok(())
    }
}

/// How a node takes part in quorum and leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Votes (0 = non-voter: never leader, never counted for quorum).
    pub votes: u32,
    /// Leader priority: among viable candidates the highest wins, then the lowest id.
    pub priority: u32,
}

impl Default for NodeSpec {
    /// One vote, priority 0.
    fn default() -> Self {
        NodeSpec { votes: 1, priority: 0 }
    }
}

impl NodeSpec {
    /// A node with `votes` votes and priority 0.
    pub const fn with_votes(votes: u32) -> Self {
        NodeSpec { votes, priority: 0 }
    }
    /// A non-voter.
    pub const fn non_voter() -> Self {
        NodeSpec { votes: 0, priority: 0 }
    }
}

/// What a node or component may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Read-write: in the quorum component and linked to its viable leader.
    Serving,
    /// Reads only: outside the serving side while some component has quorum, or in the
    /// serving component but not linked to its leader.
    ReadOnly,
    /// The quorum component holds a majority only through partial links (a ring or chain),
    /// with no viable leader: no writes; the side to repair.
    Degraded,
    /// No component has quorum: no writes anywhere.
    SafeMode,
}

impl Mode {
    /// A stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Serving => "serving",
            Mode::ReadOnly => "read_only",
            Mode::Degraded => "degraded",
            Mode::SafeMode => "safe_mode",
        }
    }
}

/// Two nodes of one component that do not mutually reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenPair {
    /// The lower id.
    pub a: NodeId,
    /// The higher id.
    pub b: NodeId,
    /// The lowest-id node both mutually reach, if any.
    pub relay: Option<NodeId>,
}

/// One connected component of the mutual graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentView {
    /// The component's id: its lowest member id.
    pub id: NodeId,
    /// Members, ascending.
    pub members: Vec<NodeId>,
    /// Votes held by the members.
    pub votes: u64,
    /// Whether it holds quorum (strict majority, or the tie-broken half).
    pub has_quorum: bool,
    /// The component's mode.
    pub mode: Mode,
    /// Its leader: a voter with a fresh report, see the module docs. None when it has none.
    pub leader: Option<NodeId>,
    /// Whether the leader and the peers it mutually reaches hold quorum.
    pub leader_viable: bool,
    /// Whether every pair of members mutually reach each other.
    pub fully_connected: bool,
    /// How many member pairs do not mutually reach each other.
    pub broken_pairs: u64,
    /// The first `max_reported_pairs` broken pairs, by (a, b).
    pub partial_pairs: Vec<BrokenPair>,
    /// The largest fully connected group found, ascending.
    pub max_clique: Vec<NodeId>,
    /// Whether `max_clique` is proven maximum.
    pub max_clique_exact: bool,
    /// An upper bound on the maximum clique size (= `max_clique.len()` when exact).
    pub max_clique_upper_bound: u64,
}

/// One node's place in a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The node.
    pub id: NodeId,
    /// Index of its component in [`Picture::components`].
    pub component: usize,
    /// Its mode.
    pub mode: Mode,
}

/// A complete decision: components, modes, leaders, partial partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    /// Components, ordered by id (lowest member).
    pub components: Vec<ComponentView>,
    /// Every registered node, ascending by id.
    pub nodes: Vec<NodeView>,
    /// All configured votes.
    pub total_votes: u64,
}

impl Picture {
    /// The node's entry, if it is in this picture.
    pub fn node(&self, id: NodeId) -> Option<&NodeView> {
        self.nodes.binary_search_by_key(&id, |n| n.id).ok().and_then(|i| self.nodes.get(i))
    }
    /// The node's mode, if it is in this picture.
    pub fn mode(&self, id: NodeId) -> Option<Mode> {
        self.node(id).map(|n| n.mode)
    }
    /// The component holding the node.
    pub fn component_of(&self, id: NodeId) -> Option<&ComponentView> {
        self.node(id).and_then(|n| self.components.get(n.component))
    }
    /// The component that has serving nodes, if any (at most one).
    pub fn serving(&self) -> Option<&ComponentView> {
        self.components.iter().find(|c| c.mode == Mode::Serving)
    }
    /// The largest fully connected group over all components (ties: the lowest component id).
    pub fn max_clique(&self) -> &[NodeId] {
        let mut best: &[NodeId] = &[];
        for c in &self.components {
            if c.max_clique.len() > best.len() {
                best = &c.max_clique;
            }
        }
        best
    }
}

/// A node that was on the non-serving side and serves again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredNode {
    /// The node.
    pub node: NodeId,
    /// When it was first published as not serving while some component served.
    pub out_since: Time,
    /// How long it was out, in nanoseconds.
    pub out_for_ns: u64,
}

/// What changed when a new picture was published. Only `tick` queues events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionEvent {
    /// A new picture was published; the events that follow describe it.
    PictureChanged {
        /// Publication counter, from 1.
        epoch: u64,
        /// Number of components.
        components: usize,
        /// The serving component's id, if any.
        serving: Option<NodeId>,
        /// When it was published.
        at: Time,
    },
    /// A node's mode changed (a node not yet in a published picture counts as `SafeMode`).
    ModeChanged {
        /// The node.
        node: NodeId,
        /// Its previous mode.
        from: Mode,
        /// Its new mode.
        to: Mode,
        /// When.
        at: Time,
    },
    /// The leader of a component changed (compared with the component that held the same
    /// lowest member before).
    LeaderChanged {
        /// The component's id.
        component: NodeId,
        /// The previous leader.
        from: Option<NodeId>,
        /// The new leader.
        to: Option<NodeId>,
        /// Whether the new leader is viable.
        viable: bool,
        /// When.
        at: Time,
    },
    /// A component's count of broken pairs changed; 0 means its partial partition healed
    /// (or the component merged into another). Details are in [`PartitionDetector::picture`].
    PartialPartition {
        /// The component's id.
        component: NodeId,
        /// Pairs of members that do not mutually reach each other.
        broken_pairs: u64,
        /// Size of the largest fully connected group found.
        max_clique: u64,
        /// Whether the component's leader is viable.
        leader_viable: bool,
        /// When.
        at: Time,
    },
    /// Nodes that were on the non-serving side while some component served, and are
    /// serving again: the host should resync them.
    Recovered {
        /// The nodes, ascending by id.
        nodes: Vec<RecoveredNode>,
        /// When.
        at: Time,
    },
}

/// A hasher for node ids: the SplitMix64 finalizer (ids are not attacker-chosen keys, and
/// no output depends on the map's iteration order).
#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        crate::hash::mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

#[derive(Debug, Clone)]
struct Rec {
    id: NodeId,
    spec: NodeSpec,
    /// When its current report expires; None when it has no valid report.
    expires: Option<Time>,
}

/// The partition detector. See the module docs for the model.
#[derive(Debug, Clone)]
pub struct PartitionDetector {
    cfg: PartitionConfig,
    now: Time,
    /// Laid-out nodes, ascending by id; the index is the slot.
    recs: Vec<Rec>,
    pending_add: BTreeMap<NodeId, NodeSpec>,
    pending_remove: BTreeSet<NodeId>,
    direct: Vec<u32>,
    far: HashMap<NodeId, u32, BuildHasherDefault<MixHasher>>,
    /// Row stride in words.
    w: usize,
    reach: Vec<u64>,
    reach_t: Vec<u64>,
    mutual: Vec<u64>,
    expiries: BTreeSet<(Time, u32)>,
    total_votes: u64,
    classes: Vec<(u64, Vec<u64>)>,
    tiebreak: Option<usize>,
    custom_priority: bool,
    dirty: bool,
    last_change: Time,
    observed: Picture,
    published: Picture,
    pending_since: Option<Time>,
    epoch: u64,
    out_since: BTreeMap<NodeId, Time>,
    events: VecDeque<PartitionEvent>,
    dropped: u64,
    row_scratch: Vec<u64>,
}

impl PartitionDetector {
    /// A detector with no nodes.
    pub fn new(cfg: PartitionConfig) -> Result<Self, PartitionError> {
        cfg.validate()?;
        Ok(PartitionDetector {
            cfg,
            now: Time::ZERO,
            recs: Vec::new(),
            pending_add: BTreeMap::new(),
            pending_remove: BTreeSet::new(),
            direct: Vec::new(),
            far: HashMap::default(),
            w: 0,
            reach: Vec::new(),
            reach_t: Vec::new(),
            mutual: Vec::new(),
            expiries: BTreeSet::new(),
            total_votes: 0,
            classes: Vec::new(),
            tiebreak: None,
            custom_priority: false,
            dirty: false,
            last_change: Time::ZERO,
            observed: Picture::default(),
            published: Picture::default(),
            pending_since: None,
            epoch: 0,
            out_since: BTreeMap::new(),
            events: VecDeque::new(),
            dropped: 0,
            row_scratch: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PartitionConfig {
        &self.cfg
    }

    /// The latest time seen.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Number of registered nodes.
    pub fn node_count(&self) -> usize {
        self.recs.len() + self.pending_add.len() - self.pending_remove.len()
    }

    fn slot_of(&self, id: NodeId) -> Option<usize> {
        let s = if id < DIRECT_LIMIT {
            self.direct.get(id as usize).copied().unwrap_or(0).checked_sub(1)
        } else {
            self.far.get(&id).copied()
        };
        s.map(|s| s as usize)
    }

    fn is_registered(&self, id: NodeId) -> bool {
        self.pending_add.contains_key(&id) || (self.slot_of(id).is_some() && !self.pending_remove.contains(&id))
    }

    /// Registers a node. Takes effect at the next `report` or `tick`; its links start empty.
    pub fn add_node(&mut self, id: NodeId, spec: NodeSpec) -> Result<(), PartitionError> {
        if self.is_registered(id) {
            return Err(PartitionError::DuplicateNode(id));
        }
        if self.pending_remove.contains(&id) {
            // Removed and re-added before the layout was applied: the relayout drops the old
            // slot (it stays in `pending_remove`) and adds a fresh one, so nothing of its
            // past links survives.
            self.pending_add.insert(id, spec);
            self.dirty = true;
            self.last_change = self.now;
            return Ok(());
        }
        if self.node_count() >= self.cfg.max_nodes {
            return Err(PartitionError::TooManyNodes { limit: self.cfg.max_nodes });
        }
        self.pending_add.insert(id, spec);
        self.dirty = true;
        self.last_change = self.now;
        Ok(())
    }

    /// Unregisters a node; its links and report are dropped at the next `report` or `tick`.
    pub fn remove_node(&mut self, id: NodeId) -> Result<(), PartitionError> {
        if !self.is_registered(id) {
            return Err(PartitionError::UnknownNode(id));
        }
        if self.pending_add.remove(&id).is_none() {
            self.pending_remove.insert(id);
        }
        self.out_since.remove(&id);
        self.dirty = true;
        self.last_change = self.now;
        Ok(())
    }

    /// Changes a node's votes (0 makes it a non-voter).
    pub fn set_votes(&mut self, id: NodeId, votes: u32) -> Result<(), PartitionError> {
        self.spec_mut(id)?.votes = votes;
        self.refresh_votes();
        Ok(())
    }

    /// Changes a node's leader priority (higher wins among viable candidates).
    pub fn set_priority(&mut self, id: NodeId, priority: u32) -> Result<(), PartitionError> {
        self.spec_mut(id)?.priority = priority;
        self.refresh_votes();
        Ok(())
    }

    fn spec_mut(&mut self, id: NodeId) -> Result<&mut NodeSpec, PartitionError> {
        if !self.is_registered(id) {
            return Err(PartitionError::UnknownNode(id));
        }
        self.dirty = true;
        self.last_change = self.now;
        if self.pending_add.contains_key(&id) {
            return self.pending_add.get_mut(&id).ok_or(PartitionError::UnknownNode(id));
        }
        let slot = self.slot_of(id);
        match slot.and_then(|s| self.recs.get_mut(s)) {
            Some(r) => Ok(&mut r.spec),
            None => Err(PartitionError::UnknownNode(id)),
        }
    }

    /// Replaces `node`'s connectivity report: the peers it reaches, at `now`. Listing itself
    /// or a peer twice is harmless; an unregistered node or peer refuses the whole report.
    /// The report is valid until `now + report_timeout_ns`.
    pub fn report(&mut self, node: NodeId, reaches: &[NodeId], now: Time) -> Result<(), PartitionError> {
        // Laying out pending registrations changes no observable state.
        self.ensure_layout();
        let Some(i) = self.slot_of(node) else {
            return Err(PartitionError::UnknownNode(node));
        };
        let mut row = std::mem::take(&mut self.row_scratch);
        row.clear();
        row.resize(self.w, 0);
        for &p in reaches {
            match self.slot_of(p) {
                Some(j) => bits::set(&mut row, j),
                None => {
                    self.row_scratch = row;
                    return Err(PartitionError::UnknownPeer { node, peer: p });
                }
            }
        }
        bits::clear(&mut row, i);
        let now = self.advance(now);
        self.apply_row(i, &row, now);
        self.row_scratch = row;
        let expires = now.add_nanos(self.cfg.report_timeout_ns);
        if let Some(rec) = self.recs.get_mut(i) {
            if let Some(old) = rec.expires.replace(expires) {
                self.expiries.remove(&(old, i as u32));
            } else {
                // A node that had no valid report joins the graph: its freshness is part of
                // the picture (leader candidates) even when its row is unchanged.
                self.dirty = true;
                self.last_change = now;
            }
            self.expiries.insert((expires, i as u32));
        }
        Ok(())
    }

    /// Replaces row `i` of the reach matrix, keeping the transpose and the mutual matrix.
    fn apply_row(&mut self, i: usize, new: &[u64], now: Time) {
        let w = self.w;
        let old = &self.reach[i * w..(i + 1) * w];
        if old == new {
            return;
        }
        for wi in 0..w {
            let mut diff = old[wi] ^ new[wi];
            while diff != 0 {
                let j = wi * 64 + diff.trailing_zeros() as usize;
                diff &= diff - 1;
                if let Some(col) = self.reach_t.get_mut(j * w..(j + 1) * w) {
                    col[i >> 6] ^= 1u64 << (i & 63);
                }
                let mutual = bits::get(&self.reach_t[i * w..(i + 1) * w], j) && bits::get(new, j);
                if let Some(mrow) = self.mutual.get_mut(j * w..(j + 1) * w) {
                    if mutual {
                        bits::set(mrow, i);
                    } else {
                        bits::clear(mrow, i);
                    }
                }
            }
        }
        // The mutual graph (all the picture depends on, with freshness and votes) changes
        // only where a changed bit meets a peer that reaches `i`: a one-way change leaves
        // the picture alone and costs no recomputation.
        let col = &self.reach_t[i * w..(i + 1) * w];
        let mutual_changed = old.iter().zip(new).zip(col).any(|((&o, &n), &c)| (o ^ n) & c != 0);
        self.reach[i * w..(i + 1) * w].copy_from_slice(new);
        for ((m, &r), &c) in self.mutual[i * w..(i + 1) * w].iter_mut().zip(new).zip(col) {
            *m = r & c;
        }
        if mutual_changed {
            self.dirty = true;
            self.last_change = now;
        }
    }

    fn advance(&mut self, now: Time) -> Time {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    /// Applies pending registrations: appends when the new ids are all above the current
    /// ones (O(new nodes), plus a re-stride when the rows are full); otherwise re-lays every
    /// slot in id order (O(links)).
    fn ensure_layout(&mut self) {
        if self.pending_add.is_empty() && self.pending_remove.is_empty() {
            return;
        }
        let append = self.pending_remove.is_empty()
            && match (self.recs.last(), self.pending_add.keys().next()) {
                (Some(last), Some(&first)) => first > last.id,
                _ => true,
            };
        let adds = std::mem::take(&mut self.pending_add);
        let removes = std::mem::take(&mut self.pending_remove);
        if append {
            let n = self.recs.len() + adds.len();
            if n > self.w * 64 {
                self.restride(bits::words(n).max(self.w * 2));
            }
            for (id, spec) in adds {
                let slot = self.recs.len();
                self.recs.push(Rec { id, spec, expires: None });
                self.index(id, slot);
            }
            let w = self.w;
            self.reach.resize(n * w, 0);
            self.reach_t.resize(n * w, 0);
            self.mutual.resize(n * w, 0);
        } else {
            self.relayout(adds, removes);
        }
        self.refresh_votes();
    }

    fn index(&mut self, id: NodeId, slot: usize) {
        if id < DIRECT_LIMIT {
            let i = id as usize;
            if self.direct.len() <= i {
                self.direct.resize(i + 1, 0);
            }
            self.direct[i] = slot as u32 + 1;
        } else {
            self.far.insert(id, slot as u32);
        }
    }

    fn restride(&mut self, new_w: usize) {
        let n = self.recs.len();
        let old_w = self.w;
        for m in [&mut self.reach, &mut self.reach_t, &mut self.mutual] {
            let mut out = vec![0u64; n * new_w];
            for r in 0..n {
                out[r * new_w..r * new_w + old_w].copy_from_slice(&m[r * old_w..(r + 1) * old_w]);
            }
            *m = out;
        }
        self.w = new_w;
    }

    fn relayout(&mut self, adds: BTreeMap<NodeId, NodeSpec>, removes: BTreeSet<NodeId>) {
        let old = std::mem::take(&mut self.recs);
        let old_w = self.w;
        let old_reach = std::mem::take(&mut self.reach);
        // Merge the kept nodes and the added ones by id.
        let mut merged: Vec<(Rec, Option<usize>)> = Vec::with_capacity(old.len() + adds.len());
        let mut kept = old.into_iter().enumerate().filter(|(_, r)| !removes.contains(&r.id)).peekable();
        let mut added = adds.into_iter().peekable();
        loop {
            let take_old = match (kept.peek(), added.peek()) {
                (Some((_, r)), Some((id, _))) => r.id < *id,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_old {
                if let Some((s, r)) = kept.next() {
                    merged.push((r, Some(s)));
                }
            } else if let Some((id, spec)) = added.next() {
                // A node removed and re-added in one batch keeps nothing of its past.
                merged.push((Rec { id, spec, expires: None }, None));
            }
        }
        let n = merged.len();
        let w = bits::words(n).max(1);
        let mut new_of_old = vec![u32::MAX; old_w * 64];
        for (ns, (_, os)) in merged.iter().enumerate() {
            if let Some(os) = os {
                new_of_old[*os] = ns as u32;
            }
        }
        let mut reach = vec![0u64; n * w];
        for (ns, (_, os)) in merged.iter().enumerate() {
            if let Some(os) = *os {
                for j in bits::ones(&old_reach[os * old_w..(os + 1) * old_w], 0) {
                    let nj = new_of_old[j];
                    if nj != u32::MAX {
                        bits::set(&mut reach[ns * w..(ns + 1) * w], nj as usize);
                    }
                }
            }
        }
        self.direct.clear();
        self.far.clear();
        self.expiries.clear();
        self.w = w;
        self.recs = merged.into_iter().map(|(r, _)| r).collect();
        for s in 0..n {
            let (id, exp) = (self.recs[s].id, self.recs[s].expires);
            self.index(id, s);
            if let Some(e) = exp {
                self.expiries.insert((e, s as u32));
            }
        }
        self.reach = reach;
        self.rebuild_mutual();
    }

    /// Rebuilds the transpose and the mutual matrix from the reach rows (blocked 64x64
    /// transpose: O(n^2 / 64)).
    fn rebuild_mutual(&mut self) {
        let n = self.recs.len();
        let w = self.w;
        // Every word of the transpose is written, so the buffers are reused, not zeroed.
        self.reach_t.resize(n * w, 0);
        bits::transpose(&self.reach, &mut self.reach_t, n, w);
        self.mutual.resize(n * w, 0);
        for ((m, &a), &b) in self.mutual.iter_mut().zip(&self.reach).zip(&self.reach_t) {
            *m = a & b;
        }
        self.dirty = true;
    }

    fn refresh_votes(&mut self) {
        let w = self.w;
        let mut by_weight: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        let mut total = 0u64;
        let mut lowest_voter = None;
        let mut custom = false;
        for (s, r) in self.recs.iter().enumerate() {
            if r.spec.priority != 0 {
                custom = true;
            }
            if r.spec.votes == 0 {
                continue;
            }
            lowest_voter.get_or_insert(s);
            total = total.saturating_add(u64::from(r.spec.votes));
            let mask = by_weight.entry(r.spec.votes).or_insert_with(|| vec![0u64; w]);
            bits::set(mask, s);
        }
        self.total_votes = total;
        self.custom_priority = custom;
        self.classes = by_weight.into_iter().map(|(k, v)| (u64::from(k), v)).collect();
        self.tiebreak = match self.cfg.tie_breaker {
            TieBreaker::None => None,
            TieBreaker::LowestId => lowest_voter,
            TieBreaker::Node(id) => self.slot_of(id).filter(|_| !self.pending_add.contains_key(&id)),
        };
        self.dirty = true;
    }

    fn votes_of(&self, s: usize) -> u64 {
        self.recs.get(s).map_or(0, |r| u64::from(r.spec.votes))
    }

    /// Votes of `s` plus those of every peer it mutually reaches.
    fn closed_votes(&self, s: usize) -> u64 {
        let w = self.w;
        let row = &self.mutual[s * w..(s + 1) * w];
        let mut v = self.votes_of(s);
        if self.classes.len() <= 16 {
            for (weight, mask) in &self.classes {
                let c: u64 = row.iter().zip(mask).map(|(a, b)| u64::from((a & b).count_ones())).sum();
                v = v.saturating_add(weight.saturating_mul(c));
            }
        } else {
            for j in bits::ones(row, 0) {
                v = v.saturating_add(self.votes_of(j));
            }
        }
        v
    }

    fn quorum(&self, votes: u64, holds_tiebreaker: bool) -> bool {
        let total = u128::from(self.total_votes);
        let twice = u128::from(votes) * 2;
        votes > 0 && (twice > total || (twice == total && holds_tiebreaker))
    }

    fn fresh(&self, s: usize) -> bool {
        self.recs.get(s).is_some_and(|r| r.expires.is_some())
    }

    /// Expires the reports due at `now`.
    fn expire(&mut self, now: Time) {
        while let Some(&(t, s)) = self.expiries.first() {
            if t > now {
                break;
            }
            self.expiries.pop_first();
            let s = s as usize;
            if let Some(r) = self.recs.get_mut(s) {
                r.expires = None;
            }
            let zero = vec![0u64; self.w];
            self.apply_row(s, &zero, now);
            self.dirty = true;
            self.last_change = now;
        }
    }

    /// Computes the picture from the current graph (no stability window).
    fn analyze(&self) -> Picture {
        let n = self.recs.len();
        let w = self.w;
        let mut unvisited = vec![0u64; w];
        for s in 0..n {
            bits::set(&mut unvisited, s);
        }
        let mut active: Vec<usize> = (0..bits::words(n)).collect();
        let mut comp = vec![0u64; w];
        let mut node_comp = vec![0usize; n];
        let mut comps: Vec<ComponentView> = Vec::new();
        let mut cursor = 0usize;
        let mut stack: Vec<usize> = Vec::new();
        let mut members: Vec<usize> = Vec::new();
        let mut degree: Vec<usize> = Vec::new();
        loop {
            while cursor < w && unvisited[cursor] == 0 {
                cursor += 1;
            }
            if cursor >= w {
                break;
            }
            let start = cursor * 64 + unvisited[cursor].trailing_zeros() as usize;
            bits::clear(&mut unvisited, start);
            bits::set(&mut comp, start);
            let mut max_slot = start;
            stack.push(start);
            while let Some(v) = stack.pop() {
                let row = &self.mutual[v * w..(v + 1) * w];
                let mut emptied = false;
                for &wi in &active {
                    let new = row[wi] & unvisited[wi];
                    if new != 0 {
                        unvisited[wi] &= !new;
                        comp[wi] |= new;
                        emptied |= unvisited[wi] == 0;
                        let mut x = new;
                        while x != 0 {
                            let j = wi * 64 + x.trailing_zeros() as usize;
                            x &= x - 1;
                            max_slot = max_slot.max(j);
                            stack.push(j);
                        }
                    }
                }
                if emptied {
                    active.retain(|&wi| unvisited[wi] != 0);
                }
            }
            let lo = start / 64;
            let hi = max_slot / 64 + 1;
            members.clear();
            members.extend(bits::ones(&comp[lo..hi], lo));
            let index = comps.len();
            for &m in &members {
                node_comp[m] = index;
            }
            comps.push(self.component(&comp, lo, hi, &members, &mut degree));
            for x in &mut comp[lo..hi] {
                *x = 0;
            }
        }

        let quorum_somewhere = comps.iter().any(|c| c.has_quorum);
        for c in &mut comps {
            c.mode = if c.has_quorum {
                let clique_ok = !self.cfg.require_majority_clique || {
                    let v: u64 = c.max_clique.iter().filter_map(|&id| self.slot_of(id)).map(|s| self.votes_of(s)).sum();
                    let tb = self.tiebreak.is_some_and(|t| c.max_clique.binary_search(&self.recs[t].id).is_ok());
                    self.quorum(v, tb)
                };
                if c.leader_viable && clique_ok {
                    Mode::Serving
                } else {
                    Mode::Degraded
                }
            } else if quorum_somewhere {
                Mode::ReadOnly
            } else {
                Mode::SafeMode
            };
        }
        let nodes = (0..n)
            .map(|s| {
                let ci = node_comp[s];
                let c = &comps[ci];
                let mut mode = c.mode;
                if mode == Mode::Serving {
                    let leader = c.leader.and_then(|l| self.slot_of(l));
                    let linked = leader.is_some_and(|l| l == s || bits::get(&self.mutual[l * w..(l + 1) * w], s));
                    if !linked {
                        mode = Mode::ReadOnly;
                    }
                }
                NodeView { id: self.recs[s].id, component: ci, mode }
            })
            .collect();
        Picture { components: comps, nodes, total_votes: self.total_votes }
    }

    /// Analyses one component (`comp` holds its members; words `lo..hi` cover them).
    fn component(
        &self,
        comp: &[u64],
        lo: usize,
        hi: usize,
        members: &[usize],
        degree: &mut Vec<usize>,
    ) -> ComponentView {
        let w = self.w;
        let k = members.len();
        let id_of = |s: usize| self.recs[s].id;
        let votes: u64 = members.iter().map(|&s| self.votes_of(s)).fold(0u64, u64::saturating_add);
        let has_tb = self.tiebreak.is_some_and(|t| bits::get(comp, t));
        let has_quorum = self.quorum(votes, has_tb);
        let row = |s: usize| &self.mutual[s * w + lo..s * w + hi];
        // Whether every member reaches every other. No popcount: in the dense graphs this
        // runs on, almost every word of `comp & !row` is zero, and a portable popcount (no
        // POPCNT in the baseline x86-64 target) would be the expensive part.
        let fully_connected = members.iter().all(|&s| {
            let own = s / 64 - lo;
            row(s).iter().zip(&comp[lo..hi]).enumerate().all(|(wi, (&r, &c))| {
                let x = c & !r;
                x == 0 || (wi == own && x == 1u64 << (s % 64))
            })
        });

        // Leader: voters with a fresh report, by (priority desc, id asc).
        let mut cands: Vec<usize> =
            members.iter().copied().filter(|&s| self.votes_of(s) > 0 && self.fresh(s)).collect();
        if self.custom_priority {
            cands.sort_by(|&a, &b| self.recs[b].spec.priority.cmp(&self.recs[a].spec.priority).then(a.cmp(&b)));
        }
        let mut leader = None;
        let mut leader_viable = false;
        if has_quorum {
            if fully_connected {
                // Every candidate reaches the whole (quorum) component.
                if let Some(&c) = cands.first() {
                    leader = Some(c);
                    leader_viable = true;
                }
            } else {
                for &c in &cands {
                    let tb = self.tiebreak.is_some_and(|t| t == c || bits::get(&self.mutual[c * w..(c + 1) * w], t));
                    if self.quorum(self.closed_votes(c), tb) {
                        leader = Some(c);
                        leader_viable = true;
                        break;
                    }
                }
            }
        }
        if leader.is_none() {
            leader = cands.first().copied();
        }

        let mut view = ComponentView {
            id: id_of(members[0]),
            members: members.iter().map(|&s| id_of(s)).collect(),
            votes,
            has_quorum,
            mode: Mode::SafeMode,
            leader: leader.map(id_of),
            leader_viable,
            fully_connected,
            broken_pairs: 0,
            partial_pairs: Vec::new(),
            max_clique: Vec::new(),
            max_clique_exact: true,
            max_clique_upper_bound: k as u64,
        };
        if fully_connected {
            view.max_clique = view.members.clone();
            return view;
        }

        // One pass per member: the members it does not reach give its degree, and the
        // first `max_reported_pairs` of them (in (a, b) order) are listed with the lowest
        // common neighbour as relay.
        degree.clear();
        let span = hi - lo;
        let mut miss = vec![0u64; span];
        let mut non_links = 0u64;
        for &a in members {
            let ra = row(a);
            let mut count = 0usize;
            for (wi, (m, (&c, &r))) in miss.iter_mut().zip(comp[lo..hi].iter().zip(ra)).enumerate() {
                let mut x = c & !r;
                if lo + wi == a / 64 {
                    x &= !(1u64 << (a % 64));
                }
                *m = x;
                if x != 0 {
                    count += x.count_ones() as usize;
                }
            }
            degree.push(k - 1 - count);
            non_links += count as u64;
            if count == 0 || view.partial_pairs.len() >= self.cfg.max_reported_pairs {
                continue;
            }
            for b in bits::ones(&miss[a / 64 - lo..], a / 64) {
                if b <= a {
                    continue;
                }
                if view.partial_pairs.len() >= self.cfg.max_reported_pairs {
                    break;
                }
                let rb = row(b);
                let relay = ra
                    .iter()
                    .zip(rb)
                    .zip(&comp[lo..hi])
                    .position(|((x, y), c)| x & y & c != 0)
                    .map(|wi| (lo + wi) * 64 + (ra[wi] & rb[wi] & comp[lo + wi]).trailing_zeros() as usize);
                view.partial_pairs.push(BrokenPair { a: id_of(a), b: id_of(b), relay: relay.map(id_of) });
            }
        }
        view.broken_pairs = non_links / 2;

        let c = clique::Component { mutual: &self.mutual, w, comp, members, degree, lo, hi };
        let found = clique::max_clique(&c, self.cfg.exact_clique_limit, self.cfg.clique_step_budget);
        view.max_clique = found.members.iter().map(|&s| id_of(s)).collect();
        view.max_clique_exact = found.exact;
        view.max_clique_upper_bound = found.upper as u64;
        view
    }

    /// Recomputes the observed picture when the graph changed, and updates the pending
    /// publication.
    fn refresh_observed(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let pic = self.analyze();
        if pic != self.observed {
            self.observed = pic;
            self.pending_since = if self.observed == self.published { None } else { Some(self.last_change) };
        }
    }

    /// Advances time: expires old reports, recomputes the observed picture if anything
    /// changed, and publishes it (queuing events) once it has held for the stability window.
    pub fn tick(&mut self, now: Time) {
        let now = self.advance(now);
        self.ensure_layout();
        self.expire(now);
        self.refresh_observed();
        if let Some(since) = self.pending_since {
            if now.nanos_since(since) >= self.cfg.stability_window_ns {
                self.pending_since = None;
                self.publish(now);
            }
        }
    }

    /// The picture computed from the current reports, ignoring the stability window (what
    /// would be published if it held). Recomputed here when the graph changed; does not
    /// expire reports (only `tick` does) nor queue events.
    pub fn observed(&mut self) -> &Picture {
        self.ensure_layout();
        self.refresh_observed();
        &self.observed
    }

    /// Rebuilds the transposed and mutual matrices from the reach rows and recomputes the
    /// observed picture from scratch: the whole pipeline that incremental updates avoid
    /// (used by benchmarks and consistency tests). Publishes nothing.
    pub fn analyze_from_scratch(&mut self) -> &Picture {
        self.ensure_layout();
        self.rebuild_mutual();
        self.refresh_observed();
        &self.observed
    }

    fn push(&mut self, e: PartitionEvent) {
        if self.events.len() >= self.cfg.event_capacity {
            self.dropped = self.dropped.saturating_add(1);
        } else {
            self.events.push_back(e);
        }
    }

    fn publish(&mut self, at: Time) {
        let new = self.observed.clone();
        let old = std::mem::replace(&mut self.published, new);
        self.epoch += 1;
        let serving = self.published.serving().map(|c| c.id);
        let mut out = Vec::new();
        out.push(PartitionEvent::PictureChanged {
            epoch: self.epoch,
            components: self.published.components.len(),
            serving,
            at,
        });
        let new = &self.published;
        for nv in &new.nodes {
            let from = old.mode(nv.id).unwrap_or(Mode::SafeMode);
            if from != nv.mode {
                out.push(PartitionEvent::ModeChanged { node: nv.id, from, to: nv.mode, at });
            }
        }
        for c in &new.components {
            let before = old.component_of(c.id);
            let from = before.and_then(|b| b.leader);
            if from != c.leader {
                out.push(PartitionEvent::LeaderChanged {
                    component: c.id,
                    from,
                    to: c.leader,
                    viable: c.leader_viable,
                    at,
                });
            }
            let broken_before = before.filter(|b| b.id == c.id).map_or(0, |b| b.broken_pairs);
            if broken_before != c.broken_pairs {
                out.push(PartitionEvent::PartialPartition {
                    component: c.id,
                    broken_pairs: c.broken_pairs,
                    max_clique: c.max_clique.len() as u64,
                    leader_viable: c.leader_viable,
                    at,
                });
            }
        }
        for b in &old.components {
            if b.broken_pairs > 0 && !new.components.iter().any(|c| c.id == b.id) {
                out.push(PartitionEvent::PartialPartition {
                    component: b.id,
                    broken_pairs: 0,
                    max_clique: 0,
                    leader_viable: false,
                    at,
                });
            }
        }
        let mut recovered = Vec::new();
        for nv in &new.nodes {
            if nv.mode == Mode::Serving {
                if let Some(since) = self.out_since.remove(&nv.id) {
                    recovered.push(RecoveredNode { node: nv.id, out_since: since, out_for_ns: at.nanos_since(since) });
                }
            } else if serving.is_some() {
                self.out_since.entry(nv.id).or_insert(at);
            }
        }
        if !recovered.is_empty() {
            out.push(PartitionEvent::Recovered { nodes: recovered, at });
        }
        for e in out {
            self.push(e);
        }
    }

    /// The next queued event, oldest first; `None` once drained. Only `tick` queues events.
    pub fn poll_event(&mut self) -> Option<PartitionEvent> {
        self.events.pop_front()
    }

    /// Events dropped because the queue was full (never reset).
    pub fn events_dropped(&self) -> u64 {
        self.dropped
    }

    /// When the next `tick` can change something: now when changes wait to be analysed, else
    /// the earlier of the next report expiry and the end of the stability window of a
    /// pending picture. `None` when nothing is due. Changed by every call that changes
    /// the graph and by `tick`.
    pub fn next_deadline(&self) -> Option<Time> {
        if self.dirty || !self.pending_add.is_empty() || !self.pending_remove.is_empty() {
            return Some(self.now);
        }
        let expiry = self.expiries.first().map(|&(t, _)| t);
        let window = self.pending_since.map(|s| s.add_nanos(self.cfg.stability_window_ns));
        match (expiry, window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The published picture (changes only in `tick`).
    pub fn picture(&self) -> &Picture {
        &self.published
    }

    /// The node's published mode; a registered node not yet in a published picture is in
    /// `SafeMode`.
    pub fn mode(&self, id: NodeId) -> Result<Mode, PartitionError> {
        if !self.is_registered(id) {
            return Err(PartitionError::UnknownNode(id));
        }
        Ok(self.published.mode(id).unwrap_or(Mode::SafeMode))
    }

    /// The published leader of the node's component (None when it has no voter with a fresh
    /// report, or the node is not yet in a published picture).
    pub fn leader_of(&self, id: NodeId) -> Result<Option<NodeId>, PartitionError> {
        if !self.is_registered(id) {
            return Err(PartitionError::UnknownNode(id));
        }
        Ok(self.published.component_of(id).and_then(|c| c.leader))
    }

    /// Number of components in the published picture.
    pub fn component_count(&self) -> usize {
        self.published.components.len()
    }
}

#[cfg(test)]
mod tests;
