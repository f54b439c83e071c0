//! From a placement movement plan to migration tasks, in one call.
//!
//! Each shard that arrives on a device becomes one [`MoveRequest`]. Its source is the device
//! it leaves when that device is still up (a drain or a rebalance reads from it); otherwise
//! (the device died, was removed, or the shard is new) the source is a surviving shard of the
//! same PG, and the task is a rebuild: redundancy is at risk, so it goes first.

use super::{MoveRequest, TaskKind};
use crate::placement::{MovementPlan, Placement};
use crate::topology::{DeviceId, Topology, NO_DEVICE};

/// How to turn a plan into tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanTasks {
    /// The kind of the moves whose source is alive (a rebalance, a drain).
    pub kind: TaskKind,
    /// Their priority (1-10); rebuilds get 10.
    pub priority: u8,
    /// Bytes of one shard when the placement has no PG sizes.
    pub default_shard_bytes: u64,
}

impl Default for PlanTasks {
    fn default() -> Self {
        PlanTasks { kind: TaskKind::Rebalance, priority: 5, default_shard_bytes: 1 << 30 }
    }
}

/// What [`requests_from_plan`] produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanRequests {
    /// One request per shard to copy.
    pub requests: Vec<MoveRequest>,
    /// Shards with no live copy left to read from (data the host must recover otherwise).
    pub unrecoverable: Vec<(u32, u8)>,
}

/// Turns `plan` (from `before` to the map `after`) into move requests. `node_of` names the
/// node (server) that holds a device, in the host's own ids; a device it does not know makes
/// the move unrecoverable rather than guessed.
pub fn requests_from_plan(
    plan: &MovementPlan,
    before: &Placement,
    after: &Topology,
    node_of: &dyn Fn(DeviceId) -> Option<u32>,
    opts: PlanTasks,
) -> PlanRequests {
    let alive = |d: DeviceId| d != NO_DEVICE && after.device(d).is_some_and(|x| x.is_up());
    let mut out = PlanRequests::default();
    for m in &plan.moves {
        if m.to == NO_DEVICE {
            continue; // a shard dropped: nothing to copy
        }
        let (source, rebuild) = if alive(m.from) {
            (Some(m.from), false)
        } else {
            let survivors = before.pg_row(m.pg).unwrap_or(&[]);
            (survivors.iter().copied().find(|&d| d != m.from && d != m.to && alive(d)), true)
        };
        let nodes = source.and_then(|s| Some((s, node_of(s)?, node_of(m.to)?)));
        let Some((src, from_node, to_node)) = nodes else {
            out.unrecoverable.push((m.pg, m.shard));
            continue;
        };
        let bytes = match before.shard_bytes(m.pg) {
            0 => opts.default_shard_bytes,
            b => b,
        }
        .max(1);
        let mut r = MoveRequest::new(m.pg, m.shard, (from_node, src), (to_node, m.to), bytes);
        r.kind = if rebuild { TaskKind::Rebuild } else { opts.kind };
        r.priority = if rebuild { 10 } else { opts.priority.clamp(1, 10) };
        out.requests.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::{Rule, UpdatePolicy};
    use crate::topology::regular_cluster;

    #[test]
    fn live_sources_rebalance_dead_ones_rebuild_from_survivors() {
        let mut t = regular_cluster(&["rack", "host"], &[4, 2], 2, 1_000_000_000_000).unwrap();
        let p = Placement::compute(&t, &Rule::replicated(3, "rack"), 128).unwrap();
        let node_of = |d: DeviceId| Some(d / 2); // two devices per host
                                                 // Device 3 dies: marked down and out.
        t.mark_down(3).unwrap();
        t.mark_out(3).unwrap();
        let mut q = p.clone();
        let plan = q.update(&t, UpdatePolicy::Pin).unwrap();
        assert!(plan.moved_shards > 0);
        let r = requests_from_plan(&plan, &p, &t, &node_of, PlanTasks::default());
        assert!(r.unrecoverable.is_empty());
        assert_eq!(r.requests.len() as u64, plan.moved_shards);
        for req in &r.requests {
            assert_eq!(req.kind, TaskKind::Rebuild);
            assert_ne!(req.from_device, 3, "never read from the dead device");
            assert!(p.pg_devices(req.pg).unwrap().contains(&req.from_device));
            assert_eq!(req.from_node, req.from_device / 2);
            assert_eq!(req.priority, 10);
        }
        // A drain reads from the draining device itself.
        let mut t2 = regular_cluster(&["rack", "host"], &[4, 2], 2, 1_000_000_000_000).unwrap();
        t2.set_draining(5, true).unwrap();
        let mut q = p.clone();
        let plan = q.update(&t2, UpdatePolicy::Pin).unwrap();
        let opts = PlanTasks { kind: TaskKind::Drain, priority: 3, default_shard_bytes: 77 };
        let r = requests_from_plan(&plan, &p, &t2, &node_of, opts);
        assert!(!r.requests.is_empty());
        assert!(r
            .requests
            .iter()
            .all(|x| x.from_device == 5 && x.kind == TaskKind::Drain && x.bytes == 77 && x.priority == 3));
        // Unknown nodes are reported, not guessed.
        let r = requests_from_plan(&plan, &p, &t2, &|_| None, opts);
        assert!(r.requests.is_empty() && !r.unrecoverable.is_empty());
    }
}
