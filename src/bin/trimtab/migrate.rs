//! `trimtab migrate`: the movement plan between two maps, run through the migration
//! scheduler and the throttle in simulated time.

use crate::place::{compute_plan, ComputedPlan, PoolFlags};
use crate::units::parse_bytes;
use serde_json::json;
use std::collections::BTreeMap;
use trimtab::migration::sim::{simulate, SimConfig};
use trimtab::migration::{requests_from_plan, PlanTasks};
use trimtab::topology::Topology;

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The map before.
    #[arg(long)]
    pub from: String,
    /// The map after.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub pool: PoolFlags,
    /// Bytes per PG (for example 10GiB); an erasure-coded shard holds 1/k of it.
    #[arg(long, default_value = "1GiB")]
    pub pg_bytes: String,
    /// Each node's inbound and outbound bandwidth (for example 100MiB/s).
    #[arg(long, default_value = "100MiB/s")]
    pub node_bandwidth: String,
    /// Concurrent moves per node, each direction.
    #[arg(long, default_value_t = 4)]
    pub max_moves_per_node: u32,
    /// Transfers are cut into chunks of this size.
    #[arg(long, default_value = "64MiB")]
    pub chunk_bytes: String,
}

/// Node ids for devices: one per host (the map's last level), numbered in name order over
/// both maps, so that a host keeps its id across the change.
pub fn node_ids(maps: &[&Topology]) -> BTreeMap<u32, u32> {
    let mut hosts: BTreeMap<String, u32> = BTreeMap::new();
    for t in maps {
        for d in t.devices() {
            let h = d.location.last().cloned().unwrap_or_else(|| format!("device-{}", d.id));
            hosts.entry(h).or_insert(0);
        }
    }
    for (i, v) in hosts.values_mut().enumerate() {
        *v = i as u32;
    }
    let mut out = BTreeMap::new();
    for t in maps {
        for d in t.devices() {
            let h = d.location.last().cloned().unwrap_or_else(|| format!("device-{}", d.id));
            out.insert(d.id, hosts[&h]);
        }
    }
    out
}

pub fn run(a: MigrateArgs) -> Result<(), String> {
    let pg_bytes = parse_bytes("--pg-bytes", &a.pg_bytes)?;
    let bandwidth = parse_bytes("--node-bandwidth", &a.node_bandwidth)?;
    let chunk = parse_bytes("--chunk-bytes", &a.chunk_bytes)?;
    if a.max_moves_per_node == 0 {
        return Err("--max-moves-per-node must be at least 1".into());
    }
    let ComputedPlan { mut before, plan, from_map, to_map: after } = compute_plan(&a.from, &a.to, &a.pool)?;
    before.set_pg_bytes(vec![pg_bytes; before.pg_count() as usize]).map_err(|e| format!("--pg-bytes: {e}"))?;
    let nodes = node_ids(&[&from_map, &after]);
    let reqs = requests_from_plan(&plan, &before, &after, &|d| nodes.get(&d).copied(), PlanTasks::default());
    let cfg = SimConfig {
        node_bandwidth: bandwidth,
        chunk_bytes: chunk,
        max_moves_per_node: a.max_moves_per_node,
        ..SimConfig::default()
    };
    let r = if reqs.requests.is_empty() {
        None
    } else {
        Some(simulate(&reqs.requests, &cfg).map_err(|e| format!("simulation: {e}"))?)
    };
    if a.pool.json {
        let v = json!({
            "moved_shards": plan.moved_shards,
            "moved_fraction": plan.moved_fraction,
            "optimal_fraction": plan.optimal_fraction,
            "tasks": reqs.requests.len(),
            "unrecoverable": reqs.unrecoverable.len(),
            "bytes": r.map_or(0, |r| r.bytes),
            "makespan_s": r.map_or(0.0, |r| r.makespan_s),
            "lower_bound_s": r.map_or(0.0, |r| r.lower_bound_s),
            "ratio": r.map_or(1.0, |r| r.ratio),
            "peak_rate_over_limit": r.map_or(0.0, |r| r.peak_rate_over_limit),
            "peak_allowed": r.map_or(0.0, |r| r.peak_allowed),
            "completed": r.map_or(0, |r| r.completed),
        });
        println!("{v}");
    } else {
        println!(
            "{} shards move ({:.3}% of {}; optimum {:.3}%), {} tasks, {} without a live source",
            plan.moved_shards,
            plan.moved_fraction * 100.0,
            plan.total_shards,
            plan.optimal_fraction * 100.0,
            reqs.requests.len(),
            reqs.unrecoverable.len()
        );
        if let Some(r) = r {
            println!(
                "makespan {:.1} s, lower bound {:.1} s, ratio {:.4}; peak rate over limit {:.3} (allowed {:.3}); {} of {} tasks completed",
                r.makespan_s, r.lower_bound_s, r.ratio, r.peak_rate_over_limit, r.peak_allowed, r.completed, r.tasks
            );
        }
    }
    Ok(())
}
