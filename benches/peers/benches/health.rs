//! Failure detection: cost (heartbeat ingest, tick) and quality (detection time against
//! mistakes per node-hour on a generated week), trimtab against the `phi-detector` crate,
//! a faithful Akka phi accrual baseline and a fixed timeout. Each quality row ends with
//! `timeout@`: the mistakes per node-hour of a fixed timeout tuned to the same mean
//! detection time, so that a row reads against the timeout curve at equal speed.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench health`.
//! `HEALTH_QUALITY_NODES` (default 20) and `HEALTH_QUALITY_HOURS` (default 168) size the
//! quality run; `HEALTH_SKIP_QUALITY=1` skips it.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use phi_detector::PingWindow;
use trimtab::health::trace::{
    evaluate, phi_y, AkkaPhi, FixedTimeout, ReplayReport, TraceConfig, TraceDetector, Verdict,
};
use trimtab::health::{DetectorConfig, FailureDetector};
use trimtab::time::NANOS_PER_SEC;
use trimtab::Time;

/// The `phi-detector` crate behind the replay trait: one `PingWindow` per node, dead while
/// `phi(elapsed) > threshold`; the deadline is found by bisection on its (monotone) phi.
struct PhiCrate {
    threshold: f64,
    nodes: BTreeMap<u64, (u64, PingWindow, bool)>,
}

impl PhiCrate {
    fn new(threshold: f64) -> Self {
        PhiCrate { threshold, nodes: BTreeMap::new() }
    }
    fn deadline(&self, last: u64, w: &PingWindow) -> u64 {
        let dist = w.normal_dist();
        let (mut lo, mut hi) = (0u64, 3_600_000u64);
        if dist.phi(Duration::from_millis(hi)) <= self.threshold {
            return u64::MAX;
        }
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if dist.phi(Duration::from_millis(mid)) > self.threshold {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        last.saturating_add(hi * 1_000_000)
    }
}

impl TraceDetector for PhiCrate {
    fn label(&self) -> String {
        format!("phi-detector crate (phi {})", self.threshold)
    }
    fn add_node(&mut self, node: u64, now: Time) {
        self.nodes.insert(node, (now.as_nanos(), PingWindow::new(Duration::from_secs(1)), false));
    }
    fn heartbeat(&mut self, node: u64, now: Time, out: &mut Vec<(u64, Verdict)>) {
        if let Some((last, w, dead)) = self.nodes.get_mut(&node) {
            if *dead {
                *dead = false;
                out.push((node, Verdict::Alive));
            }
            let iv = now.as_nanos().saturating_sub(*last);
            if iv > 0 {
                w.add_ping(Duration::from_nanos(iv));
            }
            *last = now.as_nanos();
        }
    }
    fn tick(&mut self, now: Time, out: &mut Vec<(u64, Verdict)>) {
        let due: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, (l, w, d))| !d && self.deadline(*l, w) <= now.as_nanos())
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            if let Some(e) = self.nodes.get_mut(&k) {
                e.2 = true;
            }
            out.push((k, Verdict::Dead));
        }
    }
    fn next_deadline(&self) -> Option<Time> {
        self.nodes.values().filter(|(_, _, d)| !d).map(|(l, w, _)| Time(self.deadline(*l, w))).min()
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Mistakes per node-hour of the fixed-timeout curve at a mean detection time of `det_s`,
/// interpolated between the sweep's points (log-linear where both are non-zero): what the
/// best arrival-time rule for a fleet whose nodes all pause alike would make there.
fn timeout_at(curve: &[(f64, f64)], det_s: f64) -> Option<f64> {
    let w = curve.windows(2).find(|w| w[0].0 <= det_s && det_s <= w[1].0)?;
    let ((d0, m0), (d1, m1)) = (w[0], w[1]);
    let f = if d1 > d0 { (det_s - d0) / (d1 - d0) } else { 0.0 };
    Some(if m0 > 0.0 && m1 > 0.0 { (m0.ln() + f * (m1.ln() - m0.ln())).exp() } else { m0 + f * (m1 - m0) })
}

fn row(r: &ReplayReport, thr: &str, curve: &[(f64, f64)]) {
    let det_s = r.mean_detection_ms / 1000.0;
    let vs = match timeout_at(curve, det_s) {
        Some(t) => format!("{t:.4}"),
        None => "-".into(),
    };
    println!(
        "| {:<34} | {:>13} | {:>10.2} | {:>9.2} | {:>8.4} | {:>6} | {:>7} | {:>9} |",
        r.detector,
        thr,
        det_s,
        r.max_detection_ms / 1000.0,
        r.false_suspicions_per_node_hour,
        r.false_suspicions,
        r.missed_crashes,
        vs
    );
}

fn quality() {
    if std::env::var_os("HEALTH_SKIP_QUALITY").is_some() {
        return;
    }
    let nodes = env("HEALTH_QUALITY_NODES", 20) as u32;
    let hours = env("HEALTH_QUALITY_HOURS", 168);
    for homogeneous in [false, true] {
        let cfg = TraceConfig {
            nodes,
            duration_ns: hours * 3600 * NANOS_PER_SEC,
            seed: 42,
            homogeneous_pauses: homogeneous,
            ..Default::default()
        };
        println!(
            "\nquality: {nodes} nodes x {hours} h, 1 s heartbeats, 60 ms jitter, 0.1% loss, pauses 0.3-4 s every 2-10 min ({}), a crash every ~12 h per node",
            if homogeneous { "every node up to 4 s" } else { "each node its own longest pause" }
        );
        // The fixed-timeout curve first, finely, so that every row can be read against it.
        let timeouts: Vec<(f64, ReplayReport)> = (6..=26)
            .map(|q| {
                let t = q as f64 * 0.25;
                (t, evaluate(&cfg, || FixedTimeout::new((t * 1e9) as u64)))
            })
            .collect();
        let curve: Vec<(f64, f64)> =
            timeouts.iter().map(|(_, r)| (r.mean_detection_ms / 1000.0, r.false_suspicions_per_node_hour)).collect();
        println!(
            "| {:<34} | {:>13} | {:>10} | {:>9} | {:>8} | {:>6} | {:>7} | {:>9} |",
            "detector", "threshold", "mean det s", "max det s", "mist/h", "mist", "missed", "timeout@"
        );
        println!("|{}|", "-".repeat(121));
        // timeout@: the fixed-timeout curve's mistakes per node-hour at this row's detection time.
        for thr in [1.0, 2.0, 4.0, 8.0, 12.0, 16.0] {
            let r = evaluate(&cfg, || trimtab::health::trace::trimtab_detector(thr));
            row(&r, &format!("phi {thr}"), &curve);
        }
        for margin_ms in [250u64, 500, 750, 1000] {
            let r = evaluate(&cfg, || {
                FailureDetector::new(DetectorConfig { pause_margin_ns: margin_ms * 1_000_000, ..Default::default() })
                    .unwrap()
            });
            row(&r, &format!("phi 8 +{margin_ms}ms"), &curve);
        }
        for thr in [1.0, 4.0, 8.0, 16.0, 32.0] {
            let r = evaluate(&cfg, || AkkaPhi::with(thr, 3000.0));
            row(&r, &format!("phi {thr}"), &curve);
        }
        for pause in [1000.0, 2000.0, 4000.0] {
            let r = evaluate(&cfg, || AkkaPhi::with(8.0, pause));
            row(&r, &format!("pause {}s", pause / 1000.0), &curve);
        }
        for (t, r) in &timeouts {
            row(r, &format!("{t} s"), &curve);
        }
        for thr in [8.0, 12.0, 16.0, 40.0, 90.0] {
            let r = evaluate(&cfg, || PhiCrate::new(thr));
            row(&r, &format!("phi {thr}"), &curve);
        }
    }
    let _ = phi_y(8.0);
}

fn ingest(c: &mut Criterion) {
    let n = 10_000u64;
    let mut g = c.benchmark_group("health/heartbeat_ingest");
    g.sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (nodes, label) in [(100u64, "trimtab (100 nodes, in cache)"), (n, "trimtab (10k nodes, random order)")] {
        let mut d = FailureDetector::new(DetectorConfig::default()).unwrap();
        for i in 0..nodes {
            d.add_node(i, Time::ZERO).unwrap();
        }
        let mut t = 1_000_000u64;
        let mut i = 0u64;
        let step = 1_000_000_000 / nodes;
        g.bench_function(label, |b| {
            b.iter(|| {
                t += step;
                i = (i + 7919) % nodes;
                black_box(d.heartbeat(black_box(i), Time(t))).ok();
            })
        });
    }
    {
        let mut ws: Vec<(u64, PingWindow)> = (0..n).map(|_| (0, PingWindow::new(Duration::from_secs(1)))).collect();
        let mut t = 1_000_000u64;
        let mut i = 0usize;
        g.bench_function("phi-detector crate (10k nodes, Vec index)", |b| {
            b.iter(|| {
                t += 100_000;
                i = (i + 7919) % n as usize;
                let (last, w) = &mut ws[i];
                w.add_ping(Duration::from_nanos(t - *last));
                *last = t;
                black_box(&w);
            })
        });
    }
    {
        let mut a = AkkaPhi::defaults();
        let mut out = Vec::new();
        for i in 0..n {
            a.add_node(i, Time::ZERO);
        }
        let mut t = 1_000_000u64;
        let mut i = 0u64;
        g.bench_function("Akka phi baseline (10k nodes, BTreeMap)", |b| {
            b.iter(|| {
                t += 100_000;
                i = (i + 7919) % n;
                a.heartbeat(black_box(i), Time(t), &mut out);
            })
        });
    }
    g.finish();
}

fn tick(c: &mut Criterion) {
    let n = 10_000u64;
    let mut g = c.benchmark_group("health/tick");
    g.sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    {
        let mut d = FailureDetector::new(DetectorConfig::default()).unwrap();
        for i in 0..n {
            d.add_node(i, Time::ZERO).unwrap();
        }
        // Everyone heartbeats at 1 s; ticks at 1.2 s have nothing due.
        for i in 0..n {
            d.heartbeat(i, Time::from_secs(1)).unwrap();
        }
        let mut t = 1_200_000_000u64;
        g.bench_function("trimtab, 10k nodes, none due", |b| {
            b.iter(|| {
                t += 1;
                d.tick(Time(t));
            })
        });
    }
    {
        // 10k nodes heartbeating on a 1 s cycle, ticked every 100 µs: due work is ~10k re-arms
        // per simulated second, spread over the ticks.
        let mut d = FailureDetector::new(DetectorConfig::default()).unwrap();
        for i in 0..n {
            d.add_node(i, Time::ZERO).unwrap();
        }
        let mut t = 0u64;
        let mut i = 0u64;
        g.bench_function("trimtab, 10k nodes, steady heartbeats (per heartbeat+tick)", |b| {
            b.iter(|| {
                t += 100_000;
                i = (i + 1) % n;
                d.heartbeat(i, Time(t)).ok();
                d.tick(Time(t));
            })
        });
    }
    {
        let ws: Vec<(u64, PingWindow)> =
            (0..n).map(|_| (1_000_000_000, PingWindow::new(Duration::from_secs(1)))).collect();
        let now = Duration::from_millis(1_200);
        g.bench_function("phi-detector crate, 10k nodes, scan (none due)", |b| {
            b.iter(|| {
                let mut dead = 0;
                for (last, w) in &ws {
                    let e = now.saturating_sub(Duration::from_nanos(*last));
                    if w.normal_dist().phi(e) > 8.0 {
                        dead += 1;
                    }
                }
                black_box(dead)
            })
        });
    }
    {
        let mut ft = FixedTimeout::new(5 * NANOS_PER_SEC);
        let mut out = Vec::new();
        for i in 0..n {
            ft.add_node(i, Time::from_secs(1));
        }
        g.bench_function("fixed timeout, 10k nodes, scan (none due)", |b| {
            b.iter(|| {
                ft.tick(Time::from_millis(1_200), &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, ingest, tick);

fn main() {
    quality();
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
