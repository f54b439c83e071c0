//! Migration simulation: runs a plan of moves through the [`Scheduler`] and its throttle in
//! simulated time, with a host that copies every granted byte within one tick, and reports
//! the makespan against the lower bound and the peak rate any bucket reached.
//!
//! The lower bound is the largest, over nodes, of bytes out over outbound bandwidth and
//! bytes in over inbound bandwidth (and the total over the global rate when one is set).
//! The peak is measured over whole 1-second windows of granted bytes, per node direction and
//! globally, divided by the bucket's rate.

#![forbid(unsafe_code)]

use super::{Event, MigrationError, MoveRequest, Scheduler, SchedulerConfig, TaskId, TaskKind};
use crate::throttle::{Limit, MAX_BURST, MAX_RATE};
use crate::time::{Time, NANOS_PER_SEC};
use std::collections::BTreeMap;

/// Parameters of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    /// Every node's outbound and inbound bandwidth, bytes per second.
    pub node_bandwidth: u64,
    /// Cluster-wide limit, bytes per second (`None`: unlimited).
    pub global_rate: Option<u64>,
    /// Chunk size in bytes.
    pub chunk_bytes: u64,
    /// Concurrent moves per node, each direction.
    pub max_moves_per_node: u32,
    /// Simulated tick, nanoseconds.
    pub tick_ns: u64,
    /// Give up after this much simulated time, nanoseconds.
    pub max_time_ns: u64,
    /// The scheduler's critical-path-first tie-breaking (`false`: plain greedy).
    pub critical_first: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            node_bandwidth: 100 << 20,
            global_rate: None,
            chunk_bytes: 64 << 20,
            max_moves_per_node: 4,
            tick_ns: 100_000_000,
            max_time_ns: 30 * 86_400 * NANOS_PER_SEC,
            critical_first: true,
        }
    }
}

/// What a simulation found.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimReport {
    /// Time from the start until the last task completed, seconds.
    pub makespan_s: f64,
    /// The lower bound, seconds.
    pub lower_bound_s: f64,
    /// `makespan_s / lower_bound_s`.
    pub ratio: f64,
    /// One chunk's time at the node bandwidth, seconds (the allowance on balanced plans).
    pub chunk_s: f64,
    /// The highest bytes-per-second any bucket reached over a whole 1-second window,
    /// divided by its rate.
    pub peak_rate_over_limit: f64,
    /// The most `peak_rate_over_limit` may be by the buckets' guarantee: 1 + burst / rate
    /// over one second (the sim gives each bucket two ticks' worth of burst).
    pub peak_allowed: f64,
    /// Tasks in the plan.
    pub tasks: u64,
    /// Tasks completed.
    pub completed: u64,
    /// Bytes in the plan.
    pub bytes: u64,
    /// Nodes in the plan.
    pub nodes: u64,
}

struct Windows {
    win: u64,
    cur: BTreeMap<(u8, u32), u64>,
    peak: f64,
}

impl Windows {
    fn add(&mut self, w: u64, key: (u8, u32), bytes: u64, rates: &impl Fn((u8, u32)) -> u64) {
        if w != self.win {
            self.close(rates);
            self.win = w;
        }
        *self.cur.entry(key).or_insert(0) += bytes;
    }
    fn close(&mut self, rates: &impl Fn((u8, u32)) -> u64) {
        for (&k, &b) in &self.cur {
            let r = rates(k).max(1) as f64;
            self.peak = self.peak.max(b as f64 / r);
        }
        self.cur.clear();
    }
}

/// Where a running simulation stands, reported once per simulated second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimProgress {
    /// Simulated seconds since the start.
    pub now_s: f64,
    /// Bytes copied so far.
    pub bytes_done: u64,
    /// Bytes in the plan.
    pub bytes_total: u64,
    /// Bytes per second over the last simulated second.
    pub rate: f64,
    /// Seconds left at that rate (infinite when nothing moved in the last second).
    pub eta_s: f64,
    /// Tasks finished.
    pub tasks_done: u64,
    /// Tasks in the plan.
    pub tasks_total: u64,
}

/// Runs `plan` and reports. Errors when the configuration or a move is invalid.
pub fn simulate(plan: &[MoveRequest], cfg: &SimConfig) -> Result<SimReport, MigrationError> {
    simulate_with_progress(plan, cfg, &mut |_| {})
}

/// As [`simulate`], calling `progress` once per simulated second (for a progress bar).
pub fn simulate_with_progress(
    plan: &[MoveRequest],
    cfg: &SimConfig,
    progress: &mut dyn FnMut(&SimProgress),
) -> Result<SimReport, MigrationError> {
    if cfg.tick_ns == 0 || cfg.node_bandwidth == 0 || cfg.node_bandwidth > MAX_RATE {
        return Err(MigrationError::InvalidArgument("tick and node bandwidth must be positive and in range"));
    }
    // Two ticks' worth of burst: one tick's refill plus room for tokens a finishing chunk
    // left unused in the tick before; it is also the most a 1-second window can overshoot.
    let burst =
        |rate: u64| ((rate as u128 * 2 * cfg.tick_ns as u128 / NANOS_PER_SEC as u128) as u64).clamp(1, MAX_BURST);
    let node = Limit::new(cfg.node_bandwidth, burst(cfg.node_bandwidth));
    let mut sc = SchedulerConfig {
        node_out: node,
        node_in: node,
        max_out_per_node: cfg.max_moves_per_node,
        max_in_per_node: cfg.max_moves_per_node,
        chunk_bytes: cfg.chunk_bytes,
        tick_interval_ns: cfg.tick_ns,
        critical_first: cfg.critical_first,
        max_tasks: (plan.len() as u32).saturating_add(16).min(u32::MAX / 4),
        max_events: (plan.len() as u32).saturating_mul(4).saturating_add(64).min(u32::MAX / 4),
        ..SchedulerConfig::default()
    };
    sc.max_running = cfg.max_moves_per_node.saturating_mul(plan.len().min(1 << 20) as u32).max(1);
    if let Some(g) = cfg.global_rate {
        sc.throttle.global = Limit::new(g, burst(g));
    }
    sc.throttle.max_nodes = u32::MAX;
    let mut s = Scheduler::new(sc, Time::ZERO)?;
    s.reserve_tasks(plan.len());

    let mut out_b: BTreeMap<u32, u64> = BTreeMap::new();
    let mut in_b: BTreeMap<u32, u64> = BTreeMap::new();
    let mut total = 0u64;
    for r in plan {
        *out_b.entry(r.from_node).or_default() += r.bytes;
        *in_b.entry(r.to_node).or_default() += r.bytes;
        total = total.saturating_add(r.bytes);
    }
    let bw = cfg.node_bandwidth as f64;
    let mut lb = out_b.values().chain(in_b.values()).map(|&b| b as f64 / bw).fold(0.0, f64::max);
    if let Some(g) = cfg.global_rate {
        lb = lb.max(total as f64 / g as f64);
    }
    let mut nodes: Vec<u32> = out_b.keys().chain(in_b.keys()).copied().collect();
    nodes.sort_unstable();
    nodes.dedup();

    let ids = s.push_plan(plan.iter().copied(), Time::ZERO).map_err(|(_, e)| e)?;
    let live_target = ids.len() as u64;
    let mut done: BTreeMap<TaskId, u64> = BTreeMap::new();
    let mut inflight: Vec<(TaskId, u64)> = Vec::new();
    let mut finished = 0u64;
    let mut last_done = 0u64;
    let global_rate = cfg.global_rate.unwrap_or(u64::MAX);
    let rates = |k: (u8, u32)| {
        if k.0 == 2 {
            global_rate
        } else {
            cfg.node_bandwidth
        }
    };
    let mut win = Windows { win: 0, cur: BTreeMap::new(), peak: 0.0 };
    let task_nodes: BTreeMap<TaskId, (u32, u32)> =
        ids.iter().zip(plan).map(|(&id, r)| (id, (r.from_node, r.to_node))).collect();
    let mut now = 0u64;
    let (mut copied, mut copied_at_last_second, mut next_second) = (0u64, 0u64, NANOS_PER_SEC);
    while finished < live_target {
        if now > cfg.max_time_ns {
            break;
        }
        // The bytes granted last tick were copied during it.
        for (id, b) in inflight.drain(..) {
            let d = done.entry(id).or_insert(0);
            *d += b;
            s.report_progress(id, *d, Time(now))?;
        }
        s.tick(Time(now));
        while let Some(e) = s.poll_event() {
            match e {
                Event::Completed { id } => {
                    finished += 1;
                    last_done = now;
                    done.remove(&id);
                }
                Event::Failed { .. } | Event::Cancelled { .. } | Event::Superseded { .. } => finished += 1,
                _ => {}
            }
        }
        let w = now / NANOS_PER_SEC;
        while let Some(g) = s.poll_grant() {
            inflight.push((g.id, g.bytes));
            copied = copied.saturating_add(g.bytes);
            if let Some(&(a, b)) = task_nodes.get(&g.id) {
                win.add(w, (0, a), g.bytes, &rates);
                win.add(w, (1, b), g.bytes, &rates);
                win.add(w, (2, 0), g.bytes, &rates);
            }
        }
        now += cfg.tick_ns;
        if now >= next_second {
            let rate = (copied - copied_at_last_second) as f64;
            let left = total.saturating_sub(copied) as f64;
            progress(&SimProgress {
                now_s: now as f64 / NANOS_PER_SEC as f64,
                bytes_done: copied,
                bytes_total: total,
                rate,
                eta_s: if rate > 0.0 { left / rate } else { f64::INFINITY },
                tasks_done: finished,
                tasks_total: live_target,
            });
            copied_at_last_second = copied;
            next_second = next_second.saturating_add(NANOS_PER_SEC);
        }
    }
    win.close(&rates);
    let makespan = last_done as f64 / NANOS_PER_SEC as f64;
    Ok(SimReport {
        makespan_s: makespan,
        lower_bound_s: lb,
        ratio: if lb > 0.0 { makespan / lb } else { 1.0 },
        chunk_s: cfg.chunk_bytes as f64 / bw,
        peak_rate_over_limit: win.peak,
        peak_allowed: 1.0 + 2.0 * cfg.tick_ns as f64 / NANOS_PER_SEC as f64,
        tasks: plan.len() as u64,
        completed: s.status().completed,
        bytes: total,
        nodes: nodes.len() as u64,
    })
}

/// The shapes of synthetic plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Synthetic {
    /// One host leaves: everything on node 0 moves to the others.
    Decommission,
    /// One empty host joins: every other node sends it a share.
    ScaleOut,
    /// One node is the source of half the bytes; the rest move between the others.
    HotSource,
    /// Every node sends to every other node (balanced).
    AllToAll,
}

impl Synthetic {
    /// Parses `decommission`, `scale-out`, `hot-source` or `all-to-all`.
    pub fn parse(s: &str) -> Option<Synthetic> {
        Some(match s {
            "decommission" => Synthetic::Decommission,
            "scale-out" => Synthetic::ScaleOut,
            "hot-source" => Synthetic::HotSource,
            "all-to-all" => Synthetic::AllToAll,
            _ => return None,
        })
    }
    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Synthetic::Decommission => "decommission",
            Synthetic::ScaleOut => "scale-out",
            Synthetic::HotSource => "hot-source",
            Synthetic::AllToAll => "all-to-all",
        }
    }
    /// All four shapes.
    pub const ALL: [Synthetic; 4] =
        [Synthetic::Decommission, Synthetic::ScaleOut, Synthetic::HotSource, Synthetic::AllToAll];
}

/// A deterministic synthetic plan on `nodes` nodes (at least 3) with shards of about
/// `shard_bytes` (sizes vary from ½× to 1½× by a seeded hash).
pub fn synthetic_plan(kind: Synthetic, nodes: u32, shard_bytes: u64, seed: u64) -> Vec<MoveRequest> {
    let n = nodes.max(3);
    let mut plan = Vec::new();
    let mut pg = 0u32;
    let mut add = |plan: &mut Vec<MoveRequest>, from: u32, to: u32| {
        let h = crate::hash::hash2(seed, pg as u64, 0x5eed);
        let bytes = (shard_bytes / 2).saturating_add(((h % 1000) as u128 * shard_bytes as u128 / 1000) as u64).max(1);
        let mut r = MoveRequest::new(
            pg,
            (h >> 60) as u8 & 3,
            (from, from * 16 + (h as u32 & 15)),
            (to, to * 16 + ((h >> 8) as u32 & 15)),
            bytes,
        );
        r.kind = TaskKind::Rebalance;
        plan.push(r);
        pg += 1;
    };
    match kind {
        Synthetic::Decommission => {
            // Node 0 held ~32 shards per other node.
            for i in 0..32 * (n - 1) {
                add(&mut plan, 0, 1 + i % (n - 1));
            }
        }
        Synthetic::ScaleOut => {
            for i in 0..32 * (n - 1) {
                add(&mut plan, i % (n - 1), n - 1);
            }
        }
        Synthetic::HotSource => {
            for i in 0..16 * (n - 1) {
                add(&mut plan, 0, 1 + i % (n - 1));
            }
            for i in 0..16 * (n - 1) {
                let from = 1 + i % (n - 1);
                let to = 1 + (i / (n - 1) + from) % (n - 1);
                if to != from {
                    add(&mut plan, from, to);
                }
            }
        }
        Synthetic::AllToAll => {
            for rep in 0..2 {
                for s in 0..n {
                    for k in 1..n {
                        let _ = rep;
                        add(&mut plan, s, (s + k) % n);
                    }
                }
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_decommission_meets_the_bound() {
        let plan = synthetic_plan(Synthetic::Decommission, 8, 64 << 20, 1);
        let r = simulate(&plan, &SimConfig::default()).unwrap();
        assert_eq!(r.completed, r.tasks);
        assert!(r.ratio <= 1.02, "{r:?}");
        assert!(r.ratio >= 0.999, "{r:?}");
    }

    #[test]
    fn rejects_bad_config() {
        let cfg = SimConfig { node_bandwidth: 0, ..SimConfig::default() };
        assert!(simulate(&[], &cfg).is_err());
    }
}
