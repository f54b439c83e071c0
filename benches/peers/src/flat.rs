//! Flat (single-level) consistent hashing: the crates a user would otherwise pick, behind
//! one trait, and trimtab with a flat tree (all devices directly under the root, one
//! shard per PG, failure domain `device`).
//!
//! Keys are `u64`s; each peer hashes them its own way (`rendezvous_hash`, `anchorhash`
//! and `hashring` with SipHash under fixed keys so that runs are reproducible; jump
//! consistent hash takes a key that is already uniform, so it gets `splitmix64(key)`;
//! trimtab hashes the key's 8 bytes into a PG with `object_to_pg`).

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use anchorhash::AnchorHash;
use hashring::HashRing;
use rendezvous_hash::{Capacity, DefaultNodeHasher, IdNode, RendezvousNodes, WeightedNode};
use trimtab::placement::{Placement, Rule};
use trimtab::topology::{regular_cluster, Topology};

/// Capacity of every flat node (4 TB; only relative weights matter).
pub const NODE_BYTES: u64 = 4_000_000_000_000;

/// Virtual nodes per node on the hash ring.
pub const VNODES: u32 = 100;

/// SplitMix64's finalizer: the key mixing jump consistent hash is given.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A flat key → node mapping with nodes `0..n`.
pub trait FlatPeer {
    /// Name for tables.
    fn name(&self) -> &'static str;
    /// The node of `key`.
    fn lookup(&self, key: u64) -> u32;
}

/// A peer that can grow by one node (trimtab grows through `Placement::update`).
pub trait AddNode: FlatPeer {
    /// Adds node `n` (the next id).
    fn add_node(&mut self);
}

/// Weighted rendezvous (highest random weight) from `rendezvous_hash`: scores and sorts
/// every node per lookup.
pub struct Rendezvous(RendezvousNodes<WeightedNode<IdNode<u32>>, DefaultNodeHasher>);

impl Rendezvous {
    /// `n` nodes of equal capacity.
    pub fn new(n: usize) -> Rendezvous {
        let mut nodes = RendezvousNodes::default();
        for i in 0..n as u32 {
            nodes.insert(WeightedNode::new(IdNode::new(i), Capacity::new(1.0).expect("capacity")));
        }
        Rendezvous(nodes)
    }
}

impl FlatPeer for Rendezvous {
    fn name(&self) -> &'static str {
        "rendezvous_hash 0.3 (weighted)"
    }
    #[inline]
    fn lookup(&self, key: u64) -> u32 {
        self.0.calc_candidates(&key).next().map_or(u32::MAX, |w| *w.node)
    }
}

impl AddNode for Rendezvous {
    fn add_node(&mut self) {
        let n = self.0.len() as u32;
        self.0.insert(WeightedNode::new(IdNode::new(n), Capacity::new(1.0).expect("capacity")));
    }
}

/// Jump consistent hash (`jump-consistent-hash`): no weights, nodes only added at the end.
pub struct Jump(usize);

impl Jump {
    /// `n` buckets.
    pub fn new(n: usize) -> Jump {
        Jump(n)
    }
}

impl FlatPeer for Jump {
    fn name(&self) -> &'static str {
        "jump-consistent-hash 0.1"
    }
    #[inline]
    fn lookup(&self, key: u64) -> u32 {
        jump_consistent_hash::hash(splitmix64(key), self.0)
    }
}

impl AddNode for Jump {
    fn add_node(&mut self) {
        self.0 += 1;
    }
}

/// Fixed-key SipHash, so that figures are reproducible (the crates' default for
/// `anchorhash` is a random `RandomState`).
pub type FixedSip = BuildHasherDefault<DefaultHasher>;

/// AnchorHash (`anchorhash`), capacity `n + 1` so that one node can be added.
pub struct Anchor(AnchorHash<u64, u32, FixedSip>);

impl Anchor {
    /// `n` resources, room for one more.
    pub fn new(n: usize) -> Anchor {
        let cap = u16::try_from(n + 1).expect("anchorhash capacity is at most 65,535");
        Anchor(anchorhash::Builder::with_hasher(FixedSip::default()).with_resources(0..n as u32).build(cap))
    }
}

impl FlatPeer for Anchor {
    fn name(&self) -> &'static str {
        "anchorhash 0.2"
    }
    #[inline]
    fn lookup(&self, key: u64) -> u32 {
        self.0.get_resource(key).copied().unwrap_or(u32::MAX)
    }
}

impl AddNode for Anchor {
    fn add_node(&mut self) {
        let n = self.0.resources().len() as u32;
        self.0.add_resource(n).expect("capacity was reserved");
    }
}

/// A ring with [`VNODES`] virtual nodes per node (`hashring`).
pub struct Ring {
    ring: HashRing<(u32, u32)>,
    n: u32,
}

impl Ring {
    /// `n` nodes × [`VNODES`] points.
    pub fn new(n: usize) -> Ring {
        let mut ring = HashRing::new();
        ring.batch_add((0..n as u32).flat_map(|i| (0..VNODES).map(move |v| (i, v))).collect());
        Ring { ring, n: n as u32 }
    }
}

impl FlatPeer for Ring {
    fn name(&self) -> &'static str {
        "hashring 0.3 (100 vnodes)"
    }
    #[inline]
    fn lookup(&self, key: u64) -> u32 {
        self.ring.get(&key).map_or(u32::MAX, |&(i, _)| i)
    }
}

impl AddNode for Ring {
    fn add_node(&mut self) {
        self.ring.batch_add((0..VNODES).map(|v| (self.n, v)).collect());
        self.n += 1;
    }
}

/// trimtab on a flat tree: `n` devices under the root, one shard per PG, failure domain
/// `device`, `pgs_per_node × n` PGs; a lookup is `object_to_pg` plus a table read.
pub struct TrimtabFlat {
    /// The map.
    pub topology: Topology,
    /// The placement (table).
    pub placement: Placement,
}

impl TrimtabFlat {
    /// The flat map of `n` devices.
    pub fn topology(n: usize) -> Topology {
        regular_cluster(&[], &[], n, NODE_BYTES).expect("flat map")
    }
    /// The rule: one shard per PG, distinct devices.
    pub fn rule() -> Rule {
        Rule::replicated(1, "device")
    }
    /// `n` devices, `pgs_per_node × n` PGs.
    pub fn new(n: usize, pgs_per_node: u32) -> TrimtabFlat {
        let topology = Self::topology(n);
        let placement = Placement::compute(&topology, &Self::rule(), pgs_per_node * n as u32).expect("placement");
        TrimtabFlat { topology, placement }
    }
}

impl FlatPeer for TrimtabFlat {
    fn name(&self) -> &'static str {
        "trimtab (table read)"
    }
    #[inline]
    fn lookup(&self, key: u64) -> u32 {
        let pg = self.placement.object_to_pg(&key.to_le_bytes());
        self.placement.pg_devices(pg).ok().and_then(|d| d.first().copied()).unwrap_or(u32::MAX)
    }
}
