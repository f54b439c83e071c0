//! Placement: which devices hold each placement group (PG), what moves between two maps,
//! and a balancer that evens out what hashing leaves uneven.
//!
//! What it decides: for a pool of `pg_count` PGs and a [`Rule`] (how many shards, across
//! which failure-domain level, replicated or erasure-coded), the device of every shard of
//! every PG; objects map to PGs with jump consistent hashing. What it leaves to the host:
//! moving the bytes (see the movement plans it returns), and when to apply a new map.
//!
//! How:
//!
//! * A **base mapping** is computed per PG with straw2 over the map (see `select.rs`):
//!   weighted, never two shards in one failure domain, integer-only, deterministic. It is
//!   what a fresh cluster gets.
//! * A running cluster keeps an **effective table**: the base mapping plus exceptions
//!   (overrides), like Ceph's upmap entries. [`Placement::update`] with
//!   [`UpdatePolicy::Pin`] moves only the shards that must move (their device left, went
//!   out, or breaks the rule) and puts each on the most underloaded device that keeps the
//!   rule, preferring the new base device when that one is underloaded. The balancer then
//!   moves shards from the most to the least loaded devices, again preferring moves that
//!   bring a shard back to its base device (which removes the exception). So a host added
//!   to a rack receives its share and almost nothing else moves, instead of CRUSH's ~1.9×
//!   the optimum.
//! * [`UpdatePolicy::Rehash`] instead takes the new base mapping as is, like plain CRUSH.
//!
//! Every lookup after a computation is a table read.

#![forbid(unsafe_code)]

mod balance;
mod load;
pub(crate) mod select;

pub use balance::{BalanceRound, BalancerConfig};
pub use load::CappedDomain;
pub use select::ALGORITHM_VERSION;

use crate::hash::{hash_bytes, jump_consistent_hash, mix64};
use crate::topology::{DeviceId, Topology, NO_DEVICE};
use select::SelectTree;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The most shards one PG may have.
pub const MAX_SHARDS: usize = 32;
/// The most PGs one pool may have.
pub const MAX_PGS: u32 = 1 << 26;
/// The most shards (PGs times shards per PG) one pool may have: 2^27, so that a pool's
/// tables stay within 1 GiB.
pub const MAX_SLOTS: u64 = 1 << 27;
/// The most bytes a pool's shards may add up to (so that every sum stays exact).
pub const MAX_POOL_BYTES: u64 = 1 << 62;

/// Why a placement call was rejected. The placement is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// The rule names a failure-domain level the map does not have.
    #[error("rule: the map has no level `{level}` (its levels are {levels}, or `device`)")]
    UnknownLevel {
        /// The level asked for.
        level: String,
        /// The map's levels.
        levels: String,
    },
    /// The rule is unusable.
    #[error("rule: {0}")]
    InvalidRule(String),
    /// The PG count is 0 or too large.
    #[error("pg count {0} is not in 1..={max} (and at most {slots} shards in all)", max = MAX_PGS, slots = MAX_SLOTS)]
    InvalidPgCount(u64),
    /// A lookup named a PG outside the pool.
    #[error("pg {pg} does not exist (the pool has {pgs})")]
    UnknownPg {
        /// The PG asked for.
        pg: u64,
        /// The pool's PG count.
        pgs: u32,
    },
    /// A caller buffer was too short.
    #[error("buffer too short: {needed} entries needed")]
    BufferTooShort {
        /// Entries needed.
        needed: usize,
    },
    /// Two placements that are not of the same pool were compared.
    #[error("placements differ in {0}; a movement plan needs the same pool")]
    Mismatch(String),
    /// The map given is not the one this placement was computed from.
    #[error("the map is at epoch {topology}, the placement at epoch {placement}; call update first")]
    StaleTopology {
        /// The placement's epoch.
        placement: u64,
        /// The map's epoch.
        topology: u64,
    },
    /// A configuration value or PG size list is unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A placement snapshot could not be restored.
    #[error("placement snapshot rejected: {0}")]
    Snapshot(String),
}

/// Replicated or erasure-coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Copies: the set of devices matters; a missing copy leaves the others in place
    /// (CRUSH's choose_firstn).
    Replicated,
    /// Erasure coding with `data` data shards and `coding` coding shards: positions matter
    /// and never move because another position's device failed (CRUSH's choose_indep).
    Erasure {
        /// Data shards (k).
        data: u8,
        /// Coding shards (m).
        coding: u8,
    },
}

/// How many shards a PG has, across which failure-domain level, and in which mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Shards per PG.
    pub shards: u8,
    /// The level no two shards of a PG may share (`device` for no constraint beyond
    /// distinct devices).
    pub failure_domain: String,
    /// Replicated or erasure-coded.
    pub mode: Mode,
}

impl Rule {
    /// `copies` replicas, no two in one `failure_domain`.
    pub fn replicated(copies: u8, failure_domain: &str) -> Rule {
        Rule { shards: copies, failure_domain: failure_domain.to_string(), mode: Mode::Replicated }
    }
    /// `k + m` erasure-coded shards, no two in one `failure_domain`.
    pub fn erasure(k: u8, m: u8, failure_domain: &str) -> Rule {
        Rule {
            shards: k.saturating_add(m),
            failure_domain: failure_domain.to_string(),
            mode: Mode::Erasure { data: k, coding: m },
        }
    }
    fn indep(&self) -> bool {
        matches!(self.mode, Mode::Erasure { .. })
    }
    fn validate(&self, t: &Topology) -> Result<usize, PlacementError> {
        if self.shards == 0 || self.shards as usize > MAX_SHARDS {
            return Err(PlacementError::InvalidRule(format!(
                "{} shards per PG (1..={MAX_SHARDS} allowed)",
                self.shards
            )));
        }
        if let Mode::Erasure { data, coding } = self.mode {
            if data == 0 || data as usize + coding as usize != self.shards as usize {
                return Err(PlacementError::InvalidRule(format!(
                    "erasure coding {data}+{coding} with {} shards",
                    self.shards
                )));
            }
        }
        t.level_depth(&self.failure_domain).ok_or_else(|| PlacementError::UnknownLevel {
            level: self.failure_domain.clone(),
            levels: t.levels().join(", "),
        })
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.mode {
            Mode::Replicated => write!(f, "{} replicas across {}", self.shards, self.failure_domain),
            Mode::Erasure { data, coding } => write!(f, "EC {data}+{coding} across {}", self.failure_domain),
        }
    }
}

/// How [`Placement::update`] applies a new map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdatePolicy {
    /// As a running cluster should: keep every shard whose device is still usable and
    /// rule-abiding; re-place only the others, each on the most underloaded valid device
    /// (the new base device when it is underloaded). The balancer does the rest.
    #[default]
    Pin,
    /// Take the new base mapping as is, dropping every exception (plain CRUSH behaviour).
    Rehash,
}

/// One shard that changes device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The placement group.
    pub pg: u32,
    /// The shard's position in the PG's row (for erasure coding, the shard index).
    pub shard: u8,
    /// Where the shard was (`NO_DEVICE`: it did not exist, e.g. a degraded PG completed).
    pub from: DeviceId,
    /// Where it goes (`NO_DEVICE`: it is dropped, e.g. no valid device is left).
    pub to: DeviceId,
}

/// The difference between two placements of one pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MovementPlan {
    /// Every shard that changes device, by PG then shard.
    pub moves: Vec<Move>,
    /// Shards that arrive on a device (moves with a destination).
    pub moved_shards: u64,
    /// Shards placed after the change.
    pub total_shards: u64,
    /// `moved_shards / total_shards`.
    pub moved_fraction: f64,
    /// The least any placement could move: the share of weight that changed hands (the
    /// total variation between the two maps' weight distributions).
    pub optimal_fraction: f64,
    /// The epoch of the map before.
    pub from_epoch: u64,
    /// The epoch of the map after.
    pub to_epoch: u64,
}

impl MovementPlan {
    /// `moved_fraction / optimal_fraction` (1.0 when nothing needed to move and nothing did).
    pub fn over_optimal(&self) -> f64 {
        if self.optimal_fraction > 0.0 {
            self.moved_fraction / self.optimal_fraction
        } else if self.moved_shards == 0 {
            1.0
        } else {
            f64::INFINITY
        }
    }
    /// Appends another plan's moves (a later step on the same pool), merging the counts.
    pub fn extend(&mut self, later: &MovementPlan) {
        self.moves.extend_from_slice(&later.moves);
        self.moved_shards += later.moved_shards;
        self.total_shards = later.total_shards;
        self.moved_fraction =
            if self.total_shards == 0 { 0.0 } else { self.moved_shards as f64 / self.total_shards as f64 };
        self.to_epoch = later.to_epoch;
    }
}

/// An exception to the base mapping: shard `shard` of `pg` lives on `device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// The PG.
    pub pg: u32,
    /// The shard position.
    pub shard: u8,
    /// The device that holds it instead of the base device.
    pub device: DeviceId,
}

/// How evenly shards (or bytes) are spread, relative to each device's achievable share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest load over its share.
    pub min_over_mean: f64,
    /// Largest load over its share.
    pub max_over_mean: f64,
    /// Standard deviation of load over share.
    pub stddev_over_mean: f64,
}

/// What a placement looks like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementReport {
    /// Devices that accept data.
    pub devices: usize,
    /// PGs in the pool.
    pub pgs: u32,
    /// Shards per PG.
    pub shards_per_pg: u8,
    /// Shards placed.
    pub placed_shards: u64,
    /// PGs with fewer shards placed than the rule asks.
    pub degraded_pgs: u64,
    /// Shards on devices that no longer accept data (waiting to move).
    pub stray_shards: u64,
    /// Shards that differ from the base mapping (exceptions kept in the map).
    pub overrides: u64,
    /// Spread of shard counts.
    pub shards: Spread,
    /// Spread of bytes, when PG sizes are known.
    pub bytes: Option<Spread>,
    /// Smallest, largest and mean shard count per usable device.
    pub min_shards: u64,
    /// Largest shard count on a usable device.
    pub max_shards: u64,
    /// Mean shard count per usable device.
    pub mean_shards: f64,
    /// Domains whose weight asks for more than one shard per PG: their share is capped.
    pub capped_domains: Vec<CappedDomain>,
}

/// The placement of one pool. See the module docs.
#[derive(Debug, Clone)]
pub struct Placement {
    rule: Rule,
    n: usize,
    pg_count: u32,
    seed: u64,
    epoch: u64,
    domain_depth: usize,
    tree: SelectTree,
    base: Vec<DeviceId>,
    table: Vec<DeviceId>,
    pg_bytes: Option<Vec<u64>>,
}

impl Placement {
    /// Computes the placement of `pg_count` PGs under `rule` on map `t` (seed 0).
    pub fn compute(t: &Topology, rule: &Rule, pg_count: u32) -> Result<Placement, PlacementError> {
        Placement::compute_with_seed(t, rule, pg_count, 0)
    }

    /// As [`Placement::compute`], with a pool seed: pools with different seeds place the
    /// same PG number differently.
    pub fn compute_with_seed(t: &Topology, rule: &Rule, pg_count: u32, seed: u64) -> Result<Placement, PlacementError> {
        let domain_depth = rule.validate(t)?;
        if pg_count == 0 || pg_count > MAX_PGS || pg_count as u64 * rule.shards as u64 > MAX_SLOTS {
            return Err(PlacementError::InvalidPgCount(pg_count as u64));
        }
        let tree = SelectTree::compile(t, domain_depth);
        let n = rule.shards as usize;
        let base = base_table(&tree, seed, pg_count, n, rule.indep());
        Ok(Placement {
            rule: rule.clone(),
            n,
            pg_count,
            seed,
            epoch: t.epoch(),
            domain_depth,
            tree,
            table: base.clone(),
            base,
            pg_bytes: None,
        })
    }

    /// The rule.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }
    /// Number of PGs.
    pub fn pg_count(&self) -> u32 {
        self.pg_count
    }
    /// Shards per PG.
    pub fn shards_per_pg(&self) -> usize {
        self.n
    }
    /// The epoch of the map this placement was computed for.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    /// The pool seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The PG of an object name: jump consistent hash, so growing the PG count moves the
    /// fewest objects.
    #[inline]
    pub fn object_to_pg(&self, name: &[u8]) -> u32 {
        jump_consistent_hash(hash_bytes(self.seed ^ 0x6f62_6a65_6374, name), self.pg_count)
    }

    fn row_range(&self, pg: u32) -> Result<std::ops::Range<usize>, PlacementError> {
        if pg >= self.pg_count {
            return Err(PlacementError::UnknownPg { pg: pg as u64, pgs: self.pg_count });
        }
        let s = pg as usize * self.n;
        Ok(s..s + self.n)
    }

    /// The devices of a PG. Replicated: the devices placed, first is primary, without
    /// holes. Erasure-coded: one entry per position, `NO_DEVICE` where none could be placed.
    #[inline]
    pub fn pg_devices(&self, pg: u32) -> Result<&[DeviceId], PlacementError> {
        let row = &self.table[self.row_range(pg)?];
        if self.rule.indep() {
            Ok(row)
        } else {
            let len = row.iter().position(|&d| d == NO_DEVICE).unwrap_or(row.len());
            Ok(&row[..len])
        }
    }

    /// The whole row of a PG (one entry per position, `NO_DEVICE` for a hole).
    pub fn pg_row(&self, pg: u32) -> Result<&[DeviceId], PlacementError> {
        Ok(&self.table[self.row_range(pg)?])
    }

    /// The base mapping of a PG (what it would be without exceptions).
    pub fn pg_base(&self, pg: u32) -> Result<&[DeviceId], PlacementError> {
        Ok(&self.base[self.row_range(pg)?])
    }

    /// The devices of a PG that are up: replicated, the placed devices that are up in order
    /// (the first is the acting primary); erasure-coded, `NO_DEVICE` at positions whose
    /// device is down, so that positions stay put.
    pub fn pg_up(&self, pg: u32, t: &Topology) -> Result<Vec<DeviceId>, PlacementError> {
        let row = self.pg_devices(pg)?;
        let up = |d: DeviceId| d != NO_DEVICE && t.device(d).is_some_and(|x| x.is_up());
        Ok(if self.rule.indep() {
            row.iter().map(|&d| if up(d) { d } else { NO_DEVICE }).collect()
        } else {
            row.iter().copied().filter(|&d| up(d)).collect()
        })
    }

    /// The exceptions to the base mapping, by PG then shard.
    pub fn overrides(&self) -> Vec<Override> {
        self.table
            .iter()
            .zip(&self.base)
            .enumerate()
            .filter(|(_, (t, b))| t != b)
            .map(|(slot, (&t, _))| Override { pg: (slot / self.n) as u32, shard: (slot % self.n) as u8, device: t })
            .collect()
    }

    /// Sets the size in bytes of every PG (as the host measures them); the balancer and
    /// reports then count bytes too. An erasure-coded shard holds `bytes / k`.
    pub fn set_pg_bytes(&mut self, bytes: Vec<u64>) -> Result<(), PlacementError> {
        if bytes.len() != self.pg_count as usize {
            return Err(PlacementError::InvalidArgument(format!("{} PG sizes for {} PGs", bytes.len(), self.pg_count)));
        }
        let total =
            bytes.iter().try_fold(0u64, |acc, &b| acc.checked_add(b)).and_then(|t| t.checked_mul(self.n as u64));
        if total.is_none_or(|t| t > MAX_POOL_BYTES) {
            return Err(PlacementError::InvalidArgument("the PG sizes add up to more than 2^62 bytes".into()));
        }
        self.pg_bytes = Some(bytes);
        Ok(())
    }

    /// The PG sizes set with [`Placement::set_pg_bytes`].
    pub fn pg_bytes(&self) -> Option<&[u64]> {
        self.pg_bytes.as_deref()
    }

    /// Bytes of one shard of `pg` (0 when sizes are unknown).
    pub fn shard_bytes(&self, pg: u32) -> u64 {
        let Some(b) = self.pg_bytes.as_ref().and_then(|v| v.get(pg as usize)) else { return 0 };
        match self.rule.mode {
            Mode::Replicated => *b,
            Mode::Erasure { data, .. } => b.div_ceil(data.max(1) as u64),
        }
    }

    /// Applies a new map. With [`UpdatePolicy::Pin`] only shards that must move do; with
    /// [`UpdatePolicy::Rehash`] the new base mapping is taken as is. Returns what moved.
    /// On error nothing changes.
    pub fn update(&mut self, t: &Topology, policy: UpdatePolicy) -> Result<MovementPlan, PlacementError> {
        let domain_depth = self.rule.validate(t)?;
        let tree = SelectTree::compile(t, domain_depth);
        let base = base_table(&tree, self.seed, self.pg_count, self.n, self.rule.indep());
        let table = match policy {
            UpdatePolicy::Rehash => base.clone(),
            UpdatePolicy::Pin => balance::repair(self, &tree, &base),
        };
        let plan = diff(self, &self.tree, &self.table, &tree, &table, self.epoch, t.epoch());
        self.tree = tree;
        self.base = base;
        self.table = table;
        self.epoch = t.epoch();
        self.domain_depth = domain_depth;
        Ok(plan)
    }

    /// The net plan of a sequence of moves applied to this placement's table (by the
    /// balancer): each shard from where it first was to where it last went, in (PG, shard)
    /// order; a shard that came back where it started does not move. The map is unchanged,
    /// so the optimum is 0.
    pub fn plan_from_moves(&self, moves: &[Move]) -> MovementPlan {
        let mut net: std::collections::BTreeMap<(u32, u8), (DeviceId, DeviceId)> = std::collections::BTreeMap::new();
        for m in moves {
            net.entry((m.pg, m.shard)).and_modify(|e| e.1 = m.to).or_insert((m.from, m.to));
        }
        let moves: Vec<Move> = net
            .into_iter()
            .filter(|(_, (from, to))| from != to)
            .map(|((pg, shard), (from, to))| Move { pg, shard, from, to })
            .collect();
        let moved_shards = moves.iter().filter(|m| m.to != NO_DEVICE).count() as u64;
        let total_shards = self.table.iter().filter(|&&d| d != NO_DEVICE).count() as u64;
        MovementPlan {
            moves,
            moved_shards,
            total_shards,
            moved_fraction: if total_shards == 0 { 0.0 } else { moved_shards as f64 / total_shards as f64 },
            optimal_fraction: 0.0,
            from_epoch: self.epoch,
            to_epoch: self.epoch,
        }
    }

    /// The plan that takes `self` to `other` (the same pool on a later map).
    pub fn plan_to(&self, other: &Placement) -> Result<MovementPlan, PlacementError> {
        if self.pg_count != other.pg_count {
            return Err(PlacementError::Mismatch(format!("pg count ({} vs {})", self.pg_count, other.pg_count)));
        }
        if self.rule != other.rule {
            return Err(PlacementError::Mismatch("rule".into()));
        }
        Ok(diff(self, &self.tree, &self.table, &other.tree, &other.table, self.epoch, other.epoch))
    }

    /// One bounded round of the balancer (at most `config.max_moves` moves). `t` must be the
    /// map this placement is at (its usage figures feed the full ratio).
    pub fn balance_round(&mut self, t: &Topology, config: &BalancerConfig) -> Result<BalanceRound, PlacementError> {
        config.validate()?;
        if t.epoch() != self.epoch {
            return Err(PlacementError::StaleTopology { placement: self.epoch, topology: t.epoch() });
        }
        Ok(balance::round(self, t, config))
    }

    /// Runs balancer rounds until converged, no move is possible, or `max_rounds` rounds.
    /// Returns all moves as one plan.
    pub fn balance(
        &mut self,
        t: &Topology,
        config: &BalancerConfig,
        max_rounds: usize,
    ) -> Result<MovementPlan, PlacementError> {
        let mut moves = Vec::new();
        for _ in 0..max_rounds {
            let r = self.balance_round(t, config)?;
            let done = r.converged || r.moves.is_empty();
            moves.extend(r.moves);
            if done {
                break;
            }
        }
        Ok(self.plan_from_moves(&moves))
    }

    /// Statistics of the current placement.
    pub fn report(&self) -> PlacementReport {
        balance::report(self)
    }

    /// Bytes of memory held by this placement (tables and the compiled map), for budgets.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + (self.base.capacity() + self.table.capacity()) * 4
            + self.pg_bytes.as_ref().map_or(0, |v| v.capacity() * 8)
            + self.tree.memory_bytes()
    }

    /// Serializes the pool (rule, PG count, seed, epoch, exceptions, PG sizes) as versioned,
    /// checksummed JSON. Restore it with [`Placement::from_snapshot`] over the same map.
    pub fn to_snapshot(&self) -> String {
        let body = PlacementSnapshotBody {
            algorithm: ALGORITHM_VERSION,
            rule: self.rule.clone(),
            pg_count: self.pg_count,
            seed: self.seed,
            epoch: self.epoch,
            overrides: self.overrides(),
            pg_bytes: self.pg_bytes.clone(),
        };
        let body_json = serde_json::to_string(&body).unwrap_or_default();
        let snap = PlacementSnapshot {
            format: PLACEMENT_FORMAT.into(),
            version: 1,
            checksum: format!("{:016x}", hash_bytes(PLACEMENT_SEED, body_json.as_bytes())),
            body,
        };
        serde_json::to_string(&snap).unwrap_or_default()
    }

    /// Restores a placement from [`Placement::to_snapshot`] over the map it was taken at.
    pub fn from_snapshot(text: &str, t: &Topology) -> Result<Placement, PlacementError> {
        let bad = |m: String| PlacementError::Snapshot(m);
        let snap: PlacementSnapshot =
            serde_json::from_str(text).map_err(|e| bad(format!("malformed or truncated: {e}")))?;
        if snap.format != PLACEMENT_FORMAT || snap.version != 1 {
            return Err(bad(format!("unknown format `{}` version {}", snap.format, snap.version)));
        }
        let body_json = serde_json::to_string(&snap.body).map_err(|e| bad(e.to_string()))?;
        if format!("{:016x}", hash_bytes(PLACEMENT_SEED, body_json.as_bytes())) != snap.checksum {
            return Err(bad("checksum mismatch: the snapshot is corrupted".into()));
        }
        let b = snap.body;
        if b.algorithm != ALGORITHM_VERSION {
            return Err(bad(format!(
                "placement algorithm {} (this library implements {ALGORITHM_VERSION})",
                b.algorithm
            )));
        }
        if b.epoch != t.epoch() {
            return Err(PlacementError::StaleTopology { placement: b.epoch, topology: t.epoch() });
        }
        let mut p = Placement::compute_with_seed(t, &b.rule, b.pg_count, b.seed)?;
        for o in &b.overrides {
            let slot = p.row_range(o.pg)?.start + o.shard as usize;
            if o.shard as usize >= p.n || (o.device != NO_DEVICE && p.tree.dense(o.device).is_none()) {
                return Err(bad(format!(
                    "override of pg {} shard {} names an unknown device {}",
                    o.pg, o.shard, o.device
                )));
            }
            p.table[slot] = o.device;
        }
        if let Some(bytes) = b.pg_bytes {
            p.set_pg_bytes(bytes)?;
        }
        Ok(p)
    }
}

const PLACEMENT_FORMAT: &str = "trimtab-placement";
const PLACEMENT_SEED: u64 = 0x706c_6163_656d_656e;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementSnapshot {
    format: String,
    version: u32,
    checksum: String,
    body: PlacementSnapshotBody,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementSnapshotBody {
    algorithm: u32,
    rule: Rule,
    pg_count: u32,
    seed: u64,
    epoch: u64,
    overrides: Vec<Override>,
    pg_bytes: Option<Vec<u64>>,
}

/// The per-PG hash input: pool seed and PG number.
#[inline]
pub(crate) fn pg_seed(seed: u64, pg: u32) -> u64 {
    mix64(seed ^ mix64(pg as u64 ^ 0x7067_0000_0000_0000))
}

/// The base mapping of every PG, as device ids.
fn base_table(tree: &SelectTree, seed: u64, pg_count: u32, n: usize, indep: bool) -> Vec<DeviceId> {
    let mut table = vec![NO_DEVICE; pg_count as usize * n];
    let mut buf = [u32::MAX; MAX_SHARDS];
    for (pg, row) in table.chunks_exact_mut(n).enumerate() {
        tree.select(pg_seed(seed, pg as u32), n, indep, &mut buf[..n]);
        for (o, &d) in row.iter_mut().zip(&buf[..n]) {
            *o = if d == u32::MAX { NO_DEVICE } else { tree.dev_ids[d as usize] };
        }
    }
    table
}

/// Computes one PG's base mapping on the fly (device ids), used by benchmarks and by
/// hosts that want to check a table entry.
pub fn compute_pg(p: &Placement, pg: u32, out: &mut [DeviceId]) -> Result<usize, PlacementError> {
    p.row_range(pg)?;
    if out.len() < p.n {
        return Err(PlacementError::BufferTooShort { needed: p.n });
    }
    let mut buf = [u32::MAX; MAX_SHARDS];
    p.tree.select(pg_seed(p.seed, pg), p.n, p.rule.indep(), &mut buf[..p.n]);
    for (o, &d) in out.iter_mut().zip(&buf[..p.n]) {
        *o = if d == u32::MAX { NO_DEVICE } else { p.tree.dev_ids[d as usize] };
    }
    Ok(p.n)
}

/// The moves between two tables of one pool.
fn diff(
    p: &Placement,
    old_tree: &SelectTree,
    old: &[DeviceId],
    new_tree: &SelectTree,
    new: &[DeviceId],
    from_epoch: u64,
    to_epoch: u64,
) -> MovementPlan {
    let n = p.n;
    let mut moves = Vec::new();
    for (pg, (o, w)) in old.chunks_exact(n).zip(new.chunks_exact(n)).enumerate() {
        let pg = pg as u32;
        if o == w {
            continue;
        }
        if p.rule.indep() {
            for i in 0..n {
                if o[i] != w[i] {
                    moves.push(Move { pg, shard: i as u8, from: o[i], to: w[i] });
                }
            }
        } else {
            // Set semantics: pair each removed device with an added one.
            let removed: Vec<(usize, DeviceId)> =
                o.iter().copied().enumerate().filter(|&(_, d)| d != NO_DEVICE && !w.contains(&d)).collect();
            let added: Vec<(usize, DeviceId)> =
                w.iter().copied().enumerate().filter(|&(_, d)| d != NO_DEVICE && !o.contains(&d)).collect();
            for k in 0..removed.len().max(added.len()) {
                let (pos, from) = removed.get(k).map_or((usize::MAX, NO_DEVICE), |&(i, d)| (i, d));
                let (pos2, to) = added.get(k).map_or((usize::MAX, NO_DEVICE), |&(i, d)| (i, d));
                let shard = if to != NO_DEVICE { pos2 } else { pos };
                moves.push(Move { pg, shard: shard as u8, from, to });
            }
        }
    }
    let moved_shards = moves.iter().filter(|m| m.to != NO_DEVICE).count() as u64;
    let total_shards = new.iter().filter(|&&d| d != NO_DEVICE).count() as u64;
    MovementPlan {
        moves,
        moved_shards,
        total_shards,
        moved_fraction: if total_shards == 0 { 0.0 } else { moved_shards as f64 / total_shards as f64 },
        optimal_fraction: weight_shift(old_tree, new_tree),
        from_epoch,
        to_epoch,
    }
}

/// Total variation distance between the usable-weight distributions of two maps.
fn weight_shift(a: &SelectTree, b: &SelectTree) -> f64 {
    let wa: u128 = (0..a.dev_ids.len()).filter(|&i| a.dev_usable[i]).map(|i| a.dev_weight[i] as u128).sum();
    let wb: u128 = (0..b.dev_ids.len()).filter(|&i| b.dev_usable[i]).map(|i| b.dev_weight[i] as u128).sum();
    if wa == 0 || wb == 0 {
        return if wa == wb { 0.0 } else { 1.0 };
    }
    let share =
        |t: &SelectTree, i: usize, w: u128| if t.dev_usable[i] { t.dev_weight[i] as f64 / w as f64 } else { 0.0 };
    let (mut i, mut j, mut gain) = (0, 0, 0.0f64);
    while i < a.dev_ids.len() || j < b.dev_ids.len() {
        let ida = a.dev_ids.get(i).copied().unwrap_or(u32::MAX);
        let idb = b.dev_ids.get(j).copied().unwrap_or(u32::MAX);
        let (sa, sb) = if ida == idb {
            i += 1;
            j += 1;
            (share(a, i - 1, wa), share(b, j - 1, wb))
        } else if ida < idb {
            i += 1;
            (share(a, i - 1, wa), 0.0)
        } else {
            j += 1;
            (0.0, share(b, j - 1, wb))
        };
        if sb > sa {
            gain += sb - sa;
        }
    }
    gain
}

impl SelectTree {
    pub(crate) fn memory_bytes(&self) -> usize {
        // Per device: id, weight, usable, domain, capacity, used; plus the item table.
        self.dev_ids.capacity() * (4 + 4 + 1 + 4 + 8 + 8) + self.items_len() * 24 + self.buckets_len() * 13
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{regular_cluster, DeviceSpec};

    fn digest(p: &Placement) -> u64 {
        let mut h = 0u64;
        for pg in 0..p.pg_count() {
            for &d in p.pg_row(pg).unwrap() {
                h = mix64(h ^ d as u64);
            }
        }
        h
    }

    #[test]
    fn the_balancer_plan_from_its_moves_equals_the_diff_of_the_tables() {
        let t = regular_cluster(&["rack", "host"], &[4, 4], 4, 4_000_000_000_000).unwrap();
        let mut p = Placement::compute(&t, &Rule::replicated(3, "rack"), 2000).unwrap();
        let before = p.clone();
        let cfg = BalancerConfig { max_moves: 7, ..BalancerConfig::default() };
        let plan = p.balance(&t, &cfg, 1000).unwrap();
        assert!(plan.moved_shards > 0);
        assert_eq!(plan, before.plan_to(&p).unwrap());
    }

    /// Pinned placements: if one of these changes, every deployed cluster would reshuffle.
    /// Such a change must bump ALGORITHM_VERSION (and say so in the release notes).
    #[test]
    fn placement_is_pinned_for_this_algorithm_version() {
        assert_eq!(ALGORITHM_VERSION, 1);
        let t = regular_cluster(&["rack", "host"], &[4, 4], 4, 4_000_000_000_000).unwrap();
        let rep = Placement::compute(&t, &Rule::replicated(3, "rack"), 1000).unwrap();
        let ec = Placement::compute_with_seed(&t, &Rule::erasure(2, 1, "host"), 1000, 42).unwrap();
        let mut weighted = t.clone();
        weighted
            .add_devices(vec![DeviceSpec::new(999, 8_000_000_000_000).at(&[("rack", "rack0"), ("host", "host0-0")])])
            .unwrap();
        let w = Placement::compute(&weighted, &Rule::replicated(3, "rack"), 1000).unwrap();
        assert_eq!(
            [digest(&rep), digest(&ec), digest(&w), rep.object_to_pg(b"pinned") as u64],
            [6382209081364420749, 1724339205031724319, 4814811078838976608, 777]
        );
    }
}
