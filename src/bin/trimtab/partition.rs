//! `trimtab partition --reports FILE [--json]`: reads connectivity reports and prints the
//! components, each node's mode, each component's leader, the partial-partition pairs with
//! their relays, and the largest fully connected group.

use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use trimtab::partition::{parse_reports_json, PartitionConfig, PartitionDetector, Picture, TieBreaker};
use trimtab::Time;

/// Arguments of `trimtab partition`.
#[derive(clap::Args)]
pub struct PartitionArgs {
    /// JSON file: a list of {"node": id, "reaches": [ids], "votes": n, "priority": p}.
    #[arg(long)]
    reports: PathBuf,
    /// Print JSON (fields components, modes, leaders, partial_pairs, max_clique).
    #[arg(long)]
    json: bool,
    /// How an exact half is broken: `lowest-id` (default), `none`, or a node id.
    #[arg(long, default_value = "lowest-id")]
    tie_breaker: String,
    /// Serve only when the largest fully connected group also holds a majority.
    #[arg(long)]
    require_majority_clique: bool,
}

pub fn run(args: PartitionArgs) -> Result<(), String> {
    let file = args.reports.display().to_string();
    let text = std::fs::read_to_string(&args.reports).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let entries = parse_reports_json(&text).map_err(|e| format!("{file}: {e}"))?;
    let tie_breaker = match args.tie_breaker.as_str() {
        "lowest-id" => TieBreaker::LowestId,
        "none" => TieBreaker::None,
        id => TieBreaker::Node(
            id.parse().map_err(|_| format!("--tie-breaker: expected lowest-id, none or a node id, found `{id}`"))?,
        ),
    };
    let cfg = PartitionConfig {
        tie_breaker,
        require_majority_clique: args.require_majority_clique,
        max_nodes: trimtab::partition::MAX_NODES_LIMIT,
        ..PartitionConfig::default()
    };
    let d = PartitionDetector::from_reports(cfg, &entries, Time::ZERO).map_err(|e| format!("{file}: {e}"))?;
    let p = d.picture();
    let text = if args.json {
        serde_json::to_string_pretty(&to_json(p)).map_err(|e| format!("cannot encode JSON: {e}"))? + "\n"
    } else {
        to_text(p)
    };
    // A closed pipe (`| head`) is not an error; nothing here may panic.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        _ => Ok(()),
    }
}

fn to_json(p: &Picture) -> Value {
    let components: Vec<Value> = p
        .components
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "members": c.members, "votes": c.votes, "has_quorum": c.has_quorum,
                "mode": c.mode.as_str(), "fully_connected": c.fully_connected,
                "broken_pairs": c.broken_pairs, "max_clique": c.max_clique,
                "max_clique_exact": c.max_clique_exact,
            })
        })
        .collect();
    let modes: Vec<Value> = p.nodes.iter().map(|n| json!({"node": n.id, "mode": n.mode.as_str()})).collect();
    let leaders: Vec<Value> = p
        .components
        .iter()
        .map(|c| json!({"component": c.id, "leader": c.leader, "viable": c.leader_viable}))
        .collect();
    let pairs: Vec<Value> = p
        .components
        .iter()
        .flat_map(|c| {
            c.partial_pairs.iter().map(move |bp| json!({"component": c.id, "a": bp.a, "b": bp.b, "relay": bp.relay}))
        })
        .collect();
    let exact =
        p.components.iter().find(|c| c.max_clique.as_slice() == p.max_clique()).is_none_or(|c| c.max_clique_exact);
    json!({
        "total_votes": p.total_votes,
        "components": components,
        "modes": modes,
        "leaders": leaders,
        "partial_pairs": pairs,
        "max_clique": p.max_clique(),
        "max_clique_exact": exact,
    })
}

fn ids(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn to_text(p: &Picture) -> String {
    let mut s = format!("{} component(s), {} vote(s) in total\n", p.components.len(), p.total_votes);
    for c in &p.components {
        let leader = c.leader.map_or("none".to_string(), |l| {
            format!("{l}{}", if c.leader_viable { " (viable)" } else { " (not viable)" })
        });
        s += &format!(
            "component {}: {{{}}} votes {}{} mode {} leader {}\n",
            c.id,
            ids(&c.members),
            c.votes,
            if c.has_quorum { " (quorum)" } else { "" },
            c.mode.as_str(),
            leader
        );
        if !c.fully_connected {
            s += &format!(
                "  partial: {} pair(s) cannot talk; largest fully connected group {{{}}}{}\n",
                c.broken_pairs,
                ids(&c.max_clique),
                if c.max_clique_exact { "" } else { " (heuristic)" }
            );
            for bp in &c.partial_pairs {
                s += &format!("  {} x {} relay {}\n", bp.a, bp.b, bp.relay.map_or("none".into(), |r| r.to_string()));
            }
        }
    }
    s += "modes:\n";
    for n in &p.nodes {
        s += &format!("  {} {}\n", n.id, n.mode.as_str());
    }
    s += &format!("largest fully connected group: {{{}}}\n", ids(p.max_clique()));
    s
}
