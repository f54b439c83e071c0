//! The op-sequence driver shared by the partition fuzz target (`fuzz/fuzz_targets/
//! partition.rs`, through `#[path]`) and its proptest twin (`tests/partition_props.rs`).
//! It applies ops to a detector, keeps a model of the valid reports, and checks the
//! invariants after every op; any violation panics.

#![allow(dead_code)]

use std::collections::BTreeMap;
use trimtab::partition::{
    Mode, NodeId, NodeSpec, PartitionConfig, PartitionDetector, PartitionEvent, Picture, TieBreaker,
};
use trimtab::Time;

/// Ids live in a small space so that ops collide; bit 4 of the id byte picks a large id to
/// exercise the hashed lookup.
pub fn node_id(b: u8) -> NodeId {
    let small = u64::from(b & 0x0f);
    if b & 0x10 != 0 {
        (1u64 << 40) + small
    } else {
        small
    }
}

/// One step.
#[derive(Debug, Clone)]
pub enum Op {
    /// Register a node.
    Add { id: u8, votes: u8, priority: u8 },
    /// Unregister a node.
    Remove { id: u8 },
    /// A report: bit i of `reaches` is id byte i (0..16), `large` maps them to large ids.
    Report { node: u8, reaches: u16, large: bool },
    /// Time passes.
    Advance { ms: u16 },
    /// Tick at the current time.
    Tick,
    /// Change votes.
    SetVotes { id: u8, votes: u8 },
    /// Change priority.
    SetPriority { id: u8, priority: u8 },
}

/// A configuration chosen by one byte.
pub fn config(sel: u8) -> PartitionConfig {
    PartitionConfig {
        report_timeout_ns: 2_000_000_000,
        stability_window_ns: if sel & 1 == 0 { 0 } else { 500_000_000 },
        tie_breaker: match (sel >> 1) % 3 {
            0 => TieBreaker::LowestId,
            1 => TieBreaker::None,
            _ => TieBreaker::Node(node_id(3)),
        },
        require_majority_clique: sel & 8 != 0,
        event_capacity: if sel & 16 != 0 { 4 } else { 1024 },
        exact_clique_limit: if sel & 32 != 0 { 0 } else { 256 },
        ..PartitionConfig::default()
    }
}

pub struct Driver {
    cfg: PartitionConfig,
    d: PartitionDetector,
    now: u64,
    specs: BTreeMap<NodeId, NodeSpec>,
    /// Last report per node: (peers, time).
    reports: BTreeMap<NodeId, (Vec<NodeId>, u64)>,
}

impl Driver {
    pub fn new(sel: u8) -> Self {
        let cfg = config(sel);
        Driver {
            d: PartitionDetector::new(cfg.clone()).unwrap(),
            cfg,
            now: 0,
            specs: BTreeMap::new(),
            reports: BTreeMap::new(),
        }
    }

    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::Add { id, votes, priority } => {
                let id = node_id(id);
                let spec = NodeSpec { votes: u32::from(votes % 4), priority: u32::from(priority % 3) };
                let r = self.d.add_node(id, spec);
                assert_eq!(r.is_ok(), !self.specs.contains_key(&id), "{r:?}");
                if r.is_ok() {
                    self.specs.insert(id, spec);
                }
            }
            Op::Remove { id } => {
                let id = node_id(id);
                let r = self.d.remove_node(id);
                assert_eq!(r.is_ok(), self.specs.remove(&id).is_some());
                self.reports.remove(&id);
                for (peers, _) in self.reports.values_mut() {
                    peers.retain(|&p| p != id);
                }
            }
            Op::Report { node, reaches, large } => {
                let node = node_id(node);
                let peers: Vec<NodeId> = (0..16u8)
                    .filter(|i| reaches & (1 << i) != 0)
                    .map(|i| node_id(i | if large { 0x10 } else { 0 }))
                    .collect();
                let before = state(&self.d);
                let r = self.d.report(node, &peers, Time(self.now));
                let ok = self.specs.contains_key(&node) && peers.iter().all(|p| self.specs.contains_key(p));
                assert_eq!(r.is_ok(), ok, "{r:?}");
                if ok {
                    let t = self.now.max(self.d.now().as_nanos());
                    let mut own: Vec<NodeId> = peers.into_iter().filter(|&p| p != node).collect();
                    own.sort_unstable();
                    own.dedup();
                    self.reports.insert(node, (own, t));
                } else {
                    // A refused call changes nothing (beyond laying out pending nodes, which
                    // the debug form shows; so compare only when nothing was pending).
                    if !before.contains("pending_add: {}") || !before.contains("pending_remove: {}") {
                        return;
                    }
                    assert_eq!(state(&self.d), before);
                }
            }
            Op::Advance { ms } => self.now += u64::from(ms) * 1_000_000,
            Op::Tick => {
                self.d.tick(Time(self.now));
                self.check_against_fresh_detector();
            }
            Op::SetVotes { id, votes } => {
                let id = node_id(id);
                let r = self.d.set_votes(id, u32::from(votes % 4));
                assert_eq!(r.is_ok(), self.specs.contains_key(&id));
                if let Some(s) = self.specs.get_mut(&id) {
                    s.votes = u32::from(votes % 4);
                }
            }
            Op::SetPriority { id, priority } => {
                let id = node_id(id);
                let r = self.d.set_priority(id, u32::from(priority % 3));
                assert_eq!(r.is_ok(), self.specs.contains_key(&id));
                if let Some(s) = self.specs.get_mut(&id) {
                    s.priority = u32::from(priority % 3);
                }
            }
        }
        self.check();
    }

    /// Invariants of the published picture, the events, and incremental == from scratch.
    fn check(&mut self) {
        check_picture(self.d.picture());
        let mut last_mode: BTreeMap<NodeId, Mode> = BTreeMap::new();
        while let Some(e) = self.d.poll_event() {
            if let PartitionEvent::ModeChanged { node, to, .. } = e {
                last_mode.insert(node, to);
            }
        }
        if self.d.events_dropped() == 0 {
            for (node, mode) in last_mode {
                if let Some(m) = self.d.picture().mode(node) {
                    assert_eq!(m, mode, "event and picture disagree for {node}");
                }
            }
        }
        let inc = self.d.observed().clone();
        check_picture(&inc);
        let scratch = self.d.clone().analyze_from_scratch().clone();
        assert_eq!(inc, scratch, "incremental and from-scratch pictures differ");
        assert!(self.d.node_count() == self.specs.len());
    }

    /// After a tick: a fresh detector given the same nodes (registered in reverse order) and
    /// the same valid reports (applied in reverse order) must observe the same picture.
    fn check_against_fresh_detector(&mut self) {
        let now = self.d.now().as_nanos();
        let mut f = PartitionDetector::new(self.cfg.clone()).unwrap();
        for (&id, &spec) in self.specs.iter().rev() {
            f.add_node(id, spec).unwrap();
        }
        let valid: Vec<(&NodeId, &(Vec<NodeId>, u64))> =
            self.reports.iter().filter(|(_, (_, t))| t.saturating_add(self.cfg.report_timeout_ns) > now).collect();
        for (&node, (peers, _)) in valid.into_iter().rev() {
            let mut p = peers.clone();
            p.reverse();
            f.report(node, &p, Time(now)).unwrap();
        }
        let fresh = f.observed().clone();
        assert_eq!(&fresh, self.d.observed(), "same reports, different answer");
    }
}

/// The detector's state as text, without its scratch buffer (which holds no state).
fn state(d: &PartitionDetector) -> String {
    let s = format!("{d:?}");
    match s.find("row_scratch") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// At most one component has quorum and at most one serves; a leader is a voting member;
/// a serving component's leader is viable; serving nodes are the leader and its peers.
pub fn check_picture(p: &Picture) {
    assert!(p.components.iter().filter(|c| c.has_quorum).count() <= 1, "two quorum components");
    let serving: Vec<_> = p.components.iter().filter(|c| c.mode == Mode::Serving).collect();
    assert!(serving.len() <= 1, "two serving components");
    for n in &p.nodes {
        let c = &p.components[n.component];
        assert!(c.members.binary_search(&n.id).is_ok());
        if n.mode == Mode::Serving {
            assert_eq!(c.mode, Mode::Serving, "a serving node outside the serving component");
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &p.components {
        for m in &c.members {
            assert!(seen.insert(*m), "node {m} in two components");
        }
        if let Some(l) = c.leader {
            assert!(c.members.contains(&l));
        }
        if c.mode == Mode::Serving {
            assert!(c.has_quorum && c.leader_viable && c.leader.is_some());
        }
        assert!(c.max_clique.len() as u64 <= c.max_clique_upper_bound);
        assert!(c.max_clique.iter().all(|m| c.members.contains(m)));
        assert_eq!(c.fully_connected, c.broken_pairs == 0);
        assert!(c.partial_pairs.len() as u64 <= c.broken_pairs);
    }
    assert_eq!(seen.len(), p.nodes.len());
}
