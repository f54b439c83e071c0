//! Fuzzes the failure detector and disk health with random operation sequences (including
//! time advancing, host stalls and time going backwards), checking after every operation
//! that the internal invariants hold, that every event is a legal transition, and that the
//! reported states agree with the events. `tests/health_props.rs` runs the same driver
//! under proptest on stable.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trimtab::health::{
    DetectorConfig, DeviceState, DiskConfig, DiskHealth, DiskReport, FailureDetector, HealthError,
    NodeEventKind, NodeState,
};
use trimtab::time::NANOS_PER_MILLI;
use trimtab::Time;

#[derive(Debug, Arbitrary)]
enum Op {
    Add(u8),
    Remove(u8),
    Beat(u8),
    Advance(u16),
    Stall(u16),
    Backwards(u16),
    Tick,
    DiskAdd(u8),
    DiskRemove(u8),
    DiskReset(u8),
    DiskReport(u8, u32, u32, u32, Option<u64>, Option<u64>),
    DiskTick,
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

fuzz_target!(|ops: Vec<Op>| {
    let cfg = DetectorConfig {
        capacity: 8,
        event_capacity: 64,
        pause_memory: 16,
        recovery_heartbeats: 2,
        ..Default::default()
    };
    let mut d = FailureDetector::new(cfg).unwrap();
    let mut h = DiskHealth::new(DiskConfig::default()).unwrap();
    let mut nodes: BTreeMap<u64, NodeState> = BTreeMap::new();
    let mut devs: BTreeMap<u64, DeviceState> = BTreeMap::new();
    let mut now = 0u64;
    for op in ops {
        match op {
            Op::Add(n) => {
                if d.add_node(u64::from(n), Time(now)).is_ok() {
                    nodes.insert(u64::from(n), NodeState::Alive);
                }
            }
            Op::Remove(n) => {
                if d.remove_node(u64::from(n)).is_ok() {
                    nodes.remove(&u64::from(n));
                }
            }
            Op::Beat(n) => {
                let before = d.stats();
                match d.heartbeat(u64::from(n), Time(now)) {
                    Ok(()) => assert!(nodes.contains_key(&u64::from(n))),
                    Err(HealthError::UnknownNode(_)) => {
                        assert!(!nodes.contains_key(&u64::from(n)));
                        assert_eq!(d.stats(), before);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Advance(ms) => now += u64::from(ms) * NANOS_PER_MILLI,
            Op::Stall(ms) => {
                now += u64::from(ms) * 10 * NANOS_PER_MILLI;
                d.tick(Time(now));
            }
            Op::Backwards(ms) => d.tick(Time(now.saturating_sub(u64::from(ms) * NANOS_PER_MILLI))),
            Op::Tick => d.tick(Time(now)),
            Op::DiskAdd(n) => {
                if h.add_device(u64::from(n), Time(now)).is_ok() {
                    devs.insert(u64::from(n), DeviceState::Healthy);
                }
            }
            Op::DiskRemove(n) => {
                if h.remove_device(u64::from(n)).is_ok() {
                    devs.remove(&u64::from(n));
                }
            }
            Op::DiskReset(n) => {
                let _ = h.reset_device(u64::from(n), Time(now));
            }
            Op::DiskReport(n, io, ck, slow, re, pe) => {
                let r = DiskReport {
                    io_errors: io,
                    checksum_errors: ck,
                    slow_ops: slow,
                    reallocated_sectors: re,
                    pending_sectors: pe,
                };
                let was_failed = devs.get(&u64::from(n)) == Some(&DeviceState::Failed);
                if h.report(u64::from(n), &r, Time(now)).is_ok() && was_failed {
                    assert_eq!(h.device_state(u64::from(n)).unwrap(), DeviceState::Failed);
                }
            }
            Op::DiskTick => h.tick(Time(now)),
        }
        while let Some(e) = d.poll_event() {
            let s = nodes.get_mut(&e.node).expect("event for a tracked node");
            *s = legal(*s, e.kind).expect("legal transition");
        }
        while let Some(e) = h.poll_event() {
            let s = devs.get_mut(&e.device).expect("event for a tracked device");
            assert_eq!(*s, e.from);
            *s = e.to;
        }
        d.check_invariants().unwrap();
        for (n, s) in &nodes {
            assert_eq!(d.node_state(*n).unwrap(), *s);
        }
        for (n, s) in &devs {
            assert_eq!(h.device_state(*n).unwrap(), *s);
        }
    }
});
