//! Detection quality on a generated trace (one simulated day, a few nodes, fast in debug):
//! the quality targets hold (mean detection of true crashes at most 5 s, at most 0.01
//! false suspicions per node-hour, no missed crash), and the learned pause allowance beats
//! the fleet-wide rules at their own game: fewer mistakes than Akka's defaults and than a
//! fixed 5 s timeout while detecting faster.

use trimtab::health::trace::{evaluate, trimtab_detector, AkkaPhi, FixedTimeout, TraceConfig};
use trimtab::time::NANOS_PER_SEC;

fn day(nodes: u32, homogeneous: bool) -> TraceConfig {
    TraceConfig {
        nodes,
        duration_ns: 24 * 3600 * NANOS_PER_SEC,
        seed: 7,
        homogeneous_pauses: homogeneous,
        // More crashes than the default so that a day gives a usable detection mean.
        crash_every_ns: 3 * 3600 * NANOS_PER_SEC,
        ..Default::default()
    }
}

#[test]
fn quality_targets_hold_on_a_generated_day() {
    let cfg = day(4, false);
    let ours = evaluate(&cfg, || trimtab_detector(8.0));
    assert!(ours.crashes >= 20, "{ours:?}");
    assert_eq!(ours.missed_crashes, 0);
    assert!(ours.mean_detection_ms <= 5_000.0, "mean detection {} ms", ours.mean_detection_ms);
    assert!(ours.false_suspicions_per_node_hour <= 0.01, "{} per node-hour", ours.false_suspicions_per_node_hour);

    let fixed = evaluate(&cfg, || FixedTimeout::new(5 * NANOS_PER_SEC));
    let akka = evaluate(&cfg, AkkaPhi::defaults);
    assert_eq!(fixed.crashes, ours.crashes);
    // Faster than both fleet-wide rules...
    assert!(
        ours.mean_detection_ms < fixed.mean_detection_ms - 500.0,
        "{} vs {}",
        ours.mean_detection_ms,
        fixed.mean_detection_ms
    );
    assert!(
        ours.mean_detection_ms < akka.mean_detection_ms - 300.0,
        "{} vs {}",
        ours.mean_detection_ms,
        akka.mean_detection_ms
    );
    // ...and no more mistakes.
    assert!(ours.false_suspicions <= fixed.false_suspicions.max(1));
    assert!(ours.false_suspicions <= akka.false_suspicions.max(1));
}

#[test]
fn a_fixed_allowance_is_what_makes_akka_hair_triggered_or_slow() {
    // The same formula with a 1 s acceptable pause: fast, and wrong on every long pause.
    let cfg = day(3, false);
    let akka_1s = evaluate(&cfg, || AkkaPhi::with(8.0, 1000.0));
    let ours = evaluate(&cfg, || trimtab_detector(8.0));
    assert!(
        akka_1s.false_suspicions > 10 * ours.false_suspicions.max(1),
        "{} vs {}",
        akka_1s.false_suspicions,
        ours.false_suspicions
    );
}
