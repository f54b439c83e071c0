//! `trimtab place` and `trimtab plan`.

use crate::mapfile;
use clap::Args;
use serde_json::json;
use std::io::Write;
use trimtab::placement::{BalancerConfig, MovementPlan, Placement, Rule, UpdatePolicy};
use trimtab::topology::{Topology, NO_DEVICE};

/// Flags shared by `place` and `plan`.
#[derive(Args, Clone)]
pub struct PoolFlags {
    /// Number of placement groups.
    #[arg(long, default_value_t = 4096)]
    pub pgs: u32,
    /// Replicas per PG (the default, 3, unless --ec is given).
    #[arg(long, conflicts_with = "ec")]
    pub replicas: Option<u8>,
    /// Erasure coding as K+M (for example 4+2).
    #[arg(long)]
    pub ec: Option<String>,
    /// The level no two shards of a PG may share (default: the map's second-to-last level,
    /// or `device` for a map without levels).
    #[arg(long)]
    pub failure_domain: Option<String>,
    /// Run the balancer to convergence.
    #[arg(long)]
    pub balance: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl PoolFlags {
    pub fn rule(&self, t: &Topology) -> Result<Rule, String> {
        let domain = match &self.failure_domain {
            Some(d) => d.clone(),
            None => {
                let l = t.levels();
                if l.len() >= 2 {
                    l[l.len() - 2].clone()
                } else {
                    "device".to_string()
                }
            }
        };
        if let Some(ec) = &self.ec {
            let (k, m) = ec.split_once('+').ok_or_else(|| format!("--ec {ec}: expected K+M, for example 4+2"))?;
            let k: u8 = k.trim().parse().map_err(|_| format!("--ec {ec}: K is not a number"))?;
            let m: u8 = m.trim().parse().map_err(|_| format!("--ec {ec}: M is not a number"))?;
            Ok(Rule::erasure(k, m, &domain))
        } else {
            Ok(Rule::replicated(self.replicas.unwrap_or(3), &domain))
        }
    }
}

#[derive(Args)]
pub struct PlaceArgs {
    /// The map file (JSON, or TOML by extension).
    #[arg(long)]
    pub map: String,
    #[command(flatten)]
    pub pool: PoolFlags,
    /// Write `pg,shard,device` for every placed shard to this CSV file.
    #[arg(long)]
    pub dump: Option<String>,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The map before.
    #[arg(long)]
    pub from: String,
    /// The map after.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub pool: PoolFlags,
}

/// Balances to convergence; returns the moves.
pub fn balance_fully(p: &mut Placement, t: &Topology) -> Result<MovementPlan, String> {
    let cfg = BalancerConfig { max_moves: 10_000, ..BalancerConfig::default() };
    p.balance(t, &cfg, 100_000).map_err(|e| e.to_string())
}

pub fn run_place(a: PlaceArgs) -> Result<(), String> {
    let t = mapfile::load(&a.map)?;
    let rule = a.pool.rule(&t)?;
    let mut p = Placement::compute(&t, &rule, a.pool.pgs).map_err(|e| format!("{}: {e}", a.map))?;
    let before = p.report();
    let moves = if a.pool.balance { balance_fully(&mut p, &t)?.moved_shards } else { 0 };
    let r = p.report();
    if let Some(path) = &a.dump {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?);
        let w = |e: std::io::Error| format!("{path}: {e}");
        writeln!(out, "pg,shard,device").map_err(w)?;
        for pg in 0..p.pg_count() {
            for (shard, &d) in p.pg_row(pg).map_err(|e| e.to_string())?.iter().enumerate() {
                if d != NO_DEVICE {
                    writeln!(out, "{pg},{shard},{d}").map_err(w)?;
                }
            }
        }
        out.flush().map_err(w)?;
    }
    if a.pool.json {
        let v = json!({
            "devices": r.devices,
            "pgs": r.pgs,
            "shards_per_pg": r.shards_per_pg,
            "placed_shards": r.placed_shards,
            "min_over_mean": r.shards.min_over_mean,
            "max_over_mean": r.shards.max_over_mean,
            "stddev_over_mean": r.shards.stddev_over_mean,
            "max_over_mean_before_balance": before.shards.max_over_mean,
            "degraded_pgs": r.degraded_pgs,
            "balancer_moves": moves,
            "overrides": r.overrides,
            "capped_domains": r.capped_domains,
        });
        println!("{v}");
    } else {
        println!("{} devices, {} PGs x {} shards ({rule})", r.devices, r.pgs, r.shards_per_pg);
        println!("shards per device: min {} max {} mean {:.1}", r.min_shards, r.max_shards, r.mean_shards);
        if a.pool.balance {
            println!("before balancer: max/mean {:.3}", before.shards.max_over_mean);
        }
        println!(
            "max/mean {:.3}  min/mean {:.3}  stddev/mean {:.3}  degraded PGs {}  balancer moves {}",
            r.shards.max_over_mean, r.shards.min_over_mean, r.shards.stddev_over_mean, r.degraded_pgs, moves
        );
        for c in &r.capped_domains {
            println!(
                "note: {} holds {:.1}% of the weight but can hold at most {:.1}% of the shards (one per PG)",
                c.name,
                c.weight_share * 100.0,
                c.achievable_share * 100.0
            );
        }
    }
    Ok(())
}

/// The plan between two map files, as `plan` computes it.
pub struct ComputedPlan {
    /// The placement before the change.
    pub before: Placement,
    /// The moves.
    pub plan: MovementPlan,
    /// The map before.
    pub from_map: Topology,
    /// The map after.
    pub to_map: Topology,
}

/// The plan between two map files, as `plan` computes it.
pub fn compute_plan(from: &str, to: &str, pool: &PoolFlags) -> Result<ComputedPlan, String> {
    let ta = mapfile::load(from)?;
    let tb = mapfile::load(to)?;
    let rule = pool.rule(&ta)?;
    let pa = Placement::compute(&ta, &rule, pool.pgs).map_err(|e| format!("{from}: {e}"))?;
    if pool.balance {
        // A running cluster: start balanced, carry the exceptions over, move only what
        // must move, then balance the new map. Count every shard that changed device.
        let mut start = pa;
        balance_fully(&mut start, &ta)?;
        let mut cur = start.clone();
        cur.update(&tb, UpdatePolicy::Pin).map_err(|e| format!("{to}: {e}"))?;
        balance_fully(&mut cur, &tb)?;
        let plan = start.plan_to(&cur).map_err(|e| e.to_string())?;
        Ok(ComputedPlan { before: start, plan, from_map: ta, to_map: tb })
    } else {
        let pb = Placement::compute(&tb, &rule, pool.pgs).map_err(|e| format!("{to}: {e}"))?;
        let plan = pa.plan_to(&pb).map_err(|e| e.to_string())?;
        Ok(ComputedPlan { before: pa, plan, from_map: ta, to_map: tb })
    }
}

pub fn run_plan(a: PlanArgs) -> Result<(), String> {
    let plan = compute_plan(&a.from, &a.to, &a.pool)?.plan;
    if a.pool.json {
        let v = json!({
            "moved_shards": plan.moved_shards,
            "total_shards": plan.total_shards,
            "moved_fraction": plan.moved_fraction,
            "optimal_fraction": plan.optimal_fraction,
            "over_optimal": plan.over_optimal(),
        });
        println!("{v}");
    } else {
        println!(
            "moved {} of {} shards: {:.4}% (optimum {:.4}%, {:.2}x)",
            plan.moved_shards,
            plan.total_shards,
            plan.moved_fraction * 100.0,
            plan.optimal_fraction * 100.0,
            plan.over_optimal()
        );
    }
    Ok(())
}
