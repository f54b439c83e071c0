//! An op-sequence driver for the cluster map and placement, shared by the fuzz target
//! (`fuzz/fuzz_targets/placement.rs`) and its proptest twin (`tests/fuzz_placement.rs`).
//! After every op it checks: a rejected call changed nothing; the placement keeps the
//! failure-domain rule and only uses devices that accept data; snapshots restore exactly.

use arbitrary::Arbitrary;
use trimtab::placement::{BalancerConfig, Placement, Rule, UpdatePolicy};
use trimtab::topology::{DeviceSpec, Topology, NO_DEVICE};

#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    Add { id: u8, rack: u8, host: u8, weight: u8, nan: bool },
    Remove { id: u8 },
    MarkOut { id: u8 },
    MarkIn { id: u8 },
    MarkDown { id: u8 },
    Drain { id: u8, on: bool },
    SetWeight { id: u8, weight: i16 },
    SetUsed { id: u8, percent: u8 },
    Update { pin: bool },
    Balance { max_moves: u8, by_bytes: bool },
    SetPgBytes { seed: u16 },
    Snapshot,
    Lookup { name: Vec<u8>, pg: u16 },
}

fn check(t: &Topology, p: &Placement) {
    for pg in 0..p.pg_count() {
        let row = p.pg_row(pg).expect("pg in range");
        let mut racks: Vec<&str> = Vec::new();
        for &d in row {
            if d == NO_DEVICE {
                continue;
            }
            let dev = t.device(d).expect("placed on a device of the map");
            assert!(dev.accepts_data(), "pg {pg} on device {d} that does not accept data");
            let rack = dev.location[0].as_str();
            assert!(!racks.contains(&rack), "pg {pg}: two shards in rack {rack}");
            racks.push(rack);
        }
    }
}

/// Decodes ops one at a time until the input runs out (a fuzzer's bytes or proptest's).
pub fn decode(bytes: &[u8]) -> (bool, Vec<Op>) {
    let mut u = arbitrary::Unstructured::new(bytes);
    let ec = bool::arbitrary(&mut u).unwrap_or(false);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 200 {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    (ec, ops)
}

pub fn run(ops: &[Op], ec: bool) {
    // Start from a populated map: 24 devices, 4 racks, 12 hosts (host h<k> is in rack r<k % 4>).
    let specs = (0..24u32)
        .map(|i| {
            DeviceSpec::new(i, 1_000_000_000_000)
                .at(&[("rack", &format!("r{}", i % 4)), ("host", &format!("h{}", i % 12))])
        })
        .collect();
    let mut t = Topology::from_devices(&["rack", "host"], specs).expect("initial map");
    let rule = if ec { Rule::erasure(2, 1, "rack") } else { Rule::replicated(2, "rack") };
    let pgs = 48;
    let mut p: Option<Placement> = Placement::compute(&t, &rule, pgs).ok();
    for op in ops.iter().take(200) {
        let before = t.clone();
        let result = match op {
            Op::Add { id, rack, host, weight, nan } => {
                let w = if *nan { f64::NAN } else { *weight as f64 / 16.0 };
                let spec = DeviceSpec::new(*id as u32, 1_000_000_000_000)
                    .at(&[("rack", &format!("r{}", rack % 5)), ("host", &format!("h{}", host % 14))])
                    .weight(w);
                t.add_devices(vec![spec])
            }
            Op::Remove { id } => t.remove_devices(&[*id as u32]),
            Op::MarkOut { id } => t.mark_out(*id as u32),
            Op::MarkIn { id } => t.mark_in(*id as u32),
            Op::MarkDown { id } => t.mark_down(*id as u32),
            Op::Drain { id, on } => t.set_draining(*id as u32, *on),
            Op::SetWeight { id, weight } => t.set_weight(*id as u32, *weight as f64 / 8.0),
            Op::SetUsed { id, percent } => t.set_used_bytes(*id as u32, 10_000_000_000 * *percent as u64),
            Op::Update { pin } => {
                match p.as_mut() {
                    None => p = Placement::compute(&t, &rule, pgs).ok(),
                    Some(pl) => {
                        let old = pl.clone();
                        let policy = if *pin { UpdatePolicy::Pin } else { UpdatePolicy::Rehash };
                        match pl.update(&t, policy) {
                            Ok(plan) => {
                                assert_eq!(pl.epoch(), t.epoch());
                                if *pin {
                                    // Only shards whose device became invalid move (or holes fill).
                                    for m in &plan.moves {
                                        let still_ok =
                                            m.from != NO_DEVICE && t.device(m.from).is_some_and(|d| d.accepts_data());
                                        let rule_broken = still_ok && {
                                            let row = old.pg_row(m.pg).unwrap();
                                            let rack = &t.device(m.from).unwrap().location[0];
                                            row.iter()
                                                .filter(|&&d| {
                                                    d != NO_DEVICE
                                                        && t.device(d).is_some_and(|x| &x.location[0] == rack)
                                                })
                                                .count()
                                                > 1
                                        };
                                        assert!(!still_ok || rule_broken, "pin moved a valid shard: {m:?}");
                                    }
                                }
                            }
                            Err(_) => {
                                let s = old.to_snapshot();
                                assert_eq!(pl.to_snapshot(), s, "failed update changed the placement");
                            }
                        }
                    }
                }
                Ok(())
            }
            Op::Balance { max_moves, by_bytes } => {
                if let Some(pl) = p.as_mut() {
                    if pl.epoch() == t.epoch() {
                        let cfg = BalancerConfig {
                            max_moves: *max_moves as usize,
                            by_bytes: *by_bytes,
                            ..Default::default()
                        };
                        let r = pl.balance_round(&t, &cfg).expect("balance on the current map");
                        assert!(r.moves.len() <= *max_moves as usize);
                    } else {
                        assert!(pl.balance_round(&t, &BalancerConfig::default()).is_err());
                    }
                }
                Ok(())
            }
            Op::SetPgBytes { seed } => {
                if let Some(pl) = p.as_mut() {
                    let sizes = (0..pgs as u64).map(|i| trimtab::hash::mix64(i ^ *seed as u64) % (1 << 34)).collect();
                    pl.set_pg_bytes(sizes).expect("sizes");
                }
                Ok(())
            }
            Op::Snapshot => {
                let back = Topology::from_snapshot(&t.to_snapshot()).expect("restore");
                assert_eq!(back, t);
                if let Some(pl) = &p {
                    if pl.epoch() == t.epoch() {
                        let q = Placement::from_snapshot(&pl.to_snapshot(), &t).expect("restore placement");
                        for pg in 0..pgs {
                            assert_eq!(q.pg_row(pg).unwrap(), pl.pg_row(pg).unwrap());
                        }
                    }
                }
                Ok(())
            }
            Op::Lookup { name, pg } => {
                if let Some(pl) = &p {
                    assert!(pl.object_to_pg(name) < pgs);
                    assert_eq!(pl.pg_devices(*pg as u32).is_ok(), (*pg as u32) < pgs);
                }
                Ok(())
            }
        };
        if result.is_err() {
            assert_eq!(t, before, "a rejected change altered the map: {op:?}");
        }
        if let Some(pl) = &p {
            if pl.epoch() == t.epoch() {
                check(&t, pl);
            }
        }
    }
}
