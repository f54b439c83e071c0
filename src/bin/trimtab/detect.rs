//! `trimtab detect`: replays a heartbeat trace through the failure detector and scores it,
//! or generates such a trace.

use std::io::Write;
use std::path::PathBuf;

use trimtab::health::trace::{
    csv_line, parse_csv, replay, trimtab_detector, AkkaPhi, FixedTimeout, ReplayReport, Trace, TraceConfig,
};
use trimtab::time::NANOS_PER_SEC;

/// Arguments of `trimtab detect`.
#[derive(clap::Args)]
pub struct DetectArgs {
    /// CSV trace to replay: `node,time_ns` per heartbeat, `node,time_ns,crash` per crash, sorted by time.
    #[arg(long, conflicts_with = "generate")]
    trace: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Detector to replay: trimtab (default), akka (Akka's defaults) or fixed5 (a 5 s timeout).
    #[arg(long, default_value = "trimtab")]
    detector: String,
    /// Phi threshold of the trimtab detector.
    #[arg(long, default_value_t = 8.0)]
    threshold: f64,
    /// Write a generated trace to this file instead of replaying one.
    #[arg(long)]
    generate: Option<PathBuf>,
    /// Nodes in the generated trace.
    #[arg(long, default_value_t = 10)]
    nodes: u32,
    /// Hours in the generated trace.
    #[arg(long, default_value_t = 24)]
    hours: u64,
    /// Seed of the generated trace.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Give every node the full pause range (default: each node draws its own longest pause).
    #[arg(long)]
    homogeneous: bool,
}

/// Runs the subcommand; errors name the file, the line and the reason.
pub fn run(a: DetectArgs) -> Result<(), String> {
    if let Some(out) = &a.generate {
        let hours = a.hours.min(24 * 365);
        let cfg = TraceConfig {
            nodes: a.nodes,
            duration_ns: hours.saturating_mul(3600 * NANOS_PER_SEC),
            seed: a.seed,
            homogeneous_pauses: a.homogeneous,
            ..Default::default()
        };
        let f = std::fs::File::create(out).map_err(|e| format!("{}: cannot create: {e}", out.display()))?;
        let mut w = std::io::BufWriter::new(f);
        let werr = |e: std::io::Error| format!("{}: cannot write: {e}", out.display());
        writeln!(w, "node,time_ns").map_err(werr)?;
        for e in Trace::new(&cfg) {
            writeln!(w, "{}", csv_line(&e)).map_err(werr)?;
        }
        w.flush().map_err(werr)?;
        return Ok(());
    }
    let Some(path) = &a.trace else {
        return Err("detect: give --trace FILE to replay, or --generate FILE to write a trace".into());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let events = parse_csv(&text).map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.reason))?;
    if !a.threshold.is_finite() || !(0.01..=100.0).contains(&a.threshold) {
        return Err(format!("--threshold {} must be in 0.01..=100", a.threshold));
    }
    let report = match a.detector.as_str() {
        "trimtab" => replay(&mut trimtab_detector(a.threshold), events),
        "akka" => replay(&mut AkkaPhi::defaults(), events),
        "fixed5" => replay(&mut FixedTimeout::new(5 * NANOS_PER_SEC), events),
        other => return Err(format!("--detector `{other}`: expected trimtab, akka or fixed5")),
    };
    if a.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| format!("cannot encode the report: {e}"))?;
        println!("{s}");
    } else {
        print_text(&report);
    }
    Ok(())
}

fn print_text(r: &ReplayReport) {
    println!("detector: {}", r.detector);
    println!(
        "{:>8} {:>10} {:>9} {:>8} {:>8} {:>18}",
        "node", "suspicions", "false", "crashes", "missed", "detection ms"
    );
    for n in &r.nodes {
        let det: Vec<String> = n.detection_ms.iter().map(|d| format!("{d:.0}")).collect();
        println!(
            "{:>8} {:>10} {:>9} {:>8} {:>8} {:>18}",
            n.node,
            n.suspicions,
            n.false_suspicions,
            n.crashes,
            n.missed_crashes,
            det.join(" ")
        );
    }
    println!(
        "total: {} false suspicions ({:.4} per node-hour over {:.1} node-hours), {} suspect entries, {} crashes, mean detection {:.0} ms, max {:.0} ms, {} missed",
        r.false_suspicions,
        r.false_suspicions_per_node_hour,
        r.node_hours,
        r.suspicions,
        r.crashes,
        r.mean_detection_ms,
        r.max_detection_ms,
        r.missed_crashes
    );
}
