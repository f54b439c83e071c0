//! `trimtab migrate-sim`: runs a synthetic movement plan through the migration scheduler and
//! throttle in simulated time and reports the makespan against the lower bound.

use clap::Args;
use trimtab::migration::sim::{simulate, synthetic_plan, SimConfig, Synthetic};

/// Arguments of `migrate-sim`.
#[derive(Args, Debug)]
pub struct MigrateSimArgs {
    /// The plan's shape: decommission, scale-out, hot-source, all-to-all, or all (a table).
    #[arg(long)]
    synthetic: String,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 32)]
    nodes: u32,
    /// Each node's outbound and inbound bandwidth, bytes per second.
    #[arg(long, default_value_t = 100 << 20)]
    node_bandwidth: u64,
    /// Average shard size, bytes.
    #[arg(long, default_value_t = 256 << 20)]
    shard_bytes: u64,
    /// Chunk size, bytes.
    #[arg(long, default_value_t = 64 << 20)]
    chunk_bytes: u64,
    /// Concurrent moves per node, each direction.
    #[arg(long, default_value_t = 4)]
    max_moves_per_node: u32,
    /// Seed of the plan's sizes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Plain greedy list scheduling instead of critical-path-first (for comparison).
    #[arg(long)]
    greedy: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(a: MigrateSimArgs) -> Result<(), String> {
    let kinds: Vec<Synthetic> = if a.synthetic == "all" {
        Synthetic::ALL.to_vec()
    } else {
        vec![Synthetic::parse(&a.synthetic).ok_or_else(|| {
            format!(
                "--synthetic: unknown plan {:?} (decommission, scale-out, hot-source, all-to-all, all)",
                a.synthetic
            )
        })?]
    };
    if a.nodes < 3 || a.nodes > 4096 {
        return Err(format!("--nodes: {} is out of range (3..=4096)", a.nodes));
    }
    if a.shard_bytes == 0 || a.chunk_bytes == 0 || a.node_bandwidth == 0 || a.max_moves_per_node == 0 {
        return Err("--shard-bytes, --chunk-bytes, --node-bandwidth and --max-moves-per-node must be positive".into());
    }
    let cfg = SimConfig {
        node_bandwidth: a.node_bandwidth,
        chunk_bytes: a.chunk_bytes,
        max_moves_per_node: a.max_moves_per_node,
        critical_first: !a.greedy,
        ..SimConfig::default()
    };
    let mut rows = Vec::new();
    for k in kinds {
        let plan = synthetic_plan(k, a.nodes, a.shard_bytes, a.seed);
        let r = simulate(&plan, &cfg).map_err(|e| format!("{}: {e}", k.name()))?;
        rows.push((k, r));
    }
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, r)| {
                let mut j = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = j.as_object_mut() {
                    o.insert("plan".into(), k.name().into());
                }
                j
            })
            .collect();
        let out = if v.len() == 1 { v[0].clone() } else { serde_json::Value::Array(v) };
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    } else {
        println!(
            "{:<14} {:>6} {:>7} {:>12} {:>12} {:>7} {:>9} {:>8}",
            "plan", "nodes", "tasks", "makespan_s", "lower_bd_s", "ratio", "chunk_s", "peak"
        );
        for (k, r) in rows {
            println!(
                "{:<14} {:>6} {:>7} {:>12.2} {:>12.2} {:>7.4} {:>9.3} {:>8.4}",
                k.name(),
                r.nodes,
                r.tasks,
                r.makespan_s,
                r.lower_bound_s,
                r.ratio,
                r.chunk_s,
                r.peak_rate_over_limit
            );
        }
    }
    Ok(())
}
