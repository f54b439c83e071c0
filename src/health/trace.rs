//! Heartbeat traces: a deterministic generator and a replayer that scores any detector.
//!
//! The generator ([`TraceConfig`], [`NodeTrace`], [`Trace`]) produces, from a seed and
//! [`crate::hash`] only, the arrival times of heartbeats from a fleet: a fixed-rate sender
//! (1 s by default) behind a FIFO link with latency jitter (~60 ms), 0.1% loss, garbage-
//! collection-like pauses of 0.3–4 s every few minutes (the sender stops; the heartbeats it
//! missed are coalesced into one sent when it resumes), and true crashes (the node falls
//! silent for 1–10 minutes, then restarts). Each node draws its own pause profile: how
//! often it pauses and the longest pause its heap produces (uniform in the pause range),
//! because in real fleets pause lengths are a property of the process, not of the fleet.
//! `homogeneous_pauses` gives every node the full range instead.
//!
//! The replayer ([`replay`], [`evaluate`]) drives a [`TraceDetector`] (this crate's
//! [`FailureDetector`], or a baseline: [`FixedTimeout`], [`AkkaPhi`]) through a trace,
//! ticking exactly at the detector's deadlines, and scores it:
//!
//! * a **false suspicion** (mistake) is a `Dead` verdict while the node was in fact up;
//! * a **suspect entry** is a `Suspect` verdict while the node was up (not a mistake);
//! * a crash's **detection time** runs from the crash to the first `Dead` verdict; a crash
//!   with no `Dead` verdict before the node restarts (or the trace ends) is **missed**.
//!
//! A crash line in a trace comes after the node's last pre-crash heartbeat has arrived, so
//! an in-flight heartbeat is never mistaken for a restart.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BinaryHeap};

use serde::Serialize;

use super::{DetectorConfig, FailureDetector, NodeEventKind};
use crate::hash::hash2;
use crate::time::{Time, NANOS_PER_MILLI, NANOS_PER_SEC};

/// One line of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TraceEvent {
    /// When (nanoseconds).
    pub time: Time,
    /// Which node.
    pub node: u64,
    /// A heartbeat arrival, or the node crashing.
    pub kind: TraceEventKind,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TraceEventKind {
    /// A heartbeat arrived.
    Heartbeat,
    /// The node crashed (ground truth: it is down until its next heartbeat).
    Crash,
}

/// Parameters of a generated trace. Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    /// Nodes (ids 0..nodes).
    pub nodes: u32,
    /// Trace length.
    pub duration_ns: u64,
    /// Seed of every draw.
    pub seed: u64,
    /// Heartbeat period of the sender.
    pub interval_ns: u64,
    /// Mean one-way latency.
    pub latency_ns: u64,
    /// Standard deviation of the latency (the jitter).
    pub jitter_ns: u64,
    /// Heartbeats lost, per million.
    pub loss_per_million: u32,
    /// Shortest pause.
    pub pause_min_ns: u64,
    /// Longest pause.
    pub pause_max_ns: u64,
    /// Mean time between pauses is drawn per node in this range...
    pub pause_every_min_ns: u64,
    /// ...up to this.
    pub pause_every_max_ns: u64,
    /// Every node may pause up to `pause_max_ns` (otherwise each node draws its own
    /// longest pause in the range).
    pub homogeneous_pauses: bool,
    /// Mean time between crashes of one node (0: no crashes).
    pub crash_every_ns: u64,
    /// Shortest outage after a crash.
    pub down_min_ns: u64,
    /// Longest outage after a crash.
    pub down_max_ns: u64,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            nodes: 10,
            duration_ns: 7 * 24 * 3600 * NANOS_PER_SEC,
            seed: 1,
            interval_ns: NANOS_PER_SEC,
            latency_ns: 200 * NANOS_PER_MILLI,
            jitter_ns: 60 * NANOS_PER_MILLI,
            loss_per_million: 1_000,
            pause_min_ns: 300 * NANOS_PER_MILLI,
            pause_max_ns: 4 * NANOS_PER_SEC,
            pause_every_min_ns: 120 * NANOS_PER_SEC,
            pause_every_max_ns: 600 * NANOS_PER_SEC,
            homogeneous_pauses: false,
            crash_every_ns: 12 * 3600 * NANOS_PER_SEC,
            down_min_ns: 60 * NANOS_PER_SEC,
            down_max_ns: 600 * NANOS_PER_SEC,
        }
    }
}

/// The events of one node, in time order (an iterator; O(1) memory).
#[derive(Debug, Clone)]
pub struct NodeTrace {
    node: u64,
    seed: u64,
    draws: u64,
    cfg: TraceConfig,
    pause_cap: u64,
    pause_every: u64,
    next_send: u64,
    next_pause: u64,
    next_crash: u64,
    last_arrival: u64,
    pending_crash: Option<u64>,
}

impl NodeTrace {
    /// The stream of `node` under `cfg`.
    pub fn new(cfg: &TraceConfig, node: u64) -> Self {
        let mut t = NodeTrace {
            node,
            seed: hash2(cfg.seed, node, 0x0074_7261_6365),
            draws: 0,
            cfg: cfg.clone(),
            pause_cap: cfg.pause_max_ns,
            pause_every: 0,
            next_send: 0,
            next_pause: u64::MAX,
            next_crash: u64::MAX,
            last_arrival: 0,
            pending_crash: None,
        };
        if !cfg.homogeneous_pauses {
            t.pause_cap = t.uniform(cfg.pause_min_ns, cfg.pause_max_ns);
        }
        t.pause_every = t.uniform(cfg.pause_every_min_ns, cfg.pause_every_max_ns);
        t.next_send = t.uniform(0, cfg.interval_ns.max(1) - 1);
        t.next_pause = t.next_send.saturating_add(t.gap(t.pause_every));
        t.next_crash =
            if cfg.crash_every_ns == 0 { u64::MAX } else { t.next_send.saturating_add(t.gap(cfg.crash_every_ns)) };
        t
    }

    /// The longest pause this node can take.
    pub fn pause_cap_ns(&self) -> u64 {
        self.pause_cap
    }

    fn unit(&mut self) -> f64 {
        self.draws += 1;
        (hash2(self.seed, self.node, self.draws) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.unit() * (hi - lo) as f64) as u64
    }

    /// A gap with the given mean, uniform in [mean/2, 3 mean/2] (no logarithm, so every
    /// platform draws the same trace).
    fn gap(&mut self, mean: u64) -> u64 {
        self.uniform(mean / 2, mean.saturating_add(mean / 2)).max(1)
    }

    fn latency(&mut self) -> u64 {
        // Irwin–Hall with four terms: mean 0, variance 1, bounded by ±3.46.
        let z = (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 3f64.sqrt();
        let l = self.cfg.latency_ns as f64 + z * self.cfg.jitter_ns as f64;
        l.max(self.cfg.latency_ns as f64 / 10.0) as u64
    }
}

impl Iterator for NodeTrace {
    type Item = TraceEvent;

    fn next(&mut self) -> Option<TraceEvent> {
        loop {
            if let Some(c) = self.pending_crash.take() {
                return Some(TraceEvent { time: Time(c), node: self.node, kind: TraceEventKind::Crash });
            }
            if self.next_send >= self.cfg.duration_ns {
                return None;
            }
            if self.next_crash <= self.next_send {
                let c = self.next_crash.max(self.last_arrival + 1);
                let down = self.uniform(self.cfg.down_min_ns, self.cfg.down_max_ns);
                let restart = c.saturating_add(down);
                self.next_send = restart;
                self.next_crash = restart.saturating_add(self.gap(self.cfg.crash_every_ns));
                if self.next_pause < restart {
                    self.next_pause = restart.saturating_add(self.gap(self.pause_every));
                }
                self.last_arrival = c;
                if c < self.cfg.duration_ns {
                    return Some(TraceEvent { time: Time(c), node: self.node, kind: TraceEventKind::Crash });
                }
                return None;
            }
            let mut send = self.next_send;
            if self.next_pause <= send {
                // The sender is frozen for the pause; what it missed goes out at once when it
                // resumes, then the fixed-rate schedule continues.
                let len = self.uniform(self.cfg.pause_min_ns, self.pause_cap);
                let resume = self.next_pause.saturating_add(len);
                if resume > send {
                    send = resume;
                    let iv = self.cfg.interval_ns.max(1);
                    let k = (resume - self.next_send) / iv + 1;
                    self.next_send = self.next_send.saturating_add(k.saturating_mul(iv));
                } else {
                    self.next_send = send.saturating_add(self.cfg.interval_ns.max(1));
                }
                self.next_pause = resume.saturating_add(self.gap(self.pause_every));
            } else {
                self.next_send = send.saturating_add(self.cfg.interval_ns.max(1));
            }
            let lost = (self.unit() * 1e6) < f64::from(self.cfg.loss_per_million);
            let lat = self.latency();
            if lost {
                continue;
            }
            // A FIFO link: a heartbeat never overtakes the previous one.
            let arrival = send.saturating_add(lat).max(self.last_arrival + 1);
            self.last_arrival = arrival;
            if arrival >= self.cfg.duration_ns {
                continue;
            }
            return Some(TraceEvent { time: Time(arrival), node: self.node, kind: TraceEventKind::Heartbeat });
        }
    }
}

/// The whole fleet's events merged in time order (ties by node id).
pub struct Trace {
    streams: Vec<NodeTrace>,
    heap: BinaryHeap<std::cmp::Reverse<(TraceEvent, usize)>>,
}

impl Trace {
    /// The merged trace of `cfg.nodes` nodes.
    pub fn new(cfg: &TraceConfig) -> Self {
        let mut streams: Vec<NodeTrace> = (0..u64::from(cfg.nodes)).map(|n| NodeTrace::new(cfg, n)).collect();
        let mut heap = BinaryHeap::new();
        for (i, s) in streams.iter_mut().enumerate() {
            if let Some(e) = s.next() {
                heap.push(std::cmp::Reverse((e, i)));
            }
        }
        Trace { streams, heap }
    }
}

impl Iterator for Trace {
    type Item = TraceEvent;
    fn next(&mut self) -> Option<TraceEvent> {
        let std::cmp::Reverse((e, i)) = self.heap.pop()?;
        if let Some(n) = self.streams.get_mut(i).and_then(Iterator::next) {
            self.heap.push(std::cmp::Reverse((n, i)));
        }
        Some(e)
    }
}

/// A verdict a detector reached about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Suspected (a warning).
    Suspect,
    /// Declared dead (a conviction).
    Dead,
    /// Back alive.
    Alive,
}

/// What the replayer needs from a detector. Implemented by [`FailureDetector`] and by the
/// baselines; the benchmarks implement it for peer crates.
pub trait TraceDetector {
    /// A short label for tables.
    fn label(&self) -> String;
    /// A node appears (its first heartbeat follows at the same `now`).
    fn add_node(&mut self, node: u64, now: Time);
    /// A heartbeat arrived; verdicts it causes go to `out`.
    fn heartbeat(&mut self, node: u64, now: Time, out: &mut Vec<(u64, Verdict)>);
    /// Time passes; verdicts go to `out`.
    fn tick(&mut self, now: Time, out: &mut Vec<(u64, Verdict)>);
    /// When the next `tick` may give a verdict.
    fn next_deadline(&self) -> Option<Time>;
}

impl TraceDetector for FailureDetector {
    fn label(&self) -> String {
        if self.config().learn_pauses {
            format!("trimtab (phi {})", self.config().threshold)
        } else {
            format!("trimtab no-learning (phi {})", self.config().threshold)
        }
    }
    fn add_node(&mut self, node: u64, now: Time) {
        let _ = FailureDetector::add_node(self, node, now);
    }
    fn heartbeat(&mut self, node: u64, now: Time, out: &mut Vec<(u64, Verdict)>) {
        let _ = FailureDetector::heartbeat(self, node, now);
        drain(self, out);
    }
    fn tick(&mut self, now: Time, out: &mut Vec<(u64, Verdict)>) {
        FailureDetector::tick(self, now);
        drain(self, out);
    }
    fn next_deadline(&self) -> Option<Time> {
        FailureDetector::next_deadline(self)
    }
}

fn drain(d: &mut FailureDetector, out: &mut Vec<(u64, Verdict)>) {
    while let Some(e) = d.poll_event() {
        let v = match e.kind {
            NodeEventKind::Suspected => Verdict::Suspect,
            NodeEventKind::Dead => Verdict::Dead,
            NodeEventKind::Cleared | NodeEventKind::Recovered => Verdict::Alive,
        };
        out.push((e.node, v));
    }
}

/// A fixed timeout: dead `timeout` after the last heartbeat, alive at the next one.
#[derive(Debug, Clone)]
pub struct FixedTimeout {
    /// The timeout.
    pub timeout_ns: u64,
    last: BTreeMap<u64, (u64, bool)>,
}

impl FixedTimeout {
    /// A fixed-timeout detector.
    pub fn new(timeout_ns: u64) -> Self {
        FixedTimeout { timeout_ns, last: BTreeMap::new() }
    }
}

impl TraceDetector for FixedTimeout {
    fn label(&self) -> String {
        format!("fixed timeout {} s", self.timeout_ns as f64 / 1e9)
    }
    fn add_node(&mut self, node: u64, now: Time) {
        self.last.insert(node, (now.as_nanos(), false));
    }
    fn heartbeat(&mut self, node: u64, now: Time, out: &mut Vec<(u64, Verdict)>) {
        let e = self.last.entry(node).or_insert((now.as_nanos(), false));
        if e.1 {
            out.push((node, Verdict::Alive));
        }
        *e = (now.as_nanos(), false);
    }
    fn tick(&mut self, now: Time, out: &mut Vec<(u64, Verdict)>) {
        for (node, (last, dead)) in self.last.iter_mut() {
            if !*dead && now.as_nanos() >= last.saturating_add(self.timeout_ns) {
                *dead = true;
                out.push((*node, Verdict::Dead));
            }
        }
    }
    fn next_deadline(&self) -> Option<Time> {
        self.last.values().filter(|(_, d)| !d).map(|(l, _)| Time(l.saturating_add(self.timeout_ns))).min()
    }
}

/// A faithful transcription of Akka's `PhiAccrualFailureDetector` (threshold, max sample
/// size, min std-dev, acceptable heartbeat pause, first-heartbeat estimate; the history is
/// seeded with `mean ± mean/4`; an interval is recorded only while the node is available;
/// phi from the logistic approximation of the normal tail). Dead while `phi >= threshold`.
#[derive(Debug, Clone)]
pub struct AkkaPhi {
    /// Phi threshold (Akka default 8).
    pub threshold: f64,
    /// Max sample size (Akka default 1000).
    pub max_samples: usize,
    /// Min std-dev in ms (Akka default 100).
    pub min_std_ms: f64,
    /// Acceptable heartbeat pause in ms (Akka default 3000).
    pub pause_ms: f64,
    /// First heartbeat estimate in ms (Akka default 1000).
    pub first_ms: f64,
    y: f64,
    nodes: BTreeMap<u64, AkkaNode>,
}

#[derive(Debug, Clone)]
struct AkkaNode {
    last_ms: f64,
    intervals: std::collections::VecDeque<f64>,
    sum: f64,
    sq: f64,
    dead: bool,
}

impl AkkaPhi {
    /// Akka's defaults.
    pub fn defaults() -> Self {
        Self::with(8.0, 3000.0)
    }
    /// Akka's formula with another threshold and acceptable pause (ms).
    pub fn with(threshold: f64, pause_ms: f64) -> Self {
        AkkaPhi {
            threshold,
            max_samples: 1000,
            min_std_ms: 100.0,
            pause_ms,
            first_ms: 1000.0,
            y: phi_y(threshold),
            nodes: BTreeMap::new(),
        }
    }
    fn deadline_ms(&self, n: &AkkaNode) -> f64 {
        let len = n.intervals.len().max(1) as f64;
        let mean = n.sum / len;
        let var = (n.sq / len - mean * mean).max(0.0);
        let std = var.sqrt().max(self.min_std_ms);
        n.last_ms + mean + self.pause_ms + self.y * std
    }
    fn deadline_ns(&self, n: &AkkaNode) -> u64 {
        (self.deadline_ms(n) * 1e6).ceil().max(0.0) as u64
    }
}

/// `y` where Akka's logistic tail reaches `phi`.
pub fn phi_y(phi: f64) -> f64 {
    let f = |y: f64| {
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        let p = if y > 0.0 { e / (1.0 + e) } else { 1.0 - 1.0 / (1.0 + e) };
        -p.log10()
    };
    let (mut lo, mut hi) = (-10.0f64, 40.0f64);
    for _ in 0..100 {
        let m = 0.5 * (lo + hi);
        if f(m) < phi {
            lo = m
        } else {
            hi = m
        }
    }
    hi
}

impl TraceDetector for AkkaPhi {
    fn label(&self) -> String {
        format!("Akka phi {} (pause {:.1} s)", self.threshold, self.pause_ms / 1000.0)
    }
    fn add_node(&mut self, node: u64, now: Time) {
        let std = self.first_ms / 4.0;
        let mut intervals = std::collections::VecDeque::new();
        intervals.push_back(self.first_ms - std);
        intervals.push_back(self.first_ms + std);
        let sum = 2.0 * self.first_ms;
        let sq = (self.first_ms - std).powi(2) + (self.first_ms + std).powi(2);
        self.nodes.insert(node, AkkaNode { last_ms: now.as_nanos() as f64 / 1e6, intervals, sum, sq, dead: false });
    }
    fn heartbeat(&mut self, node: u64, now: Time, out: &mut Vec<(u64, Verdict)>) {
        let t = now.as_nanos() as f64 / 1e6;
        let max = self.max_samples;
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if n.dead {
            n.dead = false;
            out.push((node, Verdict::Alive));
        } else {
            let iv = t - n.last_ms;
            if n.intervals.len() >= max {
                if let Some(old) = n.intervals.pop_front() {
                    n.sum -= old;
                    n.sq -= old * old;
                }
            }
            n.intervals.push_back(iv);
            n.sum += iv;
            n.sq += iv * iv;
        }
        n.last_ms = t;
    }
    fn tick(&mut self, now: Time, out: &mut Vec<(u64, Verdict)>) {
        // Compared in the same integer nanoseconds `next_deadline` announces, so that a
        // tick at the announced deadline always convicts.
        let dl: Vec<(u64, u64)> =
            self.nodes.iter().filter(|(_, n)| !n.dead).map(|(k, n)| (*k, self.deadline_ns(n))).collect();
        for (k, d) in dl {
            if now.as_nanos() >= d {
                if let Some(n) = self.nodes.get_mut(&k) {
                    n.dead = true;
                }
                out.push((k, Verdict::Dead));
            }
        }
    }
    fn next_deadline(&self) -> Option<Time> {
        self.nodes.values().filter(|n| !n.dead).map(|n| Time(self.deadline_ns(n))).min()
    }
}

/// The score of one node.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeReport {
    /// The node.
    pub node: u64,
    /// Suspect verdicts while the node was up (warnings, not mistakes).
    pub suspicions: u64,
    /// Dead verdicts while the node was up (mistakes).
    pub false_suspicions: u64,
    /// Crashes.
    pub crashes: u64,
    /// Detection time of each detected crash, milliseconds.
    pub detection_ms: Vec<f64>,
    /// Crashes with no Dead verdict before restart or the end of the trace.
    pub missed_crashes: u64,
    /// Hours the node was up.
    pub up_hours: f64,
}

/// The score of a detector on a trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The detector's label.
    pub detector: String,
    /// Per node, sorted by id.
    pub nodes: Vec<NodeReport>,
    /// Suspect entries while up, total.
    pub suspicions: u64,
    /// Dead verdicts while up, total (mistakes).
    pub false_suspicions: u64,
    /// Mistakes per node-hour of up time.
    pub false_suspicions_per_node_hour: f64,
    /// Crashes in the trace.
    pub crashes: u64,
    /// Mean detection time of the detected crashes, ms (0 with none).
    pub mean_detection_ms: f64,
    /// Largest detection time, ms.
    pub max_detection_ms: f64,
    /// Crashes never detected.
    pub missed_crashes: u64,
    /// Node-hours of up time.
    pub node_hours: f64,
}

impl ReplayReport {
    fn finish(mut self) -> Self {
        self.nodes.sort_by_key(|n| n.node);
        let mut all: Vec<f64> = Vec::new();
        self.suspicions = 0;
        self.false_suspicions = 0;
        self.crashes = 0;
        self.missed_crashes = 0;
        self.node_hours = 0.0;
        for n in &self.nodes {
            self.suspicions += n.suspicions;
            self.false_suspicions += n.false_suspicions;
            self.crashes += n.crashes;
            self.missed_crashes += n.missed_crashes;
            self.node_hours += n.up_hours;
            all.extend(&n.detection_ms);
        }
        self.mean_detection_ms = if all.is_empty() { 0.0 } else { all.iter().sum::<f64>() / all.len() as f64 };
        self.max_detection_ms = all.iter().copied().fold(0.0, f64::max);
        self.false_suspicions_per_node_hour =
            if self.node_hours > 0.0 { self.false_suspicions as f64 / self.node_hours } else { 0.0 };
        self
    }
}

#[derive(Default)]
struct Truth {
    report: NodeReport,
    up_since: Option<u64>,
    crash_at: Option<u64>,
    detected: bool,
    censored: bool,
}

/// Replays `events` (in time order) through `det`, ticking at every deadline the detector
/// announces, and scores it. Nodes are added at their first event. The replay runs one
/// minute past the last event so that a final crash can be detected.
pub fn replay<D: TraceDetector + ?Sized>(det: &mut D, events: impl IntoIterator<Item = TraceEvent>) -> ReplayReport {
    let mut truth: BTreeMap<u64, Truth> = BTreeMap::new();
    let mut out = Vec::new();
    let mut end = 0u64;
    let apply = |truth: &mut BTreeMap<u64, Truth>, out: &mut Vec<(u64, Verdict)>, at: u64| {
        for (node, v) in out.drain(..) {
            let Some(t) = truth.get_mut(&node) else {
                continue;
            };
            if t.censored {
                continue;
            }
            match (v, t.crash_at) {
                (Verdict::Dead, Some(c)) if !t.detected => {
                    t.detected = true;
                    t.report.detection_ms.push(at.saturating_sub(c) as f64 / 1e6);
                }
                (Verdict::Dead, None) => t.report.false_suspicions += 1,
                (Verdict::Suspect, None) => t.report.suspicions += 1,
                _ => {}
            }
        }
    };
    let run_ticks = |det: &mut D, truth: &mut BTreeMap<u64, Truth>, out: &mut Vec<(u64, Verdict)>, until: u64| {
        let mut last_tick = None;
        while let Some(d) = det.next_deadline() {
            // A detector whose deadline does not move past a tick at it would loop forever.
            if d.as_nanos() > until || last_tick.is_some_and(|l| d.as_nanos() <= l) {
                break;
            }
            last_tick = Some(d.as_nanos());
            det.tick(d, out);
            apply(truth, out, d.as_nanos());
        }
    };
    for e in events {
        let t = e.time.as_nanos();
        end = end.max(t);
        run_ticks(det, &mut truth, &mut out, t);
        let entry = truth.entry(e.node).or_insert_with(|| {
            det.add_node(e.node, e.time);
            Truth { report: NodeReport { node: e.node, ..Default::default() }, up_since: Some(t), ..Default::default() }
        });
        match e.kind {
            TraceEventKind::Crash => {
                if entry.crash_at.is_none() {
                    entry.crash_at = Some(t);
                    entry.detected = false;
                    entry.report.crashes += 1;
                    if let Some(s) = entry.up_since.take() {
                        entry.report.up_hours += t.saturating_sub(s) as f64 / 3.6e12;
                    }
                }
            }
            TraceEventKind::Heartbeat => {
                if entry.crash_at.take().is_some() {
                    if !entry.detected {
                        entry.report.missed_crashes += 1;
                    }
                    entry.up_since = Some(t);
                }
                det.heartbeat(e.node, e.time, &mut out);
                apply(&mut truth, &mut out, t);
            }
        }
    }
    // Past the last event the trace is censored: a node that is up there simply has no
    // more data, so only verdicts about crashed nodes count.
    for t in truth.values_mut() {
        t.censored = t.crash_at.is_none();
    }
    let stop = end.saturating_add(60 * NANOS_PER_SEC);
    run_ticks(det, &mut truth, &mut out, stop);
    let mut report = ReplayReport { detector: det.label(), ..Default::default() };
    for (_, mut t) in truth {
        if t.crash_at.is_some() && !t.detected {
            t.report.missed_crashes += 1;
        }
        if let Some(s) = t.up_since {
            t.report.up_hours += end.saturating_sub(s) as f64 / 3.6e12;
        }
        report.nodes.push(t.report);
    }
    report.finish()
}

/// Scores the detectors made by `make` on the trace of `cfg`, one node at a time (each node
/// gets a fresh detector, so memory stays O(1) however long the trace). Equivalent to a
/// fleet-wide replay for any detector whose nodes are independent, which all of these are.
pub fn evaluate<D: TraceDetector>(cfg: &TraceConfig, mut make: impl FnMut() -> D) -> ReplayReport {
    let mut total = ReplayReport::default();
    for node in 0..u64::from(cfg.nodes) {
        let mut det = make();
        let r = replay(&mut det, NodeTrace::new(cfg, node));
        total.detector = r.detector;
        total.nodes.extend(r.nodes);
    }
    total.finish()
}

/// Our detector with the default configuration and another conviction threshold.
pub fn trimtab_detector(threshold: f64) -> FailureDetector {
    let cfg = DetectorConfig { threshold, capacity: 1 << 20, ..DetectorConfig::default() };
    FailureDetector::new(cfg).unwrap_or_else(|_| {
        FailureDetector::new(DetectorConfig { capacity: 1 << 20, ..DetectorConfig::default() })
            .expect("default config is valid")
    })
}

/// Why a CSV trace was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for TraceParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Parses a CSV trace: `node,time_ns` per heartbeat, `node,time_ns,crash` per crash, sorted
/// by time. Blank lines and lines starting with `#` are skipped, as is a first line
/// `node,time_ns`.
pub fn parse_csv(text: &str) -> Result<Vec<TraceEvent>, TraceParseError> {
    let mut out = Vec::new();
    let mut last = 0u64;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || (out.is_empty() && l.starts_with("node")) {
            continue;
        }
        let err = |reason: String| TraceParseError { line, reason };
        let mut parts = l.split(',').map(str::trim);
        let node = parts.next().unwrap_or("");
        let node: u64 = node.parse().map_err(|_| err(format!("node id `{node}` is not an unsigned integer")))?;
        let time = parts.next().ok_or_else(|| err("missing time_ns".into()))?;
        let time: u64 = time.parse().map_err(|_| err(format!("time_ns `{time}` is not an unsigned integer")))?;
        let kind = match parts.next() {
            None | Some("") | Some("heartbeat") => TraceEventKind::Heartbeat,
            Some("crash") => TraceEventKind::Crash,
            Some(other) => return Err(err(format!("unknown event `{other}` (expected `crash`)"))),
        };
        if let Some(extra) = parts.next() {
            return Err(err(format!("unexpected field `{extra}`")));
        }
        if time < last {
            return Err(err(format!(
                "time {time} is before the previous line's {last}: the trace must be sorted by time"
            )));
        }
        last = time;
        out.push(TraceEvent { time: Time(time), node, kind });
    }
    Ok(out)
}

/// Formats one event as a CSV line (without newline).
pub fn csv_line(e: &TraceEvent) -> String {
    match e.kind {
        TraceEventKind::Heartbeat => format!("{},{}", e.node, e.time.as_nanos()),
        TraceEventKind::Crash => format!("{},{},crash", e.node, e.time.as_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TraceConfig {
        TraceConfig {
            nodes: 3,
            duration_ns: 3 * 3600 * NANOS_PER_SEC,
            crash_every_ns: 3600 * NANOS_PER_SEC,
            ..Default::default()
        }
    }

    #[test]
    fn generator_is_deterministic_sorted_and_roughly_periodic() {
        let a: Vec<_> = Trace::new(&small()).collect();
        let b: Vec<_> = Trace::new(&small()).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].time <= w[1].time));
        let crashes = a.iter().filter(|e| e.kind == TraceEventKind::Crash).count();
        assert!((3..=20).contains(&crashes), "{crashes}");
        let hb = a.len() - crashes;
        // 3 nodes × 3 h, minus outages.
        assert!(hb > 25_000 && hb < 32_400, "{hb}");
        let other: Vec<_> = Trace::new(&TraceConfig { seed: 2, ..small() }).collect();
        assert_ne!(a, other);
    }

    #[test]
    fn csv_round_trip_and_errors() {
        let ev: Vec<_> = Trace::new(&small()).take(1000).collect();
        let text: String = ev.iter().map(|e| csv_line(e) + "\n").collect();
        assert_eq!(parse_csv(&text).unwrap(), ev);
        assert_eq!(parse_csv("node,time_ns\n1,5\n1,4\n").unwrap_err().line, 3);
        assert_eq!(parse_csv("1,x\n").unwrap_err().line, 1);
        assert!(parse_csv("1,5,boom\n").is_err());
    }

    #[test]
    fn fixed_timeout_scores_as_expected() {
        let ev = vec![
            TraceEvent { time: Time::from_secs(0), node: 1, kind: TraceEventKind::Heartbeat },
            TraceEvent { time: Time::from_secs(1), node: 1, kind: TraceEventKind::Heartbeat },
            TraceEvent { time: Time::from_secs(10), node: 1, kind: TraceEventKind::Heartbeat },
            TraceEvent { time: Time::from_millis(10_500), node: 1, kind: TraceEventKind::Crash },
        ];
        let r = replay(&mut FixedTimeout::new(5 * NANOS_PER_SEC), ev);
        assert_eq!(r.false_suspicions, 1);
        assert_eq!(r.crashes, 1);
        assert_eq!(r.missed_crashes, 0);
        assert_eq!(r.mean_detection_ms, 4500.0);
    }
}
