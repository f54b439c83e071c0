//! `trimtab simulate`: the built-in default cluster through a short story.
//!
//! 3 zones x 4 racks x 8 hosts x 12 devices (1,152 devices of 4 TB), 65,536 PGs, 3 replicas
//! across racks. Steps: initial placement, balancer, a rack added, a host removed, a device
//! failed. After each step a row: devices, PGs, shards per device, max over mean, and the
//! moved fraction beside the optimum (and beside what plain rehashing, CRUSH-style, moves).
//! After each map change the movement plan runs through the migration scheduler under the
//! throttle in simulated time (8 GiB PGs, 1 GiB/s per host each way, 4 moves per host),
//! with a progress bar on a terminal and plain lines otherwise. Then a host crashes (the
//! failure detector declares it dead; its shards are rebuilt) and zone 2 is cut off from the
//! others and healed (the partition detector picks the serving side and reports recovery).

use crate::migrate::node_ids;
use crate::place::balance_fully;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::time::Instant;
use trimtab::migration::sim::{simulate_with_progress, SimConfig, SimProgress, SimReport};
use trimtab::migration::{requests_from_plan, PlanTasks};
use trimtab::placement::{MovementPlan, Placement, PlacementReport, Rule, UpdatePolicy};
use trimtab::topology::{regular_cluster, DeviceSpec, Topology};

#[derive(clap::Args)]
pub struct Args {
    /// Number of placement groups.
    #[arg(long, default_value_t = 65_536)]
    pub pgs: u32,
    /// Print one JSON array of steps instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Bytes per PG moved by the migration simulation.
    #[arg(long, default_value = "8GiB")]
    pub pg_bytes: String,
    /// Each host's inbound and outbound bandwidth in the migration simulation.
    #[arg(long, default_value = "1GiB/s")]
    pub node_bandwidth: String,
}

/// The migration of one step.
#[derive(Serialize, Clone, Copy)]
struct Migration {
    tasks: u64,
    bytes: u64,
    makespan_s: f64,
    lower_bound_s: f64,
    ratio: f64,
    peak_rate_over_limit: f64,
}

struct Mig {
    pg_bytes: u64,
    cfg: SimConfig,
    show: bool,
    tty: bool,
}

fn human_bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

fn human_secs(s: f64) -> String {
    if !s.is_finite() {
        return "--".into();
    }
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

impl Mig {
    /// Runs a step's plan through the scheduler; prints progress unless in JSON mode.
    fn run(
        &self,
        step: &str,
        before: &Placement,
        plan: &MovementPlan,
        old: &Topology,
        new: &Topology,
    ) -> Result<Option<Migration>, String> {
        let mut before = before.clone();
        before.set_pg_bytes(vec![self.pg_bytes; before.pg_count() as usize]).map_err(|e| e.to_string())?;
        let nodes = node_ids(&[old, new]);
        let reqs = requests_from_plan(plan, &before, new, &|d| nodes.get(&d).copied(), PlanTasks::default());
        if reqs.requests.is_empty() {
            return Ok(None);
        }
        let mut last_pct = -1i64;
        let (show, tty) = (self.show, self.tty);
        let mut progress = |p: &SimProgress| {
            if !show || p.bytes_total == 0 {
                return;
            }
            let frac = p.bytes_done as f64 / p.bytes_total as f64;
            let pct = (frac * 100.0) as i64;
            let stride = if tty { 1 } else { 25 };
            if pct / stride == last_pct / stride {
                return;
            }
            last_pct = pct;
            let line = format!(
                "{:>3}% {} / {} at {}/s, ETA {}",
                pct,
                human_bytes(p.bytes_done as f64),
                human_bytes(p.bytes_total as f64),
                human_bytes(p.rate),
                human_secs(p.eta_s)
            );
            if tty {
                let filled = (frac * 30.0) as usize;
                let bar = format!("{}{}", "#".repeat(filled.min(30)), ".".repeat(30 - filled.min(30)));
                eprint!("\r  migrating {step:<14} [{bar}] {line}   ");
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("  migrating {step}: {line}");
            }
        };
        let r: SimReport =
            simulate_with_progress(&reqs.requests, &self.cfg, &mut progress).map_err(|e| e.to_string())?;
        if show && tty {
            eprintln!();
        }
        Ok(Some(Migration {
            tasks: r.tasks,
            bytes: r.bytes,
            makespan_s: r.makespan_s,
            lower_bound_s: r.lower_bound_s,
            ratio: r.ratio,
            peak_rate_over_limit: r.peak_rate_over_limit,
        }))
    }
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
    migration: Option<Migration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detection: Option<Detection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    split: Option<SplitRow>,
}

/// How the failure detector saw the crashed host.
#[derive(Serialize, Clone, Copy)]
struct Detection {
    suspected_after_s: f64,
    dead_after_s: f64,
    false_deaths: u64,
}

/// What the partition detector decided while a zone was cut off.
#[derive(Serialize, Clone)]
struct SplitRow {
    /// (members, mode, leader) per component during the split.
    components: Vec<(usize, String, Option<u64>)>,
    recovered_nodes: usize,
    longest_out_s: f64,
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
        migration: None,
        detection: None,
        split: None,
    }
}

/// Applies a map change as a running cluster would (pin, then balance), migrates the moves,
/// and returns the row.
fn change(
    step: &str,
    p: &mut Placement,
    rule: &Rule,
    pgs: u32,
    old: &Topology,
    new: &Topology,
    mig: &Mig,
) -> Result<Row, String> {
    let start = Instant::now();
    let before = p.clone();
    p.update(new, UpdatePolicy::Pin).map_err(|e| e.to_string())?;
    balance_fully(p, new)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let plan = before.plan_to(p).map_err(|e| e.to_string())?;
    let a = Placement::compute(old, rule, pgs).map_err(|e| e.to_string())?;
    let b = Placement::compute(new, rule, pgs).map_err(|e| e.to_string())?;
    let rehash = a.plan_to(&b).map_err(|e| e.to_string())?;
    let mut r = row(step, &p.report(), plan.moved_fraction, plan.optimal_fraction, Some(rehash.over_optimal()), ms);
    r.migration = mig.run(step, &before, &plan, old, new)?;
    Ok(r)
}

pub fn run(a: Args) -> Result<(), String> {
    let e = |x: trimtab::topology::TopologyError| x.to_string();
    let mig = Mig {
        pg_bytes: crate::units::parse_bytes("--pg-bytes", &a.pg_bytes)?,
        cfg: SimConfig {
            node_bandwidth: crate::units::parse_bytes("--node-bandwidth", &a.node_bandwidth)?,
            ..SimConfig::default()
        },
        show: !a.json,
        tty: std::io::stderr().is_terminal(),
    };
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
    rows.push(change("rack added", &mut p, &rule, a.pgs, &t0, &t1, &mig)?);

    // A host leaves (its 12 devices are removed).
    let mut t2 = t1.clone();
    let host = t2.devices_in("host", "host1-2-3");
    t2.remove_devices(&host).map_err(e)?;
    rows.push(change("host removed", &mut p, &rule, a.pgs, &t1, &t2, &mig)?);

    // A device fails and is marked out.
    let mut t3 = t2.clone();
    let dev = t3.devices_in("host", "host2-1-5").first().copied().ok_or("no device to fail")?;
    t3.mark_down(dev).map_err(e)?;
    t3.mark_out(dev).map_err(e)?;
    rows.push(change("device failed", &mut p, &rule, a.pgs, &t2, &t3, &mig)?);

    // A host crashes: heartbeats stop, the failure detector declares it dead, its devices
    // are marked down and out, and its shards are rebuilt from the survivors.
    let nodes = node_ids(&[&t3]);
    let victim_host = "host0-3-2";
    let victim_devices = t3.devices_in("host", victim_host);
    let victim = *victim_devices.first().and_then(|d| nodes.get(d)).ok_or("no host to fail")?;
    let mut all_nodes: Vec<u32> = nodes.values().copied().collect();
    all_nodes.sort_unstable();
    all_nodes.dedup();
    let (suspected, dead, false_deaths) = crate::story_health::detect_crash(&all_nodes, victim, 600)?;
    let mut t4 = t3.clone();
    for &d in &victim_devices {
        t4.mark_down(d).map_err(e)?;
        t4.mark_out(d).map_err(e)?;
    }
    let mut r = change("host failed", &mut p, &rule, a.pgs, &t3, &t4, &mig)?;
    r.detection = Some(Detection { suspected_after_s: suspected, dead_after_s: dead, false_deaths });
    rows.push(r);

    // Zone 2 is cut off from zones 0 and 1 for five minutes, then the network heals.
    let island: Vec<u32> = t4
        .devices()
        .iter()
        .filter(|d| d.location[0] == "zone2")
        .filter_map(|d| nodes.get(&d.id).copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let start = Instant::now();
    let sp = crate::story_health::split(&all_nodes, &island, 60, 360)?;
    let mut r = row("network split", &p.report(), 0.0, 0.0, None, start.elapsed().as_secs_f64() * 1e3);
    r.split =
        Some(SplitRow { components: sp.components, recovered_nodes: sp.recovered, longest_out_s: sp.longest_out_s });
    rows.push(r);

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
    for r in &rows {
        if let Some(d) = &r.detection {
            println!(
                "\n{}: heartbeats from {victim_host} stopped; suspected after {:.1} s, declared dead after {:.1} s ({} false deaths among the others); its devices went down and out and its shards were rebuilt from the survivors.",
                r.step, d.suspected_after_s, d.dead_after_s, d.false_deaths
            );
        }
        if let Some(sp) = &r.split {
            println!("\n{}: zone2 ({} hosts) cut off from zones 0 and 1 for 300 s:", r.step, island.len());
            for (i, (n, mode, leader)) in sp.components.iter().enumerate() {
                let leader = leader.map_or("none".to_string(), |l| format!("node {l}"));
                println!("  component {}: {n} hosts, {mode}, leader {leader}", i + 1);
            }
            println!(
                "  healed: {} hosts recovered (out of service for up to {:.0} s) and are to be resynced",
                sp.recovered_nodes, sp.longest_out_s
            );
        }
    }
    println!(
        "\nmigration of each change ({} per PG, {}/s per host each way, 4 moves per host, 64 MiB chunks):",
        human_bytes(mig.pg_bytes as f64),
        human_bytes(mig.cfg.node_bandwidth as f64)
    );
    println!(
        "{:<18} {:>7} {:>11} {:>10} {:>11} {:>9} {:>10}",
        "step", "tasks", "data", "makespan", "lower bound", "ratio", "peak/limit"
    );
    for r in &rows {
        if let Some(m) = &r.migration {
            println!(
                "{:<18} {:>7} {:>11} {:>10} {:>11} {:>9.4} {:>10.3}",
                r.step,
                m.tasks,
                human_bytes(m.bytes as f64),
                human_secs(m.makespan_s),
                human_secs(m.lower_bound_s),
                m.ratio,
                m.peak_rate_over_limit
            );
        }
    }
    Ok(())
}
