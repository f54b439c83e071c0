//! Throttle: how many bytes a migration may send now.
//!
//! Decides, from token buckets refilled from the host's `now`, whether a transfer from node
//! A to node B may send `n` bytes: it draws from A's outbound bucket, B's inbound bucket and
//! the global bucket, **all or nothing**. Transfers larger than a burst are granted in
//! pieces ([`Throttle::acquire_up_to`]) or reserved against the future
//! ([`Throttle::reserve`], which says exactly when they may go). Rates change at runtime and
//! apply at the next check, and a load-following ceiling ([`LoadConfig`]) scales them down
//! when the host reports cpu, memory, io-wait or client latency over their thresholds.
//!
//! Left to the host: measuring load, moving the bytes, and calling with a monotonic `now`
//! (an older `now` is treated as the last one seen).
//!
//! ```
//! use trimtab::throttle::{Limit, Throttle, ThrottleConfig};
//! use trimtab::Time;
//! let mut t = Throttle::new(ThrottleConfig::default(), Time::ZERO).unwrap();
//! let a = t.add_node(1, Limit::new(100 << 20, 10 << 20), Limit::new(100 << 20, 10 << 20), Time::ZERO).unwrap();
//! let b = t.add_node(2, Limit::new(100 << 20, 10 << 20), Limit::new(100 << 20, 10 << 20), Time::ZERO).unwrap();
//! assert!(t.try_acquire(a, b, 4 << 20, Time::ZERO).unwrap());
//! ```

#![forbid(unsafe_code)]

mod bucket;
mod ceiling;

pub use bucket::{Bucket, Limit, MAX_BURST, MAX_RATE};
pub use ceiling::{Ceiling, LoadConfig, LoadMetrics, PPM};

use crate::idindex::IdIndex;
use crate::time::Time;

/// Errors of the throttle. A call that returns one changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThrottleError {
    /// A rate of zero or above [`MAX_RATE`].
    #[error("invalid rate {0} bytes/s (must be 1..={MAX_RATE})")]
    InvalidRate(u64),
    /// A burst of zero or above [`MAX_BURST`].
    #[error("invalid burst {0} bytes (must be 1..={MAX_BURST})")]
    InvalidBurst(u64),
    /// A whole-request check larger than a bucket's burst, which could never pass.
    #[error("request of {bytes} bytes exceeds the burst of {burst} bytes; reserve it or take it in pieces")]
    ExceedsBurst {
        /// Bytes asked for.
        bytes: u64,
        /// The smallest burst on the path.
        burst: u64,
    },
    /// A node id that was never added.
    #[error("unknown node {0}")]
    UnknownNode(u32),
    /// A node id added twice.
    #[error("node {0} already exists")]
    DuplicateNode(u32),
    /// More nodes than the configured capacity.
    #[error("node capacity {0} reached")]
    CapacityExceeded(u32),
    /// A load metric that is NaN, infinite or out of range.
    #[error("invalid load metrics (each load must be a finite fraction in [0, 1])")]
    InvalidLoad,
    /// A load configuration that is NaN, infinite or out of range.
    #[error("invalid load configuration")]
    InvalidLoadConfig,
}

/// A node's dense index in a [`Throttle`], returned by [`Throttle::add_node`]. Hot paths
/// take it instead of the host's node id so that a check is two array reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeRef(pub u32);

/// Configuration of a [`Throttle`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThrottleConfig {
    /// The cluster-wide limit.
    pub global: Limit,
    /// The most nodes (default 65,536).
    pub max_nodes: u32,
    /// The load-following ceiling.
    pub load: LoadConfig,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig { global: Limit::new(MAX_RATE, MAX_BURST), max_nodes: 65_536, load: LoadConfig::default() }
    }
}

#[derive(Debug, Clone)]
struct NodeBuckets {
    id: u32,
    out: Bucket,
    inb: Bucket,
    out_cfg: Limit,
    in_cfg: Limit,
    ceiling: Ceiling,
}

/// Global, per-node outbound and per-node inbound token buckets with all-or-nothing charging.
#[derive(Debug, Clone)]
pub struct Throttle {
    cfg: ThrottleConfig,
    global: Bucket,
    global_ceiling: Ceiling,
    nodes: Vec<NodeBuckets>,
    /// Host ids from [`SMALL_IDS`] up to their dense index.
    index: IdIndex,
    /// Host ids below [`SMALL_IDS`] to their dense index, as a plain array (`u32::MAX` =
    /// absent) grown to the largest such id seen: the scheduler looks up both nodes of
    /// every push, and an array read costs a few instructions where a hash lookup costs
    /// tens.
    small: Vec<u32>,
}

/// Host node ids below this are kept in a direct-indexed array (at most 256 KiB).
const SMALL_IDS: u32 = 1 << 16;

fn scaled(l: Limit, ppm: u32) -> Limit {
    let r = (l.rate as u128 * ppm as u128 / PPM as u128) as u64;
    Limit { rate: r.max(1), burst: l.burst }
}

impl Throttle {
    /// A throttle with only the global bucket, full as of `now`.
    pub fn new(cfg: ThrottleConfig, now: Time) -> Result<Throttle, ThrottleError> {
        cfg.load.validate()?;
        let global = Bucket::new(cfg.global, now)?;
        Ok(Throttle {
            cfg,
            global,
            global_ceiling: Ceiling::default(),
            nodes: Vec::new(),
            index: IdIndex::with_capacity(0),
            small: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ThrottleConfig {
        &self.cfg
    }

    /// Adds node `id` with its outbound and inbound limits (buckets full as of `now`).
    pub fn add_node(&mut self, id: u32, out: Limit, inb: Limit, now: Time) -> Result<NodeRef, ThrottleError> {
        if self.node(id).is_some() {
            return Err(ThrottleError::DuplicateNode(id));
        }
        if self.nodes.len() >= self.cfg.max_nodes as usize {
            return Err(ThrottleError::CapacityExceeded(self.cfg.max_nodes));
        }
        let o = Bucket::new(out, now)?;
        let i = Bucket::new(inb, now)?;
        let r = NodeRef(self.nodes.len() as u32);
        self.nodes.push(NodeBuckets { id, out: o, inb: i, out_cfg: out, in_cfg: inb, ceiling: Ceiling::default() });
        if id < SMALL_IDS {
            if self.small.len() <= id as usize {
                self.small.resize(id as usize + 1, u32::MAX);
            }
            self.small[id as usize] = r.0;
        } else {
            self.index.insert(id as u64, r.0);
        }
        Ok(r)
    }

    /// The dense index of node `id`.
    #[inline]
    pub fn node(&self, id: u32) -> Option<NodeRef> {
        if id < SMALL_IDS {
            return match self.small.get(id as usize) {
                Some(&i) if i != u32::MAX => Some(NodeRef(i)),
                _ => None,
            };
        }
        self.index.get(id as u64).map(NodeRef)
    }

    /// The host id of a dense index.
    pub fn node_id(&self, r: NodeRef) -> Option<u32> {
        self.nodes.get(r.0 as usize).map(|n| n.id)
    }

    /// How many nodes were added.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn pair(&mut self, from: NodeRef, to: NodeRef) -> Result<(usize, usize), ThrottleError> {
        let n = self.nodes.len();
        let (f, t) = (from.0 as usize, to.0 as usize);
        if f >= n {
            return Err(ThrottleError::UnknownNode(from.0));
        }
        if t >= n {
            return Err(ThrottleError::UnknownNode(to.0));
        }
        Ok((f, t))
    }

    /// Bytes that `from → to` could take now: the least of the three balances.
    #[inline]
    pub fn available(&mut self, from: NodeRef, to: NodeRef, now: Time) -> Result<u64, ThrottleError> {
        let (f, t) = self.pair(from, to)?;
        Ok(bucket::whole_bytes(self.least(f, t, now)))
    }

    /// Refills the three buckets of a path and returns the least balance, in nano-bytes.
    #[inline(always)]
    fn least(&mut self, f: usize, t: usize, now: Time) -> i128 {
        self.global.refill(now);
        self.nodes[f].out.refill(now);
        self.nodes[t].inb.refill(now);
        self.global.tokens().min(self.nodes[f].out.tokens()).min(self.nodes[t].inb.tokens())
    }

    /// Takes `as nano-bytes` from the three buckets of a path.
    #[inline(always)]
    fn take(&mut self, f: usize, t: usize, need: i128) {
        self.global.take(need);
        self.nodes[f].out.take(need);
        self.nodes[t].inb.take(need);
    }

    /// Takes `n` bytes from `from`'s outbound, `to`'s inbound and the global bucket if all
    /// three have them; otherwise takes nothing and returns `false`. A request larger than a
    /// burst on the path is [`ThrottleError::ExceedsBurst`] (see [`Throttle::reserve`]).
    #[inline]
    pub fn try_acquire(&mut self, from: NodeRef, to: NodeRef, n: u64, now: Time) -> Result<bool, ThrottleError> {
        let (f, t) = self.pair(from, to)?;
        let need = n as i128 * bucket::NANO;
        if self.least(f, t, now) >= need {
            self.take(f, t, need);
            return Ok(true);
        }
        let min_burst = self.global.burst().min(self.nodes[f].out.burst()).min(self.nodes[t].inb.burst());
        if n > min_burst {
            return Err(ThrottleError::ExceedsBurst { bytes: n, burst: min_burst });
        }
        Ok(false)
    }

    /// Takes as many bytes as all three buckets have, at most `max`, and returns how many
    /// (the "granted in pieces" path for transfers larger than a burst).
    #[inline]
    pub fn acquire_up_to(&mut self, from: NodeRef, to: NodeRef, max: u64, now: Time) -> Result<u64, ThrottleError> {
        let (f, t) = self.pair(from, to)?;
        let g = bucket::whole_bytes(self.least(f, t, now)).min(max);
        if g > 0 {
            self.take(f, t, g as i128 * bucket::NANO);
        }
        Ok(g)
    }

    /// Charges `n` bytes to all three buckets unconditionally and returns when they may go:
    /// the latest of the three buckets' times, each exactly `(n − balance) / rate` after
    /// `now`. Requests after it wait behind it, so none starves.
    pub fn reserve(&mut self, from: NodeRef, to: NodeRef, n: u64, now: Time) -> Result<Time, ThrottleError> {
        let (f, t) = self.pair(from, to)?;
        let a = self.global.reserve(n, now);
        let b = self.nodes[f].out.reserve(n, now);
        let c = self.nodes[t].inb.reserve(n, now);
        Ok(a.max(b).max(c))
    }

    /// The earliest time at which `n` bytes (capped at each burst) could pass, assuming no
    /// other charge; `now` when they can already.
    pub fn ready_at(&mut self, from: NodeRef, to: NodeRef, n: u64, now: Time) -> Result<Time, ThrottleError> {
        let (f, t) = self.pair(from, to)?;
        let a = self.global.ready_at(n, now);
        let b = self.nodes[f].out.ready_at(n, now);
        let c = self.nodes[t].inb.ready_at(n, now);
        Ok(a.max(b).max(c))
    }

    /// Gives back bytes that were taken but not sent (a cancelled or failed transfer).
    pub fn refund(&mut self, from: NodeRef, to: NodeRef, n: u64) -> Result<(), ThrottleError> {
        let (f, t) = self.pair(from, to)?;
        self.global.refund(n);
        self.nodes[f].out.refund(n);
        self.nodes[t].inb.refund(n);
        Ok(())
    }

    /// Sets node `id`'s configured limits; they apply (times its ceiling) at the next check.
    pub fn set_node_limits(&mut self, id: u32, out: Limit, inb: Limit, now: Time) -> Result<(), ThrottleError> {
        out.validate()?;
        inb.validate()?;
        let i = self.node(id).ok_or(ThrottleError::UnknownNode(id))?.0 as usize;
        let n = &mut self.nodes[i];
        n.out_cfg = out;
        n.in_cfg = inb;
        let ppm = n.ceiling.factor_ppm();
        n.out.set_limit(scaled(out, ppm), now)?;
        n.inb.set_limit(scaled(inb, ppm), now)?;
        Ok(())
    }

    /// Sets the global limit; it applies (times the global ceiling) at the next check.
    pub fn set_global_limit(&mut self, limit: Limit, now: Time) -> Result<(), ThrottleError> {
        limit.validate()?;
        self.cfg.global = limit;
        self.global.set_limit(scaled(limit, self.global_ceiling.factor_ppm()), now)
    }

    /// Reports load for node `node` (its outbound and inbound buckets follow) or, with
    /// `None`, for the cluster (the global bucket follows). Invalid metrics change nothing.
    pub fn report_load(&mut self, node: Option<u32>, m: LoadMetrics, now: Time) -> Result<(), ThrottleError> {
        let load = self.cfg.load;
        match node {
            None => {
                if self.global_ceiling.report(&load, m, now)? {
                    let l = scaled(self.cfg.global, self.global_ceiling.factor_ppm());
                    self.global.set_limit(l, now)?;
                }
            }
            Some(id) => {
                let i = self.node(id).ok_or(ThrottleError::UnknownNode(id))?.0 as usize;
                let n = &mut self.nodes[i];
                if n.ceiling.report(&load, m, now)? {
                    let ppm = n.ceiling.factor_ppm();
                    n.out.set_limit(scaled(n.out_cfg, ppm), now)?;
                    n.inb.set_limit(scaled(n.in_cfg, ppm), now)?;
                }
            }
        }
        Ok(())
    }

    /// The ceiling factor (ppm) of node `id`, or of the cluster with `None`.
    pub fn ceiling_ppm(&self, node: Option<u32>) -> Result<u32, ThrottleError> {
        match node {
            None => Ok(self.global_ceiling.factor_ppm()),
            Some(id) => {
                let i = self.node(id).ok_or(ThrottleError::UnknownNode(id))?.0 as usize;
                Ok(self.nodes[i].ceiling.factor_ppm())
            }
        }
    }

    /// Effective (ceiling-scaled) outbound and inbound rates of a node, bytes per second.
    pub fn node_rates(&self, r: NodeRef) -> Option<(u64, u64)> {
        self.nodes.get(r.0 as usize).map(|n| (n.out.rate(), n.inb.rate()))
    }

    /// Configured (unscaled) outbound and inbound limits of a node.
    pub fn node_limits(&self, r: NodeRef) -> Option<(Limit, Limit)> {
        self.nodes.get(r.0 as usize).map(|n| (n.out_cfg, n.in_cfg))
    }

    /// The effective global rate, bytes per second.
    pub fn global_rate(&self) -> u64 {
        self.global.rate()
    }

    /// Read access to the global bucket (tests, status).
    pub fn global_bucket(&self) -> &Bucket {
        &self.global
    }

    /// Read access to a node's (outbound, inbound) buckets.
    pub fn node_buckets(&self, r: NodeRef) -> Option<(&Bucket, &Bucket)> {
        self.nodes.get(r.0 as usize).map(|n| (&n.out, &n.inb))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NANOS_PER_SEC as S;

    fn two() -> (Throttle, NodeRef, NodeRef) {
        let mut t =
            Throttle::new(ThrottleConfig { global: Limit::new(1000, 1000), ..Default::default() }, Time::ZERO).unwrap();
        let a = t.add_node(1, Limit::new(1000, 500), Limit::new(1000, 1000), Time::ZERO).unwrap();
        let b = t.add_node(2, Limit::new(1000, 1000), Limit::new(1000, 200), Time::ZERO).unwrap();
        (t, a, b)
    }

    #[test]
    fn node_lookup_small_and_large_ids() {
        let mut t = Throttle::new(ThrottleConfig::default(), Time::ZERO).unwrap();
        let ids = [7u32, 0, SMALL_IDS - 1, SMALL_IDS, u32::MAX, 3];
        for (n, &id) in ids.iter().enumerate() {
            assert_eq!(t.node(id), None);
            assert_eq!(t.add_node(id, Limit::new(10, 10), Limit::new(10, 10), Time::ZERO), Ok(NodeRef(n as u32)));
            assert!(t.add_node(id, Limit::new(10, 10), Limit::new(10, 10), Time::ZERO).is_err());
        }
        for (n, &id) in ids.iter().enumerate() {
            assert_eq!(t.node(id), Some(NodeRef(n as u32)));
            assert_eq!(t.node_id(NodeRef(n as u32)), Some(id));
        }
        for id in [1u32, 2, 6, 8, SMALL_IDS - 2, SMALL_IDS + 1, u32::MAX - 1] {
            assert_eq!(t.node(id), None);
        }
    }

    #[test]
    fn all_or_nothing() {
        let (mut t, a, b) = two();
        assert_eq!(t.try_acquire(a, b, 150, Time::ZERO), Ok(true));
        // b's inbound has 50 left: refused, and nothing is charged anywhere.
        assert_eq!(t.try_acquire(a, b, 100, Time::ZERO), Ok(false));
        assert_eq!(t.global_bucket().balance_nanobytes(), 850 * S as i128);
        assert_eq!(t.node_buckets(a).unwrap().0.balance_nanobytes(), 350 * S as i128);
        assert!(matches!(t.try_acquire(a, b, 201, Time::ZERO), Err(ThrottleError::ExceedsBurst { burst: 200, .. })));
        assert_eq!(t.try_acquire(a, NodeRef(9), 1, Time::ZERO), Err(ThrottleError::UnknownNode(9)));
    }

    #[test]
    fn pieces_and_reservations() {
        let (mut t, a, b) = two();
        assert_eq!(t.acquire_up_to(a, b, 10_000, Time::ZERO), Ok(200));
        let at = t.reserve(b, a, 3000, Time::ZERO).unwrap();
        // global has 800: (3000 − 800)/1000 = 2.2 s.
        assert_eq!(at, Time(2_200_000_000));
        t.refund(a, b, 100).unwrap();
    }

    #[test]
    fn ceiling_scales_a_node() {
        let (mut t, a, b) = two();
        let hot = LoadMetrics { cpu: 0.95, memory: 0.1, io_wait: 0.0, client_latency_ms: -1.0 };
        t.report_load(Some(1), hot, Time::from_secs(1)).unwrap();
        assert_eq!(t.node_rates(a), Some((100, 100)));
        assert_eq!(t.node_rates(b), Some((1000, 1000)));
        assert_eq!(t.report_load(Some(7), hot, Time::from_secs(1)), Err(ThrottleError::UnknownNode(7)));
        t.report_load(None, hot, Time::from_secs(1)).unwrap();
        assert_eq!(t.global_rate(), 100);
    }

    #[test]
    fn duplicate_and_capacity() {
        let mut t = Throttle::new(ThrottleConfig { max_nodes: 1, ..Default::default() }, Time::ZERO).unwrap();
        let l = Limit::new(1, 1);
        t.add_node(1, l, l, Time::ZERO).unwrap();
        assert_eq!(t.add_node(1, l, l, Time::ZERO), Err(ThrottleError::DuplicateNode(1)));
        assert_eq!(t.add_node(2, l, l, Time::ZERO), Err(ThrottleError::CapacityExceeded(1)));
        assert_eq!(t.add_node(3, Limit::new(0, 1), l, Time::ZERO).err(), Some(ThrottleError::CapacityExceeded(1)));
    }
}
