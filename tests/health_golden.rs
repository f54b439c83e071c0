//! The failure detector's decisions are pinned: every event (node, kind, time), every
//! `next_deadline`, and periodically every node's state, pause allowance and phi bits, on
//! generated traces and on random operation sequences (adds, removals, duplicates, time
//! going backwards, host stalls), hash to the digests recorded before the detector's
//! layout and arithmetic were optimised. A change that moves any decision, by one
//! nanosecond or one event, fails here; a change that is meant to must say so and record
//! new digests.

use trimtab::health::trace::{Trace, TraceConfig, TraceEventKind};
use trimtab::health::{DetectorConfig, FailureDetector};
use trimtab::time::NANOS_PER_SEC;
use trimtab::Time;

/// FNV-1a over the Debug text of every record.
struct Digest(u64);

impl Digest {
    fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
    fn put(&mut self, s: &str) {
        for b in s.as_bytes().iter().chain([&0xff]) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn drain(d: &mut FailureDetector, g: &mut Digest) {
    while let Some(e) = d.poll_event() {
        g.put(&format!("{e:?}"));
    }
    g.put(&format!("{:?}", d.next_deadline()));
}

fn snapshot(d: &FailureDetector, now: Time, g: &mut Digest) {
    for id in d.nodes() {
        g.put(&format!(
            "{id} {:?} {:?} {:?}",
            d.node_state(id),
            d.pause_allowance_ns(id),
            d.phi(id, now).map(f64::to_bits)
        ));
    }
    g.put(&format!("{:?}", d.stats()));
}

fn configs() -> Vec<DetectorConfig> {
    let d = DetectorConfig::default();
    vec![
        d.clone(),
        DetectorConfig::akka(),
        DetectorConfig {
            window: 7,
            pause_memory: 5,
            warmup_heartbeats: 10,
            pause_headroom_permille: 250,
            pause_margin_ns: 300_000_000,
            suspect_threshold: 1.0,
            threshold: 3.0,
            recovery_heartbeats: 2,
            ..d.clone()
        },
        DetectorConfig {
            window: 3,
            min_interval_ns: 700_000_000,
            min_std_dev_ns: 1000,
            expected_interval_ns: 1500,
            max_tick_interval_ns: 300_000_000,
            stall_limit_ns: 2 * NANOS_PER_SEC,
            hard_timeout_ns: 6 * NANOS_PER_SEC,
            event_capacity: 3,
            ..d
        },
    ]
}

fn trace_digest(cfg: &DetectorConfig) -> u64 {
    let tc = TraceConfig {
        nodes: 12,
        duration_ns: 3 * 3600 * NANOS_PER_SEC,
        seed: 42,
        pause_every_min_ns: 30 * NANOS_PER_SEC,
        crash_every_ns: 3600 * NANOS_PER_SEC,
        ..Default::default()
    };
    let mut g = Digest::new();
    let mut d = FailureDetector::new(cfg.clone()).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (k, e) in Trace::new(&tc).enumerate() {
        while let Some(t) = d.next_deadline() {
            if t > e.time {
                break;
            }
            d.tick(t);
            drain(&mut d, &mut g);
        }
        if e.kind == TraceEventKind::Heartbeat {
            if seen.insert(e.node) {
                g.put(&format!("{:?}", d.add_node(e.node, e.time)));
            }
            g.put(&format!("{:?}", d.heartbeat(e.node, e.time)));
            drain(&mut d, &mut g);
        }
        if k % 5000 == 0 {
            snapshot(&d, e.time, &mut g);
        }
    }
    g.0
}

fn random_digest(cfg: &DetectorConfig, seed: u64) -> u64 {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        trimtab::hash::mix64(x)
    };
    let mut g = Digest::new();
    let mut d = FailureDetector::new(DetectorConfig { capacity: 40, ..cfg.clone() }).unwrap();
    let mut now = 0u64;
    for step in 0..30_000u64 {
        let op = next() % 100;
        let dt = match next() % 20 {
            0 => 0,
            1 => 6 * NANOS_PER_SEC + next() % (20 * NANOS_PER_SEC),
            2 => next() % (3 * NANOS_PER_SEC),
            3 => next() % 1000,
            _ => next() % 60_000_000,
        };
        let t = if next() % 50 == 0 {
            now.saturating_sub(next() % NANOS_PER_SEC)
        } else {
            now += dt;
            now
        };
        let id = (next() % 50) * 0x1_0000_0001;
        let res = match op {
            0..=3 => d.add_node(id, Time(t)),
            4..=5 => d.remove_node(id),
            6..=79 => d.heartbeat(id, Time(t)),
            80..=89 => {
                d.tick(Time(t));
                Ok(())
            }
            _ => {
                if let Some(nd) = d.next_deadline() {
                    now = now.max(nd.as_nanos());
                    d.tick(nd);
                }
                Ok(())
            }
        };
        g.put(&format!("{res:?}"));
        drain(&mut d, &mut g);
        if step % 997 == 0 {
            snapshot(&d, Time(t), &mut g);
            d.check_invariants().unwrap();
        }
    }
    snapshot(&d, Time(now), &mut g);
    g.0
}

#[test]
fn decisions_match_the_recorded_digests() {
    let got: Vec<(u64, u64)> = configs().iter().map(|c| (trace_digest(c), random_digest(c, 1))).collect();
    for (i, g) in got.iter().enumerate() {
        println!("config {i}: trace {:#018x}, random {:#018x}", g.0, g.1);
    }
    assert_eq!(got, RECORDED);
}

/// Recorded from the detector as of main c18ca61, before the optimisations.
const RECORDED: [(u64, u64); 4] = [
    (0x3964_5987_2cd5_69b9, 0xbd72_33dc_dd83_bd6e),
    (0xc135_a150_78bc_beff, 0xe294_f15f_cc96_1e0b),
    (0x07af_8108_7aec_d22b, 0x0276_9f2b_1879_0f35),
    (0x37b5_536f_8169_6a80, 0xfd10_aceb_a0d1_5e3c),
];
