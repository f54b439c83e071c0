//! An op-sequence driver over the C ABI (map, placement, plans), shared by the fuzz target
//! `fuzz/fuzz_targets/c_abi.rs` and its proptest twin `tests/fuzz_c_abi.rs`. It calls the
//! exported functions the way a careless C host might (NULL pointers, wrong lengths, unknown
//! enum values, NaN weights, truncated snapshots) and checks that every call returns a
//! status, never `PANIC`, and that out-pointers are written only on success.

use arbitrary::Arbitrary;
use std::ptr::{null, null_mut};
use trimtab::ffi::placement::*;
use trimtab::ffi::topology::*;
use trimtab::ffi::trimtab_status;

#[derive(Arbitrary, Debug)]
pub enum Op {
    AddDevice { id: u8, rack: u8, host: u8, levels: u8, weight: f64, has_weight: bool, state: u8, null_loc: bool },
    Remove { ids: Vec<u8>, null_ids: bool },
    SetWeight { id: u8, weight: f64 },
    SetState { id: u8, state: u8 },
    NewPlacement { mode: u8, replicas: u8, k: u8, m: u8, level: u8, pgs: u16 },
    PgDevices { pg: u16, cap: u8, null_buf: bool },
    ObjectToPg { name: Vec<u8> },
    Update { policy: u8, want_plan: bool },
    Balance { max_moves: u8, deviation: f64, full: f64 },
    Snapshot { cap: u16, truncate: u16 },
    PlacementSnapshot { cap: u16 },
    PlanReads { first: u8, cap: u8 },
    FreePlacement,
}

fn ok(s: trimtab_status) -> bool {
    assert_ne!(s, trimtab_status::Panic, "a call panicked");
    s == trimtab_status::Ok
}

const LEVELS: [&str; 4] = ["rack", "host", "row", "device"];

pub fn run(ops: &[Op]) {
    let levels =
        [trimtab_str { ptr: "rack".as_ptr().cast(), len: 4 }, trimtab_str { ptr: "host".as_ptr().cast(), len: 4 }];
    let mut t: *mut trimtab_topology = null_mut();
    // SAFETY (all blocks below): every pointer handed over is either NULL (which the ABI
    // must reject), or points to live locals of the right length, or is a handle that this
    // driver made and has not freed.
    unsafe {
        assert!(ok(trimtab_topology_new(levels.as_ptr(), 2, &mut t)));
        let mut p: *mut trimtab_placement = null_mut();
        let mut plan: *mut trimtab_plan = null_mut();
        for op in ops.iter().take(150) {
            match op {
                Op::AddDevice { id, rack, host, levels, weight, has_weight, state, null_loc } => {
                    let r = format!("r{}", rack % 4);
                    let h = format!("h{}", host % 10);
                    let loc = [
                        trimtab_str { ptr: r.as_ptr().cast(), len: r.len() },
                        trimtab_str { ptr: h.as_ptr().cast(), len: h.len() },
                        trimtab_str { ptr: "x".as_ptr().cast(), len: 1 },
                    ];
                    let spec = trimtab_device_spec {
                        id: *id as u32,
                        location: if *null_loc { null() } else { loc.as_ptr() },
                        location_len: (*levels % 4) as usize,
                        has_weight: *has_weight,
                        weight: *weight,
                        capacity_bytes: 4_000_000_000_000,
                        used_bytes: 0,
                        state: *state,
                    };
                    let mut before = 0u64;
                    assert!(ok(trimtab_topology_epoch(t, &mut before)));
                    let s = trimtab_topology_add_devices(t, &spec, 1);
                    let mut after = 0u64;
                    assert!(ok(trimtab_topology_epoch(t, &mut after)));
                    assert_eq!(ok(s), after == before + 1, "epoch must move exactly on success");
                }
                Op::Remove { ids, null_ids } => {
                    let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
                    ok(trimtab_topology_remove_devices(t, if *null_ids { null() } else { ids.as_ptr() }, ids.len()));
                }
                Op::SetWeight { id, weight } => {
                    ok(trimtab_topology_set_weight(t, *id as u32, *weight));
                }
                Op::SetState { id, state } => {
                    ok(trimtab_topology_set_state(t, *id as u32, *state));
                }
                Op::NewPlacement { mode, replicas, k, m, level, pgs } => {
                    let l = LEVELS[(*level % 4) as usize];
                    let rule = trimtab_rule {
                        mode: mode % 3,
                        replicas: *replicas % 6,
                        ec_data: k % 5,
                        ec_coding: m % 3,
                        failure_domain: trimtab_str { ptr: l.as_ptr().cast(), len: l.len() },
                    };
                    let mut out: *mut trimtab_placement = null_mut();
                    let s = trimtab_placement_new(t, &rule, (*pgs % 512) as u32, 7, &mut out);
                    assert_eq!(ok(s), !out.is_null(), "out written only on success");
                    if !out.is_null() {
                        trimtab_placement_free(p);
                        p = out;
                    }
                }
                Op::PgDevices { pg, cap, null_buf } => {
                    let mut buf = [0u32; 16];
                    let cap = (*cap % 17) as usize;
                    let mut len = usize::MAX;
                    let s = trimtab_placement_pg_devices(
                        p,
                        *pg as u32,
                        if *null_buf { null_mut() } else { buf.as_mut_ptr() },
                        cap,
                        &mut len,
                    );
                    if s == trimtab_status::BufferTooShort {
                        assert!(len > cap || *null_buf);
                    }
                    ok(s);
                }
                Op::ObjectToPg { name } => {
                    let mut pg = u32::MAX;
                    if ok(trimtab_placement_object_to_pg(p, name.as_ptr(), name.len(), &mut pg)) {
                        assert_ne!(pg, u32::MAX);
                    }
                }
                Op::Update { policy, want_plan } => {
                    let mut out: *mut trimtab_plan = null_mut();
                    let s = trimtab_placement_update(
                        p,
                        t,
                        (*policy % 3) as u32,
                        if *want_plan { &mut out } else { null_mut() },
                    );
                    if ok(s) && *want_plan {
                        assert!(!out.is_null());
                        trimtab_plan_free(plan);
                        plan = out;
                    } else {
                        assert!(out.is_null());
                    }
                }
                Op::Balance { max_moves, deviation, full } => {
                    let mut cfg =
                        trimtab_balancer_config { max_deviation: 0.0, max_moves: 0, full_ratio: 0.0, by_bytes: false };
                    assert!(ok(trimtab_balancer_config_default(&mut cfg)));
                    cfg.max_moves = *max_moves as usize;
                    cfg.max_deviation = *deviation;
                    cfg.full_ratio = *full;
                    let mut out: *mut trimtab_plan = null_mut();
                    let mut converged = false;
                    if ok(trimtab_placement_balance(p, t, &cfg, &mut out, &mut converged)) {
                        let mut sum = trimtab_plan_summary::default();
                        assert!(ok(trimtab_plan_summary_get(out, &mut sum)));
                        assert!(sum.moves <= *max_moves as usize);
                    }
                    trimtab_plan_free(out);
                }
                Op::Snapshot { cap, truncate } => {
                    let mut buf = vec![0 as std::ffi::c_char; *cap as usize];
                    let mut len = 0usize;
                    let s = trimtab_topology_snapshot(t, buf.as_mut_ptr(), buf.len(), &mut len);
                    if ok(s) {
                        let cut = len.saturating_sub(*truncate as usize);
                        let mut back: *mut trimtab_topology = null_mut();
                        let s = trimtab_topology_from_snapshot(buf.as_ptr(), cut, &mut back);
                        assert_eq!(ok(s), !back.is_null());
                        assert!(*truncate == 0 || !ok(s), "a truncated snapshot was accepted");
                        trimtab_topology_free(back);
                    } else {
                        assert!(len + 1 > buf.len());
                    }
                }
                Op::PlacementSnapshot { cap } => {
                    let mut buf = vec![0 as std::ffi::c_char; *cap as usize * 16];
                    let mut len = 0usize;
                    if ok(trimtab_placement_snapshot(p, buf.as_mut_ptr(), buf.len(), &mut len)) {
                        let mut back: *mut trimtab_placement = null_mut();
                        if ok(trimtab_placement_from_snapshot(buf.as_ptr(), len, t, &mut back)) {
                            let mut same: *mut trimtab_plan = null_mut();
                            assert!(ok(trimtab_placement_plan(p, back, &mut same)));
                            let mut sum = trimtab_plan_summary::default();
                            assert!(ok(trimtab_plan_summary_get(same, &mut sum)));
                            assert_eq!(sum.moves, 0);
                            trimtab_plan_free(same);
                        }
                        trimtab_placement_free(back);
                    }
                }
                Op::PlanReads { first, cap } => {
                    let mut buf = [trimtab_shard_move::default(); 8];
                    let mut len = usize::MAX;
                    let s = trimtab_plan_moves(plan, *first as usize, buf.as_mut_ptr(), (*cap % 9) as usize, &mut len);
                    if ok(s) {
                        assert!(len <= 8);
                    }
                }
                Op::FreePlacement => {
                    trimtab_placement_free(p);
                    p = null_mut();
                }
            }
        }
        trimtab_plan_free(plan);
        trimtab_placement_free(p);
        trimtab_topology_free(t);
    }
}

pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut u = arbitrary::Unstructured::new(bytes);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 150 {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}
