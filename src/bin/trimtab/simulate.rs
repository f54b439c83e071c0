//! `trimtab simulate`: the built-in default cluster through a short story.
//!
//! 3 zones x 4 racks x 8 hosts x 12 devices (1,152 devices of 4 TB), 65,536 PGs, 3 replicas
//! across racks. Steps: initial placement, balancer, a rack added, a host removed, a device
//! failed. After each step a row: devices, PGs, shards per device, max over mean, and the
//! moved fraction beside the optimum (and beside what plain rehashing, CRUSH-style, moves).

use crate::place::balance_fully;

use serde::Serialize;
use std::time::Instant;
use trimtab::placement::{Placement, PlacementReport, Rule, UpdatePolicy};
use trimtab::topology::{regular_cluster, DeviceSpec, Topology};

#[derive(clap::Args)]
pub struct Args {
    /// Number of placement groups.
    #[arg(long, default_value_t = 65_536)]
    pub pgs: u32,
    /// Print one JSON array of steps instead of a table.
    #[arg(long)]
    pub json: bool,
}

const TB4: u64 = 4_000_000_000_000;

#[derive(Serialize)]
struct Row {
    step: String,
    devices: usize,
    pgs: u32,
    min_shards: u64,
    max_shards: u64,
    mean_shards: f64,
    max_over_mean: f64,
    degraded_pgs: u64,
    moved_fraction: f64,
    optimal_fraction: f64,
    over_optimal: f64,
    rehash_over_optimal: Option<f64>,
    ms: f64,
}

fn row(step: &str, r: &PlacementReport, moved: f64, optimal: f64, rehash: Option<f64>, ms: f64) -> Row {
    Row {
        step: step.into(),
        devices: r.devices,
        pgs: r.pgs,
        min_shards: r.min_shards,
        max_shards: r.max_shards,
        mean_shards: r.mean_shards,
        max_over_mean: r.shards.max_over_mean,
        degraded_pgs: r.degraded_pgs,
        moved_fraction: moved,
        optimal_fraction: optimal,
        over_optimal: if optimal > 0.0 { moved / optimal } else { 0.0 },
        rehash_over_optimal: rehash,
        ms,
    }
}

/// Applies a map change as a running cluster would (pin, then balance) and returns the row.
fn change(step: &str, p: &mut Placement, rule: &Rule, pgs: u32, old: &Topology, new: &Topology) -> Result<Row, String> {
    let start = Instant::now();
    let before = p.clone();
    p.update(new, UpdatePolicy::Pin).map_err(|e| e.to_string())?;
    balance_fully(p, new)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let plan = before.plan_to(p).map_err(|e| e.to_string())?;
    let a = Placement::compute(old, rule, pgs).map_err(|e| e.to_string())?;
    let b = Placement::compute(new, rule, pgs).map_err(|e| e.to_string())?;
    let rehash = a.plan_to(&b).map_err(|e| e.to_string())?;
    Ok(row(step, &p.report(), plan.moved_fraction, plan.optimal_fraction, Some(rehash.over_optimal()), ms))
}

pub fn run(a: Args) -> Result<(), String> {
    let e = |x: trimtab::topology::TopologyError| x.to_string();
    let t0 = regular_cluster(&["zone", "rack", "host"], &[3, 4, 8], 12, TB4).map_err(e)?;
    let rule = Rule::replicated(3, "rack");
    let mut rows = Vec::new();

    let start = Instant::now();
    let mut p = Placement::compute(&t0, &rule, a.pgs).map_err(|e| e.to_string())?;
    rows.push(row("initial placement", &p.report(), 0.0, 0.0, None, start.elapsed().as_secs_f64() * 1e3));

    let start = Instant::now();
    let plan = balance_fully(&mut p, &t0)?;
    rows.push(row("balancer", &p.report(), plan.moved_fraction, 0.0, None, start.elapsed().as_secs_f64() * 1e3));

    // A rack of 8 hosts x 12 devices joins zone 0.
    let mut t1 = t0.clone();
    let base_id = 1_000_000;
    let specs = (0..96u32)
        .map(|i| {
            DeviceSpec::new(base_id + i, TB4).at(&[
                ("zone", "zone0"),
                ("rack", "rack0-new"),
                ("host", &format!("host0-new-{}", i / 12)),
            ])
        })
        .collect();
    t1.add_devices(specs).map_err(e)?;
    rows.push(change("rack added", &mut p, &rule, a.pgs, &t0, &t1)?);

    // A host leaves (its 12 devices are removed).
    let mut t2 = t1.clone();
    let host = t2.devices_in("host", "host1-2-3");
    t2.remove_devices(&host).map_err(e)?;
    rows.push(change("host removed", &mut p, &rule, a.pgs, &t1, &t2)?);

    // A device fails and is marked out.
    let mut t3 = t2.clone();
    let dev = t3.devices_in("host", "host2-1-5").first().copied().ok_or("no device to fail")?;
    t3.mark_out(dev).map_err(e)?;
    rows.push(change("device failed", &mut p, &rule, a.pgs, &t2, &t3)?);

    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!("trimtab simulate: 3 zones x 4 racks x 8 hosts x 12 devices, {} PGs, 3 replicas across racks\n", a.pgs);
    println!(
        "{:<18} {:>7} {:>7} {:>5} {:>5} {:>7} {:>8} {:>8} {:>9} {:>6} {:>7} {:>8}",
        "step", "devices", "PGs", "min", "max", "mean", "max/mean", "moved%", "optimal%", "x opt", "rehash", "ms"
    );
    for r in &rows {
        let opt = if r.optimal_fraction > 0.0 { format!("{:.2}", r.over_optimal) } else { "-".into() };
        let rh = r.rehash_over_optimal.map_or("-".to_string(), |x| format!("{x:.2}"));
        println!(
            "{:<18} {:>7} {:>7} {:>5} {:>5} {:>7.1} {:>8.3} {:>8.3} {:>9.3} {:>6} {:>7} {:>8.1}",
            r.step,
            r.devices,
            r.pgs,
            r.min_shards,
            r.max_shards,
            r.mean_shards,
            r.max_over_mean,
            r.moved_fraction * 100.0,
            r.optimal_fraction * 100.0,
            opt,
            rh,
            r.ms
        );
    }
    println!("\nx opt: shards moved (balancer included) over the optimum; rehash: what recomputing the map from scratch (CRUSH-style) would move.");
    Ok(())
}
