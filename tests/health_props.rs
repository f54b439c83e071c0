//! Property tests of the failure detector and disk health: a node that heartbeats within
//! its minimum interval is never suspected nor declared dead, and random operation
//! sequences (the same driver as `fuzz/fuzz_targets/health.rs`) keep every invariant: the
//! internal ones, legal transitions only, and states that agree with the events.

use std::collections::BTreeMap;

use proptest::prelude::*;
use trimtab::health::{
    DetectorConfig, DeviceState, DiskConfig, DiskHealth, DiskReport, FailureDetector, HealthError, NodeEventKind,
    NodeState,
};
use trimtab::time::NANOS_PER_MILLI;
use trimtab::Time;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Heartbeats at most `acceptable_pause` apart (1 s by default) never give a Suspected or
    /// Dead event, whatever the pattern (bursts, jitter) and however the host ticks between.
    #[test]
    fn heartbeats_within_the_minimum_interval_are_never_convicted(
        steps in proptest::collection::vec((1u64..=1000, 0u8..4), 1..600),
        nodes in 1u64..4,
    ) {
        let mut d = FailureDetector::new(DetectorConfig { initial_pause_allowance_ns: 0, pause_memory: 64, ..Default::default() }).unwrap();
        for n in 0..nodes {
            d.add_node(n, Time::ZERO).unwrap();
        }
        let mut now = 0u64;
        for (gap_ms, ticks) in steps {
            let gap = gap_ms * NANOS_PER_MILLI;
            for k in 1..=u64::from(ticks) {
                d.tick(Time(now + gap * k / (u64::from(ticks) + 1)));
            }
            now += gap;
            for n in 0..nodes {
                d.heartbeat(n, Time(now)).unwrap();
            }
            d.tick(Time(now));
            while let Some(e) = d.poll_event() {
                prop_assert!(false, "unexpected event {:?}", e);
            }
        }
        for n in 0..nodes {
            prop_assert_eq!(d.node_state(n).unwrap(), NodeState::Alive);
        }
    }

    /// Random operations keep the detector's invariants.
    #[test]
    fn detector_invariants_under_random_operations(ops in proptest::collection::vec(op(), 1..300)) {
        run_detector(&ops).map_err(TestCaseError::fail)?;
    }

    /// Random reports keep disk health consistent: Failed is sticky until reset, states
    /// agree with events, a silent device never stays Healthy past the staleness time.
    #[test]
    fn disk_invariants_under_random_operations(ops in proptest::collection::vec(disk_op(), 1..200)) {
        run_disk(&ops).map_err(TestCaseError::fail)?;
    }
}

/// One step of the detector driver (mirrors the fuzz target's `Op`).
#[derive(Debug, Clone)]
pub enum Op {
    Add(u8),
    Remove(u8),
    Beat(u8),
    Advance(u16),
    Stall(u16),
    Backwards(u16),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..6).prop_map(Op::Add),
        1 => (0u8..6).prop_map(Op::Remove),
        4 => (0u8..6).prop_map(Op::Beat),
        4 => (0u16..3000).prop_map(Op::Advance),
        1 => (0u16..40_000).prop_map(Op::Stall),
        1 => (0u16..5000).prop_map(Op::Backwards),
        2 => Just(Op::Tick),
    ]
}

fn legal(from: NodeState, kind: NodeEventKind) -> Option<NodeState> {
    match (from, kind) {
        (NodeState::Alive, NodeEventKind::Suspected) => Some(NodeState::Suspect),
        (NodeState::Suspect, NodeEventKind::Cleared) => Some(NodeState::Alive),
        (NodeState::Suspect, NodeEventKind::Dead) => Some(NodeState::Dead),
        (NodeState::Dead, NodeEventKind::Recovered) => Some(NodeState::Alive),
        _ => None,
    }
}

fn run_detector(ops: &[Op]) -> Result<(), String> {
    let cfg = DetectorConfig {
        capacity: 4,
        event_capacity: 64,
        pause_memory: 16,
        recovery_heartbeats: 2,
        ..Default::default()
    };
    let mut d = FailureDetector::new(cfg).map_err(|e| e.to_string())?;
    let mut shadow: BTreeMap<u64, NodeState> = BTreeMap::new();
    let mut now = 0u64;
    for op in ops {
        match *op {
            Op::Add(n) => match d.add_node(u64::from(n), Time(now)) {
                Ok(()) => {
                    shadow.insert(u64::from(n), NodeState::Alive);
                }
                Err(HealthError::DuplicateNode(_)) if shadow.contains_key(&u64::from(n)) => {}
                Err(HealthError::CapacityExceeded(4)) if shadow.len() == 4 => {}
                Err(e) => return Err(format!("add {n}: {e}")),
            },
            Op::Remove(n) => match d.remove_node(u64::from(n)) {
                Ok(()) => {
                    shadow.remove(&u64::from(n));
                }
                Err(HealthError::UnknownNode(_)) if !shadow.contains_key(&u64::from(n)) => {}
                Err(e) => return Err(format!("remove {n}: {e}")),
            },
            Op::Beat(n) => {
                let before = d.stats();
                match d.heartbeat(u64::from(n), Time(now)) {
                    Ok(()) => {}
                    Err(HealthError::UnknownNode(_)) if !shadow.contains_key(&u64::from(n)) => {
                        if d.stats() != before {
                            return Err("a rejected heartbeat changed the detector".into());
                        }
                    }
                    Err(e) => return Err(format!("beat {n}: {e}")),
                }
            }
            Op::Advance(ms) => now += u64::from(ms) * NANOS_PER_MILLI,
            Op::Stall(ms) => {
                now += u64::from(ms) * NANOS_PER_MILLI;
                d.tick(Time(now));
            }
            Op::Backwards(ms) => d.tick(Time(now.saturating_sub(u64::from(ms) * NANOS_PER_MILLI))),
            Op::Tick => d.tick(Time(now)),
        }
        while let Some(e) = d.poll_event() {
            let Some(s) = shadow.get_mut(&e.node) else {
                return Err(format!("event for unknown node: {e:?}"));
            };
            // Alive → Dead comes as Suspected then Dead.
            *s = legal(*s, e.kind).ok_or_else(|| format!("illegal transition {:?} from {:?}", e.kind, *s))?;
        }
        if d.events_dropped() > 0 {
            return Err("events dropped with a drained queue".into());
        }
        d.check_invariants()?;
        for (n, s) in &shadow {
            let got = d.node_state(*n).map_err(|e| e.to_string())?;
            if got != *s {
                return Err(format!("node {n}: state {got:?}, events say {s:?}"));
            }
        }
        if let Some(t) = d.next_deadline() {
            if t.as_nanos() > now.max(1) + 10_000 * NANOS_PER_MILLI {
                return Err(format!("next deadline {t} too far after {now}"));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum DiskOp {
    Add(u8),
    Remove(u8),
    Reset(u8),
    Report(u8, u8, u8, u8, Option<u16>, Option<u16>),
    Advance(u32),
    Tick,
}

fn disk_op() -> impl Strategy<Value = DiskOp> {
    prop_oneof![
        1 => (0u8..4).prop_map(DiskOp::Add),
        1 => (0u8..4).prop_map(DiskOp::Remove),
        1 => (0u8..4).prop_map(DiskOp::Reset),
        4 => (0u8..4, 0u8..10, 0u8..10, 0u8..50, proptest::option::of(0u16..300), proptest::option::of(0u16..80))
            .prop_map(|(a, b, c, d, e, f)| DiskOp::Report(a, b, c, d, e, f)),
        4 => (0u32..2_000_000).prop_map(DiskOp::Advance),
        2 => Just(DiskOp::Tick),
    ]
}

fn run_disk(ops: &[DiskOp]) -> Result<(), String> {
    let cfg = DiskConfig { stale_after_ns: 600_000 * NANOS_PER_MILLI, ..Default::default() };
    let stale = cfg.stale_after_ns;
    let mut h = DiskHealth::new(cfg).map_err(|e| e.to_string())?;
    let mut shadow: BTreeMap<u64, (DeviceState, u64)> = BTreeMap::new();
    let mut now = 0u64;
    for op in ops {
        match *op {
            DiskOp::Add(n) => {
                if h.add_device(u64::from(n), Time(now)).is_ok() {
                    shadow.insert(u64::from(n), (DeviceState::Healthy, now));
                }
            }
            DiskOp::Remove(n) => {
                if h.remove_device(u64::from(n)).is_ok() {
                    shadow.remove(&u64::from(n));
                }
            }
            DiskOp::Reset(n) => {
                if h.reset_device(u64::from(n), Time(now)).is_ok() {
                    if let Some(s) = shadow.get_mut(&u64::from(n)) {
                        s.1 = now;
                    }
                }
            }
            DiskOp::Report(n, io, ck, slow, re, pe) => {
                let r = DiskReport {
                    io_errors: u32::from(io),
                    checksum_errors: u32::from(ck),
                    slow_ops: u32::from(slow),
                    reallocated_sectors: re.map(u64::from),
                    pending_sectors: pe.map(u64::from),
                };
                let was_failed = shadow.get(&u64::from(n)).map(|s| s.0) == Some(DeviceState::Failed);
                match h.report(u64::from(n), &r, Time(now)) {
                    Ok(()) => {
                        if let Some(s) = shadow.get_mut(&u64::from(n)) {
                            s.1 = now;
                        }
                        if was_failed && h.device_state(u64::from(n)).ok() != Some(DeviceState::Failed) {
                            return Err("failed is not sticky".into());
                        }
                    }
                    Err(HealthError::UnknownDevice(_)) if !shadow.contains_key(&u64::from(n)) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            DiskOp::Advance(ms) => now += u64::from(ms) * NANOS_PER_MILLI,
            DiskOp::Tick => h.tick(Time(now)),
        }
        while let Some(e) = h.poll_event() {
            let Some(s) = shadow.get_mut(&e.device) else {
                return Err(format!("event for unknown device {e:?}"));
            };
            if s.0 != e.from || e.from == e.to {
                return Err(format!("event {e:?} but shadow says {:?}", s.0));
            }
            s.0 = e.to;
        }
        for (n, (s, last)) in &shadow {
            let got = h.device_state(*n).map_err(|e| e.to_string())?;
            if got != *s {
                return Err(format!("device {n}: {got:?} vs events {s:?}"));
            }
            // After a tick at or past the staleness time, a silent device is not Healthy.
            if let Some(dl) = h.next_deadline() {
                if dl.as_nanos() > last.saturating_add(stale) && *s == DeviceState::Healthy {
                    return Err(format!("device {n} healthy with no stale timer"));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn regression_examples() {
    run_detector(&[
        Op::Add(1),
        Op::Stall(30_000),
        Op::Beat(1),
        Op::Advance(2999),
        Op::Tick,
        Op::Remove(1),
        Op::Add(1),
        Op::Tick,
    ])
    .unwrap();
    run_disk(&[
        DiskOp::Add(0),
        DiskOp::Advance(1_999_999),
        DiskOp::Tick,
        DiskOp::Report(0, 9, 9, 49, Some(299), Some(79)),
    ])
    .unwrap();
}
