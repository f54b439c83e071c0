//! Scenario tests of the failure detector: a crash is convicted within its bound, a GC
//! pause the node is known for is not, host stalls of 1 to 30 s convict nobody, flapping is
//! damped, and unknown nodes, duplicates and time going backwards change nothing.

use trimtab::health::{DetectorConfig, FailureDetector, HealthError, NodeEvent, NodeEventKind, NodeState};
use trimtab::time::{NANOS_PER_MILLI, NANOS_PER_SEC};
use trimtab::Time;

/// A host that ticks when the detector asks, between scripted heartbeats.
struct Host {
    d: FailureDetector,
    now: u64,
    events: Vec<NodeEvent>,
}

impl Host {
    fn new(cfg: DetectorConfig, nodes: u64) -> Self {
        let mut d = FailureDetector::new(cfg).unwrap();
        for n in 0..nodes {
            d.add_node(n, Time::ZERO).unwrap();
        }
        Host { d, now: 0, events: Vec::new() }
    }

    fn drain(&mut self) {
        while let Some(e) = self.d.poll_event() {
            self.events.push(e);
        }
    }

    /// Advances to `t`, ticking at every deadline on the way.
    fn run_to(&mut self, t: u64) {
        while let Some(dl) = self.d.next_deadline() {
            if dl.as_nanos() > t {
                break;
            }
            self.d.tick(dl);
            self.drain();
        }
        self.now = self.now.max(t);
    }

    fn beat(&mut self, node: u64, t: u64) {
        self.run_to(t);
        self.d.heartbeat(node, Time(t)).unwrap();
        self.drain();
    }

    fn deaths(&self, node: u64) -> Vec<u64> {
        self.events
            .iter()
            .filter(|e| e.node == node && e.kind == NodeEventKind::Dead)
            .map(|e| e.at.as_nanos())
            .collect()
    }
}

/// Deterministic jitter in [-60, +60] ms.
fn jitter(node: u64, k: u64) -> i64 {
    (trimtab::hash::hash2(9, node, k) % 121) as i64 * NANOS_PER_MILLI as i64 - 60 * NANOS_PER_MILLI as i64
}

/// Heartbeats of `nodes` nodes at 1 s (with jitter) from `from` to `to` seconds, except
/// for nodes in `silent`.
fn regular(h: &mut Host, nodes: u64, from: u64, to: u64, silent: &[u64]) {
    for s in from..to {
        for n in 0..nodes {
            if silent.contains(&n) {
                continue;
            }
            let t = (s * NANOS_PER_SEC + n * 10 * NANOS_PER_MILLI) as i64 + jitter(n, s);
            h.beat(n, t.max(0) as u64);
        }
    }
}

#[test]
fn crash_is_detected_within_bound_on_a_warm_regular_node() {
    let mut h = Host::new(DetectorConfig { pause_memory: 4096, ..Default::default() }, 5);
    // Past the first pause epoch (4096 heartbeats here), so the 4 s warm-up allowance no
    // longer applies.
    regular(&mut h, 5, 1, 7200, &[]);
    assert!(h.events.iter().all(|e| e.kind != NodeEventKind::Dead), "{:?}", h.events);
    let crash = 7199 * NANOS_PER_SEC + 3 * 10 * NANOS_PER_MILLI + 100 * NANOS_PER_MILLI;
    regular(&mut h, 5, 7200, 7230, &[3]);
    let d = h.deaths(3);
    assert_eq!(d.len(), 1, "{:?}", h.events);
    let detect = (d[0] - crash) as f64 / 1e9;
    // A node that never pauses is convicted about 1.5 to 2.5 s after its last heartbeat.
    assert!(detect > 0.5 && detect < 3.0, "detected after {detect} s");
    assert!(h.deaths(0).is_empty() && h.deaths(4).is_empty());
    assert_eq!(h.d.node_state(3).unwrap(), NodeState::Dead);
}

#[test]
fn crash_before_warm_up_is_detected_by_the_initial_allowance() {
    let mut h = Host::new(DetectorConfig::default(), 2);
    regular(&mut h, 2, 1, 60, &[]);
    regular(&mut h, 2, 60, 80, &[1]);
    let d = h.deaths(1);
    assert_eq!(d.len(), 1);
    let detect = (d[0] - 59 * NANOS_PER_SEC) as f64 / 1e9;
    assert!(detect > 4.0 && detect < 6.5, "{detect}");
}

#[test]
fn hard_timeout_convicts_whatever_the_statistics_say() {
    let cfg = DetectorConfig {
        hard_timeout_ns: 6 * NANOS_PER_SEC,
        initial_pause_allowance_ns: 30 * NANOS_PER_SEC,
        ..Default::default()
    };
    let mut h = Host::new(cfg, 1);
    regular(&mut h, 1, 1, 30, &[]);
    h.run_to(60 * NANOS_PER_SEC);
    let d = h.deaths(0);
    assert_eq!(d.len(), 1);
    let detect = (d[0] as f64 - 29.0e9) / 1e9;
    assert!((5.8..=6.2).contains(&detect), "{detect}");
}

#[test]
fn known_gc_pauses_are_not_convicted_but_suspected() {
    let mut h = Host::new(DetectorConfig { pause_memory: 4096, ..Default::default() }, 1);
    // A node that freezes for 4 s every 5 minutes, for 4 hours.
    let mut t = 0u64;
    let mut k = 0u64;
    while t < 4 * 3600 * NANOS_PER_SEC {
        k += 1;
        t += if k % 300 == 0 { 5 * NANOS_PER_SEC } else { NANOS_PER_SEC };
        let at = (t as i64 + jitter(0, k)) as u64;
        h.beat(0, at);
    }
    assert!(h.deaths(0).is_empty(), "{:?}", h.deaths(0));
    let suspected = h.events.iter().filter(|e| e.kind == NodeEventKind::Suspected).count();
    assert!(suspected >= 40, "pauses should be suspected (a warning): {suspected}");
    let allowance = h.d.pause_allowance_ns(0).unwrap();
    // The largest excess over the mean: 4 s.
    assert!(allowance > 3_800 * NANOS_PER_MILLI && allowance < 4_200 * NANOS_PER_MILLI, "{allowance}");
    // The same node then crashes: conviction comes after its known pause, not much later.
    let last = h.events.len();
    h.run_to(t + 30 * NANOS_PER_SEC);
    let d: Vec<_> = h.events[last..].iter().filter(|e| e.kind == NodeEventKind::Dead).collect();
    assert_eq!(d.len(), 1);
    let detect = (d[0].at.as_nanos() - t) as f64 / 1e9;
    assert!(detect > 4.5 && detect < 6.5, "{detect}");
}

#[test]
fn host_stalls_of_1_to_30_s_convict_nobody() {
    for stall_s in [1u64, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30] {
        for tick_first in [true, false] {
            let nodes = 40;
            let mut h = Host::new(DetectorConfig::default(), nodes);
            regular(&mut h, nodes, 1, 600, &[]);
            assert!(h.events.is_empty());
            // The host freezes from 599.95 s for `stall_s`: no call at all. When it wakes, the
            // heartbeats queued in its socket are read at the wake-up time.
            h.run_to(599 * NANOS_PER_SEC + 950 * NANOS_PER_MILLI);
            let wake = 599 * NANOS_PER_SEC + 950 * NANOS_PER_MILLI + stall_s * NANOS_PER_SEC;
            if tick_first {
                h.d.tick(Time(wake));
                h.drain();
            }
            for n in 0..nodes {
                h.d.heartbeat(n, Time(wake)).unwrap();
            }
            h.drain();
            let resume = wake / NANOS_PER_SEC + 1;
            regular(&mut h, nodes, resume, resume + 120, &[]);
            let bad: Vec<_> = h.events.iter().filter(|e| e.kind == NodeEventKind::Dead).collect();
            assert!(bad.is_empty(), "stall {stall_s} s (tick first: {tick_first}): {bad:?}");
            if stall_s > 5 {
                assert_eq!(h.d.stats().stalls, 1, "stall {stall_s}");
            }
        }
    }
}

#[test]
fn a_crash_during_a_host_stall_is_still_detected() {
    let mut h = Host::new(DetectorConfig::default(), 3);
    regular(&mut h, 3, 1, 100, &[]);
    h.run_to(99 * NANOS_PER_SEC + 500 * NANOS_PER_MILLI);
    let wake = 120 * NANOS_PER_SEC;
    h.d.tick(Time(wake));
    h.drain();
    for n in [0, 1] {
        h.d.heartbeat(n, Time(wake)).unwrap();
    }
    regular(&mut h, 3, 121, 140, &[2]);
    assert!(h.deaths(0).is_empty() && h.deaths(1).is_empty());
    assert_eq!(h.deaths(2).len(), 1, "{:?}", h.events);
}

#[test]
fn flapping_is_damped() {
    let cfg = DetectorConfig { recovery_heartbeats: 3, initial_pause_allowance_ns: 0, ..Default::default() };
    let mut h = Host::new(cfg, 1);
    let mut s = 1u64;
    let mut needed = Vec::new();
    for _round in 0..3 {
        for _ in 0..30 {
            h.beat(0, s * NANOS_PER_SEC);
            s += 1;
        }
        // Silence: convicted.
        s += 10;
        h.run_to(s * NANOS_PER_SEC);
        assert_eq!(h.d.node_state(0).unwrap(), NodeState::Dead);
        // Back: count the heartbeats until Recovered.
        let mut k = 0;
        while h.d.node_state(0).unwrap() == NodeState::Dead {
            h.beat(0, s * NANOS_PER_SEC);
            s += 1;
            k += 1;
            assert!(k < 100);
        }
        needed.push(k);
    }
    // The first heartbeat back only sets the reference; then 3, 6, 12 regular ones.
    assert_eq!(needed, vec![4, 7, 13]);
    let rec = h.events.iter().filter(|e| e.kind == NodeEventKind::Recovered).count();
    assert_eq!(rec, 3);
}

#[test]
fn an_irregular_return_restarts_the_recovery_run() {
    let cfg = DetectorConfig { recovery_heartbeats: 3, initial_pause_allowance_ns: 0, ..Default::default() };
    let mut h = Host::new(cfg, 1);
    for s in 1..30 {
        h.beat(0, s * NANOS_PER_SEC);
    }
    h.run_to(40 * NANOS_PER_SEC);
    for s in [40, 41, 42] {
        h.beat(0, s * NANOS_PER_SEC);
    }
    // A 10 s gap in the middle of the run: start over.
    for s in [52, 53, 54] {
        h.beat(0, s * NANOS_PER_SEC);
    }
    assert_eq!(h.d.node_state(0).unwrap(), NodeState::Dead);
    h.beat(0, 55 * NANOS_PER_SEC);
    assert_eq!(h.d.node_state(0).unwrap(), NodeState::Alive);
}

#[test]
fn unknown_node_duplicate_and_backwards_time_change_nothing() {
    let mut h = Host::new(DetectorConfig::default(), 2);
    regular(&mut h, 2, 1, 100, &[]);
    let before = h.d.clone();
    let phi_before = h.d.phi(0, Time(100 * NANOS_PER_SEC)).unwrap();
    assert_eq!(h.d.heartbeat(77, Time(100 * NANOS_PER_SEC)), Err(HealthError::UnknownNode(77)));
    assert_eq!(h.d.node_state(77), Err(HealthError::UnknownNode(77)));
    assert_eq!(h.d.phi(0, Time(100 * NANOS_PER_SEC)).unwrap(), phi_before);
    assert_eq!(format!("{:?}", before.stats()), format!("{:?}", h.d.stats()));
    // A duplicate, then time going backwards: both no-ops for the window.
    let dup_before = h.d.stats().duplicates;
    let t = h.now;
    h.d.heartbeat(1, Time(t)).unwrap();
    h.d.heartbeat(1, Time(t)).unwrap();
    h.d.heartbeat(1, Time(t - 5 * NANOS_PER_SEC)).unwrap();
    // Node 1's last heartbeat was at `t`: all three are duplicates.
    assert_eq!(h.d.stats().duplicates, dup_before + 3);
    h.d.check_invariants().unwrap();
    // Time going backwards on tick is the last time seen: nothing is convicted.
    h.d.tick(Time(0));
    h.drain();
    assert!(h.events.iter().all(|e| e.kind != NodeEventKind::Dead));
    regular(&mut h, 2, 100, 200, &[]);
    assert!(h.events.iter().all(|e| e.kind != NodeEventKind::Dead));
}

#[test]
fn capacity_and_removal() {
    let mut d = FailureDetector::new(DetectorConfig { capacity: 2, ..Default::default() }).unwrap();
    d.add_node(1, Time::ZERO).unwrap();
    d.add_node(2, Time::ZERO).unwrap();
    assert_eq!(d.add_node(3, Time::ZERO), Err(HealthError::CapacityExceeded(2)));
    d.remove_node(1).unwrap();
    d.add_node(3, Time::ZERO).unwrap();
    assert_eq!(d.nodes(), vec![2, 3]);
    // A removed node's timer never fires for the node that reuses its slot.
    tick_to(&mut d, 30);
    let mut dead: Vec<u64> =
        std::iter::from_fn(|| d.poll_event()).filter(|e| e.kind == NodeEventKind::Dead).map(|e| e.node).collect();
    dead.sort_unstable();
    assert_eq!(dead, vec![2, 3]);
    d.check_invariants().unwrap();
}

#[test]
fn event_queue_overflow_is_counted() {
    let mut d = FailureDetector::new(DetectorConfig { event_capacity: 4, ..Default::default() }).unwrap();
    for n in 0..10 {
        d.add_node(n, Time::ZERO).unwrap();
    }
    tick_to(&mut d, 60);
    // 10 nodes × (suspected + dead) = 20 events, 4 kept.
    assert_eq!(d.events_dropped(), 16);
    assert_eq!(std::iter::from_fn(|| d.poll_event()).count(), 4);
}

/// Ticks every half second up to `secs` (a single jump would be a host stall).
fn tick_to(d: &mut FailureDetector, secs: u64) {
    for k in 1..=secs * 2 {
        d.tick(Time(k * NANOS_PER_SEC / 2));
    }
}

#[test]
fn one_long_jump_is_a_stall_not_a_crash() {
    let mut d = FailureDetector::new(DetectorConfig::default()).unwrap();
    d.add_node(1, Time::ZERO).unwrap();
    d.tick(Time::from_secs(30));
    assert!(d.poll_event().is_none());
    assert_eq!(d.stats().stalls, 1);
    tick_to(&mut d, 60);
    assert_eq!(d.node_state(1).unwrap(), NodeState::Dead);
}
