//! An op-sequence driver over the C ABI (map, placement, plans, the throttle, the migration
//! scheduler, the partition detector, the failure detector and disk health),
//! shared by the fuzz target
//! `fuzz/fuzz_targets/c_abi.rs` and its proptest twin `tests/fuzz_c_abi.rs`. It calls the
//! exported functions the way a careless C host might (NULL pointers, wrong lengths, unknown
//! enum values, NaN weights, truncated snapshots) and checks that every call returns a
//! status, never `PANIC`, and that out-pointers are written only on success.

use arbitrary::Arbitrary;
use std::ptr::{null, null_mut};
use trimtab::ffi::health::*;
use trimtab::ffi::migration::*;
use trimtab::ffi::partition::*;
use trimtab::ffi::placement::*;
use trimtab::ffi::throttle::*;
use trimtab::ffi::topology::*;
use trimtab::ffi::trimtab_status;

#[derive(Arbitrary, Debug)]
pub enum Op {
    AddDevice {
        id: u8,
        rack: u8,
        host: u8,
        levels: u8,
        weight: f64,
        has_weight: bool,
        state: u8,
        null_loc: bool,
    },
    Remove {
        ids: Vec<u8>,
        null_ids: bool,
    },
    SetWeight {
        id: u8,
        weight: f64,
    },
    SetState {
        id: u8,
        state: u8,
    },
    NewPlacement {
        mode: u8,
        replicas: u8,
        k: u8,
        m: u8,
        level: u8,
        pgs: u16,
    },
    PgDevices {
        pg: u16,
        cap: u8,
        null_buf: bool,
    },
    ObjectToPg {
        name: Vec<u8>,
    },
    Update {
        policy: u8,
        want_plan: bool,
    },
    Balance {
        max_moves: u8,
        deviation: f64,
        full: f64,
    },
    Snapshot {
        cap: u16,
        truncate: u16,
    },
    PlacementSnapshot {
        cap: u16,
    },
    PlanReads {
        first: u8,
        cap: u8,
    },
    FreePlacement,
    /// A new scheduler (replacing the one held), from the defaults with small caps.
    SchedNew {
        max_tasks: u8,
        policy: u8,
        chunk: u16,
        null_cfg: bool,
        null_out: bool,
    },
    SchedPush {
        pg: u8,
        shard: u8,
        from: u8,
        to: u8,
        bytes: u32,
        kind: u8,
        priority: u8,
        importance: i32,
        null_out: bool,
    },
    /// A plan of `n % 6` moves; the one at `bad % 8` (if within it) has an unknown kind.
    SchedPushPlan {
        n: u8,
        pg: u8,
        bad: u8,
        null_moves: bool,
        null_ids: bool,
    },
    SchedTick {
        dt_ms: u16,
        back: bool,
    },
    /// Drains events and grants; the host copies what it is granted.
    SchedPoll {
        null_out: bool,
    },
    /// Cancel (or re-prioritize, or report on) a pushed task, or a made-up id when `raw`.
    SchedCancel {
        pick: u8,
        raw: bool,
    },
    SchedCancelMany {
        picks: Vec<u8>,
        null_ids: bool,
    },
    SchedSetPriority {
        pick: u8,
        priority: u8,
    },
    SchedReport {
        pick: u8,
        what: u8,
        bytes: u32,
    },
    SchedSetPolicy {
        policy: u8,
    },
    SchedStatus {
        null_out: bool,
    },
    SchedFree,
    /// A new throttle (replacing the one held) with a global limit of `rate`/`burst`.
    ThrNew {
        max_nodes: u8,
        rate: u32,
        burst: u32,
        null_cfg: bool,
        null_out: bool,
    },
    ThrAddNode {
        node: u8,
        rate: u32,
        burst: u32,
    },
    /// Time moves (backwards when `back`), then one of try_acquire, acquire_up_to, reserve
    /// and refund (`how % 4`) on a path.
    ThrAcquire {
        from: u8,
        to: u8,
        bytes: u32,
        how: u8,
        dt_ms: u16,
        back: bool,
        null_out: bool,
    },
    ThrSetLimits {
        node: u8,
        rate: u32,
        burst: u32,
        global: bool,
    },
    ThrLoad {
        has_node: bool,
        node: u8,
        cpu: f64,
        memory: f64,
        io_wait: f64,
        latency: f64,
        null_metrics: bool,
    },
    ThrCeiling {
        has_node: bool,
        node: u8,
        null_out: bool,
    },
    ThrFree,
    PartNew {
        max_nodes: u8,
        null_cfg: bool,
        null_out: bool,
    },
    PartAddNode {
        id: u8,
        votes: u8,
        priority: u8,
    },
    PartRemoveNode {
        id: u8,
    },
    PartSetVotes {
        id: u8,
        votes: u8,
        priority: bool,
    },
    /// Node `node` reports the peers it reaches, `dt_ms` later (or earlier when `back`).
    PartReport {
        node: u8,
        reaches: Vec<u8>,
        null_reaches: bool,
        dt_ms: u16,
        back: bool,
    },
    PartTick {
        dt_ms: u16,
    },
    PartPoll {
        null_out: bool,
    },
    /// One of the queries (`what % 5`) about node `node`, with a NULL out when `null_out`.
    PartQuery {
        node: u8,
        what: u8,
        null_out: bool,
    },
    PartPictureJson {
        cap: u16,
        null_buf: bool,
    },
    PartReportJson {
        json: Vec<u8>,
    },
    PartFree,
    /// A new failure detector (replacing the one held) of `capacity % 8` nodes, or a new
    /// disk-health tracker when `disks`.
    HealthNew {
        capacity: u8,
        threshold: f64,
        disks: bool,
        null_cfg: bool,
        null_out: bool,
    },
    /// Add, remove, heartbeat (node) or reset (device) `id`, `dt_ms` later (`what % 3`).
    HealthNode {
        id: u8,
        what: u8,
        dt_ms: u16,
        disks: bool,
    },
    DiskReport {
        device: u8,
        io: u32,
        checksum: u32,
        slow: u32,
        has_realloc: u8,
        realloc: u64,
        has_pending: u8,
        pending: u64,
        null_report: bool,
    },
    HealthTick {
        dt_ms: u16,
        back: bool,
        disks: bool,
    },
    /// Drain events, then ask one node's or device's state, the deadline and the drops.
    HealthQuery {
        id: u8,
        disks: bool,
        null_out: bool,
    },
    HealthFree {
        disks: bool,
    },
}

/// A move of `bytes` from node `from` to node `to`, priority 5.
fn a_move(pg: u32, from: u32, to: u32, bytes: u64, kind: u8) -> trimtab_move {
    trimtab_move {
        pg,
        shard: 0,
        kind,
        priority: 5,
        from_device: from * 10,
        to_device: to * 10,
        from_node: from,
        to_node: to,
        bytes,
        deadline_ns: 0,
        importance: -1,
        access_rate: 0,
    }
}

fn no_event() -> trimtab_migration_event {
    trimtab_migration_event {
        kind: trimtab_migration_event_kind::Started,
        id: u64::MAX,
        other_id: 0,
        reason: 0,
        attempt: 0,
        at_ns: 0,
    }
}

/// Drains the scheduler's events and grants as a host does: a retry starts the task's
/// copy over, a grant adds to what the host may copy.
///
/// # Safety
/// `sch` NULL or a live handle.
unsafe fn drain_sched(sch: *mut trimtab_scheduler, copied: &mut std::collections::BTreeMap<u64, (u64, u64)>) {
    // SAFETY: the out-pointers are live locals; `sch` per the contract.
    unsafe {
        loop {
            let (mut e, mut has) = (no_event(), false);
            if !ok(trimtab_scheduler_poll_event(sch, &mut e, &mut has)) || !has {
                assert_eq!(e.id, u64::MAX, "event written when there was none");
                break;
            }
            if e.kind == trimtab_migration_event_kind::Retrying {
                copied.insert(e.id, (0, 0));
            }
        }
        loop {
            let (mut g, mut has) = (trimtab_grant { id: u64::MAX, bytes: 0 }, false);
            if !ok(trimtab_scheduler_poll_grant(sch, &mut g, &mut has)) || !has {
                break;
            }
            copied.entry(g.id).or_default().0 += g.bytes;
        }
    }
}

/// A config struct as the ABI's `*_config_default` fills it.
///
/// # Safety
/// `default` writes a whole `C` when it returns OK.
unsafe fn defaults<C>(default: unsafe extern "C" fn(*mut C) -> trimtab_status) -> C {
    let mut c = std::mem::MaybeUninit::<C>::uninit();
    // SAFETY: `c` is valid for one write; OK means it was written (the contract).
    unsafe {
        assert!(ok(default(c.as_mut_ptr())));
        c.assume_init()
    }
}

/// Makes a handle with `new` from `cfg` (or NULL for either pointer, as flagged), checks
/// that the out-pointer is written exactly on success, and on success frees the handle
/// `held` with `free` and holds the new one instead. Returns whether it did.
///
/// # Safety
/// `new` and `free` are the ABI's pair for `H`; `held` is NULL or a live handle.
unsafe fn renew<C, H>(
    cfg: &C,
    null_cfg: bool,
    null_out: bool,
    held: &mut *mut H,
    new: impl FnOnce(*const C, *mut *mut H) -> trimtab_status,
    free: unsafe extern "C" fn(*mut H),
) -> bool {
    let mut out: *mut H = null_mut();
    let s = new(if null_cfg { null() } else { cfg }, if null_out { null_mut() } else { &mut out });
    assert_eq!(ok(s), !out.is_null(), "out written only on success");
    if out.is_null() {
        return false;
    }
    // SAFETY: `held` per the contract.
    unsafe { free(*held) };
    *held = out;
    true
}

fn no_status() -> trimtab_migration_status {
    trimtab_migration_status {
        queued: u64::MAX,
        running: 0,
        backoff: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
        superseded: 0,
        bytes_done: 0,
        bytes_left: 0,
        rate_bps: 0,
        eta_ns: 0,
        events_dropped: 0,
    }
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
        let mut sch: *mut trimtab_scheduler = null_mut();
        let base = defaults(trimtab_scheduler_config_default);
        assert!(ok(trimtab_scheduler_new(&base, 0, &mut sch)));
        // Ids handed out (live or not) and what the host was granted and copied of each.
        let mut ids: Vec<u64> = Vec::new();
        let mut copied: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
        let mut now = 0u64;
        let pick = |ids: &Vec<u64>, i: u8| ids.get(i as usize % ids.len().max(1)).copied().unwrap_or(7);
        let mut thr: *mut trimtab_throttle = null_mut();
        let tbase = defaults(trimtab_throttle_config_default);
        assert!(ok(trimtab_throttle_new(&tbase, 0, &mut thr)));
        let mut tnow = 0u64;
        let mut part: *mut trimtab_partition = null_mut();
        let pbase = defaults(trimtab_partition_config_default);
        assert!(ok(trimtab_partition_new(&pbase, &mut part)));
        let mut pnow = 0u64;
        let mut det: *mut trimtab_detector = null_mut();
        let dbase = defaults(trimtab_detector_config_default);
        assert!(ok(trimtab_detector_new(&dbase, &mut det)));
        let mut disk: *mut trimtab_disk_health = null_mut();
        let hbase = defaults(trimtab_disk_health_config_default);
        assert!(ok(trimtab_disk_health_new(&hbase, &mut disk)));
        let mut hnow = 0u64;
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
                Op::SchedNew { max_tasks, policy, chunk, null_cfg, null_out } => {
                    let c = trimtab_scheduler_config {
                        max_tasks: *max_tasks as u32,
                        policy: *policy % 4,
                        chunk_bytes: *chunk as u64,
                        max_out_per_node: 2,
                        max_in_per_node: 2,
                        ..base
                    };
                    if renew(
                        &c,
                        *null_cfg,
                        *null_out,
                        &mut sch,
                        |c, o| trimtab_scheduler_new(c, now, o),
                        trimtab_scheduler_free,
                    ) {
                        ids.clear();
                        copied.clear();
                    }
                }
                Op::SchedPush { pg, shard, from, to, bytes, kind, priority, importance, null_out } => {
                    let m = trimtab_move {
                        shard: shard % 3,
                        priority: priority % 12,
                        importance: *importance % 1200,
                        ..a_move(
                            (*pg % 16) as u32,
                            (*from % 4) as u32,
                            (*to % 4) as u32,
                            *bytes as u64 % 100_000,
                            kind % 6,
                        )
                    };
                    let mut id = u64::MAX;
                    let s = trimtab_scheduler_push(sch, &m, now, if *null_out { null_mut() } else { &mut id });
                    assert_eq!(ok(s), id != u64::MAX, "id written only on success");
                    if ok(s) {
                        ids.push(id);
                        copied.insert(id, (0, 0));
                    }
                }
                Op::SchedPushPlan { n, pg, bad, null_moves, null_ids } => {
                    let n = (*n % 6) as usize;
                    let moves: Vec<trimtab_move> = (0..n)
                        .map(|i| {
                            let kind = if i == (*bad % 8) as usize { 9 } else { 2 };
                            a_move((*pg as u32 + i as u32) % 16, i as u32 % 4, (i as u32 + 1) % 4, 5000, kind)
                        })
                        .collect();
                    let mut out = vec![u64::MAX; n];
                    let mut pushed = usize::MAX;
                    let s = trimtab_scheduler_push_plan(
                        sch,
                        if *null_moves { null() } else { moves.as_ptr() },
                        n,
                        now,
                        if *null_ids { null_mut() } else { out.as_mut_ptr() },
                        &mut pushed,
                    );
                    ok(s);
                    if pushed != usize::MAX {
                        // The ids before the first refusal, and only those, are written.
                        assert!(pushed <= n && (pushed == n || !ok(s)));
                        assert!(out[..pushed].iter().all(|&id| id != u64::MAX));
                        assert!(out[pushed..].iter().all(|&id| id == u64::MAX));
                        for &id in &out[..pushed] {
                            ids.push(id);
                            copied.insert(id, (0, 0));
                        }
                    }
                }
                Op::SchedTick { dt_ms, back } => {
                    let t = if *back {
                        now.saturating_sub(*dt_ms as u64 * 1_000_000)
                    } else {
                        now + *dt_ms as u64 * 1_000_000
                    };
                    now = now.max(t);
                    ok(trimtab_scheduler_tick(sch, t));
                }
                Op::SchedPoll { null_out } => {
                    if *null_out {
                        let mut has = false;
                        assert!(!ok(trimtab_scheduler_poll_event(sch, null_mut(), &mut has)));
                        let mut g = trimtab_grant { id: u64::MAX, bytes: 0 };
                        assert!(!ok(trimtab_scheduler_poll_grant(sch, &mut g, null_mut())));
                        assert_eq!(g.id, u64::MAX, "grant written on a refused call");
                    }
                    drain_sched(sch, &mut copied);
                }
                Op::SchedCancel { pick: i, raw } => {
                    let id = if *raw { (*i as u64) << 32 | 3 } else { pick(&ids, *i) };
                    ok(trimtab_scheduler_cancel(sch, id, now));
                }
                Op::SchedCancelMany { picks, null_ids } => {
                    let batch: Vec<u64> = picks.iter().take(8).map(|&i| pick(&ids, i)).collect();
                    let before = trimtab_scheduler_status(sch, &mut no_status());
                    let mut st0 = no_status();
                    trimtab_scheduler_status(sch, &mut st0);
                    let s = trimtab_scheduler_cancel_many(
                        sch,
                        if *null_ids { null() } else { batch.as_ptr() },
                        batch.len(),
                        now,
                    );
                    if !ok(s) && ok(before) {
                        let mut st1 = no_status();
                        assert!(ok(trimtab_scheduler_status(sch, &mut st1)));
                        assert_eq!(st0.cancelled, st1.cancelled, "a refused batch cancelled some");
                        assert_eq!(st0.queued + st0.running + st0.backoff, st1.queued + st1.running + st1.backoff);
                    }
                }
                Op::SchedSetPriority { pick: i, priority } => {
                    ok(trimtab_scheduler_set_priority(sch, pick(&ids, *i), *priority, now));
                }
                Op::SchedReport { pick: i, what, bytes } => {
                    let id = pick(&ids, *i);
                    // A careful host first takes what it was granted.
                    drain_sched(sch, &mut copied);
                    let (granted, done) = copied.get(&id).copied().unwrap_or((0, 0));
                    match what % 3 {
                        0 => {
                            // Within the grant, or (one in four) beyond it, which must be refused.
                            let to = if bytes % 4 == 0 {
                                granted + 1
                            } else {
                                done + (granted - done) * (*bytes as u64 % 101) / 100
                            };
                            let s = trimtab_scheduler_report_progress(sch, id, to, now);
                            if to > granted {
                                assert!(!ok(s), "progress beyond the grant was taken");
                            } else if ok(s) {
                                copied.insert(id, (granted, to));
                            }
                        }
                        1 => {
                            ok(trimtab_scheduler_report_complete(sch, id, now));
                        }
                        _ => {
                            if ok(trimtab_scheduler_report_failure(sch, id, *bytes, now)) {
                                copied.insert(id, (0, 0));
                            }
                        }
                    }
                }
                Op::SchedSetPolicy { policy } => {
                    ok(trimtab_scheduler_set_policy(sch, *policy));
                }
                Op::SchedStatus { null_out } => {
                    let mut st = no_status();
                    let s = trimtab_scheduler_status(sch, if *null_out { null_mut() } else { &mut st });
                    assert_eq!(ok(s), st.queued != u64::MAX, "status written only on success");
                }
                Op::SchedFree => {
                    trimtab_scheduler_free(sch);
                    sch = null_mut();
                    ids.clear();
                    copied.clear();
                }
                Op::ThrNew { max_nodes, rate, burst, null_cfg, null_out } => {
                    let c = trimtab_throttle_config {
                        max_nodes: *max_nodes as u32,
                        global: trimtab_limit { rate: *rate as u64, burst: *burst as u64 },
                        ..tbase
                    };
                    renew(
                        &c,
                        *null_cfg,
                        *null_out,
                        &mut thr,
                        |c, o| trimtab_throttle_new(c, tnow, o),
                        trimtab_throttle_free,
                    );
                }
                Op::ThrAddNode { node, rate, burst } => {
                    let l = trimtab_limit { rate: *rate as u64, burst: *burst as u64 };
                    ok(trimtab_throttle_add_node(thr, (*node % 8) as u32, l, l, tnow));
                }
                Op::ThrAcquire { from, to, bytes, how, dt_ms, back, null_out } => {
                    let dt = *dt_ms as u64 * 1_000_000;
                    let at = if *back { tnow.saturating_sub(dt) } else { tnow + dt };
                    tnow = tnow.max(at);
                    let (a, b, n) = ((*from % 8) as u32, (*to % 8) as u32, *bytes as u64);
                    match how % 4 {
                        0 => {
                            let mut granted = false;
                            let out: *mut bool = if *null_out { null_mut() } else { &mut granted };
                            ok(trimtab_throttle_try_acquire(thr, a, b, n, at, out));
                        }
                        1 => {
                            let mut granted = u64::MAX;
                            let out: *mut u64 = if *null_out { null_mut() } else { &mut granted };
                            let s = trimtab_throttle_acquire_up_to(thr, a, b, n, at, out);
                            assert_eq!(ok(s), granted != u64::MAX, "written only on success");
                            assert!(!ok(s) || granted <= n, "granted {granted} of {n}");
                        }
                        2 => {
                            let mut when = u64::MAX;
                            let out: *mut u64 = if *null_out { null_mut() } else { &mut when };
                            let s = trimtab_throttle_reserve(thr, a, b, n, at, out);
                            assert_eq!(ok(s), when != u64::MAX, "written only on success");
                            assert!(!ok(s) || when >= at.min(tnow), "a reservation in the past: {when} < {at}");
                        }
                        _ => {
                            ok(trimtab_throttle_refund(thr, a, b, n));
                        }
                    }
                }
                Op::ThrSetLimits { node, rate, burst, global } => {
                    let l = trimtab_limit { rate: *rate as u64, burst: *burst as u64 };
                    if *global {
                        ok(trimtab_throttle_set_global_limit(thr, l, tnow));
                    } else {
                        ok(trimtab_throttle_set_node_limits(thr, (*node % 8) as u32, l, l, tnow));
                    }
                }
                Op::ThrLoad { has_node, node, cpu, memory, io_wait, latency, null_metrics } => {
                    let m = trimtab_load_metrics {
                        cpu: *cpu,
                        memory: *memory,
                        io_wait: *io_wait,
                        client_latency_ms: *latency,
                    };
                    let mp: *const trimtab_load_metrics = if *null_metrics { null() } else { &m };
                    ok(trimtab_throttle_report_load(thr, *has_node, (*node % 8) as u32, mp, tnow));
                }
                Op::ThrCeiling { has_node, node, null_out } => {
                    let mut ppm = u32::MAX;
                    let out: *mut u32 = if *null_out { null_mut() } else { &mut ppm };
                    let s = trimtab_throttle_ceiling(thr, *has_node, (*node % 8) as u32, out);
                    assert_eq!(ok(s), ppm != u32::MAX, "written only on success");
                    assert!(!ok(s) || ppm <= 1_000_000, "a ceiling above 1: {ppm} ppm");
                }
                Op::ThrFree => {
                    trimtab_throttle_free(thr);
                    thr = null_mut();
                }
                Op::PartNew { max_nodes, null_cfg, null_out } => {
                    let c = trimtab_partition_config { max_nodes: *max_nodes as usize, ..pbase };
                    renew(
                        &c,
                        *null_cfg,
                        *null_out,
                        &mut part,
                        |c, o| trimtab_partition_new(c, o),
                        trimtab_partition_free,
                    );
                }
                Op::PartAddNode { id, votes, priority } => {
                    ok(trimtab_partition_add_node(part, (*id % 8) as u64, (*votes % 4) as u32, *priority as u32));
                }
                Op::PartRemoveNode { id } => {
                    ok(trimtab_partition_remove_node(part, (*id % 8) as u64));
                }
                Op::PartSetVotes { id, votes, priority } => {
                    if *priority {
                        ok(trimtab_partition_set_priority(part, (*id % 8) as u64, *votes as u32));
                    } else {
                        ok(trimtab_partition_set_votes(part, (*id % 8) as u64, (*votes % 4) as u32));
                    }
                }
                Op::PartReport { node, reaches, null_reaches, dt_ms, back } => {
                    let peers: Vec<u64> = reaches.iter().take(10).map(|&r| (r % 9) as u64).collect();
                    let dt = *dt_ms as u64 * 1_000_000;
                    let at = if *back { pnow.saturating_sub(dt) } else { pnow + dt };
                    pnow = pnow.max(at);
                    let rp = if *null_reaches { null() } else { peers.as_ptr() };
                    ok(trimtab_partition_report(part, (*node % 9) as u64, rp, peers.len(), at));
                }
                Op::PartTick { dt_ms } => {
                    pnow += *dt_ms as u64 * 1_000_000;
                    ok(trimtab_partition_tick(part, pnow));
                }
                Op::PartPoll { null_out } => {
                    for _ in 0..500 {
                        let mut e = std::mem::MaybeUninit::<trimtab_partition_event>::uninit();
                        let mut has = false;
                        let ep = if *null_out { null_mut() } else { e.as_mut_ptr() };
                        if !ok(trimtab_partition_poll_event(part, ep, &mut has)) || !has {
                            break;
                        }
                    }
                }
                Op::PartQuery { node, what, null_out } => {
                    let id = (*node % 9) as u64;
                    match what % 5 {
                        0 => {
                            let mut m = std::mem::MaybeUninit::<trimtab_partition_mode>::uninit();
                            let mp = if *null_out { null_mut() } else { m.as_mut_ptr() };
                            ok(trimtab_partition_node_mode(part, id, mp));
                        }
                        1 => {
                            let (mut has, mut leader) = (false, u64::MAX);
                            let lp: *mut u64 = if *null_out { null_mut() } else { &mut leader };
                            let s = trimtab_partition_leader(part, id, &mut has, lp);
                            assert!(!ok(s) || !has || leader != u64::MAX, "a leader said but not written");
                        }
                        2 => {
                            let mut n = usize::MAX;
                            let np: *mut usize = if *null_out { null_mut() } else { &mut n };
                            let s = trimtab_partition_component_count(part, np);
                            assert_eq!(ok(s), n != usize::MAX, "written only on success");
                        }
                        3 => {
                            let mut at = 0u64;
                            let ap: *mut u64 = if *null_out { null_mut() } else { &mut at };
                            ok(trimtab_partition_next_deadline(part, ap));
                        }
                        _ => {
                            let mut n = u64::MAX;
                            let np: *mut u64 = if *null_out { null_mut() } else { &mut n };
                            let s = trimtab_partition_events_dropped(part, np);
                            assert_eq!(ok(s), n != u64::MAX, "written only on success");
                        }
                    }
                }
                Op::PartPictureJson { cap, null_buf } => {
                    let mut buf = vec![0 as std::ffi::c_char; *cap as usize];
                    let mut len = usize::MAX;
                    let bp = if *null_buf { null_mut() } else { buf.as_mut_ptr() };
                    let s = trimtab_partition_picture_json(part, bp, buf.len(), &mut len);
                    if ok(s) {
                        assert!(len <= buf.len() && !*null_buf);
                        let bytes: Vec<u8> = buf[..len].iter().map(|&c| c as u8).collect();
                        assert!(std::str::from_utf8(&bytes).is_ok(), "the picture is not UTF-8");
                    }
                }
                Op::PartReportJson { json } => {
                    ok(trimtab_partition_report_json(part, json.as_ptr().cast(), json.len(), pnow));
                }
                Op::PartFree => {
                    trimtab_partition_free(part);
                    part = null_mut();
                }
                Op::HealthNew { capacity, threshold, disks, null_cfg, null_out } => {
                    if *disks {
                        let c = trimtab_disk_health_config { capacity: (*capacity % 8) as usize, ..hbase };
                        renew(
                            &c,
                            *null_cfg,
                            *null_out,
                            &mut disk,
                            |c, o| trimtab_disk_health_new(c, o),
                            trimtab_disk_health_free,
                        );
                    } else {
                        let c = trimtab_detector_config {
                            capacity: (*capacity % 8) as usize,
                            threshold: *threshold,
                            ..dbase
                        };
                        renew(
                            &c,
                            *null_cfg,
                            *null_out,
                            &mut det,
                            |c, o| trimtab_detector_new(c, o),
                            trimtab_detector_free,
                        );
                    }
                }
                Op::HealthNode { id, what, dt_ms, disks } => {
                    hnow += *dt_ms as u64 * 1_000_000;
                    let id = (*id % 10) as u64;
                    match (what % 3, *disks) {
                        (0, false) => ok(trimtab_detector_add_node(det, id, hnow)),
                        (1, false) => ok(trimtab_detector_remove_node(det, id)),
                        (_, false) => ok(trimtab_detector_heartbeat(det, id, hnow)),
                        (0, true) => ok(trimtab_disk_health_add_device(disk, id, hnow)),
                        (1, true) => ok(trimtab_disk_health_remove_device(disk, id)),
                        (_, true) => ok(trimtab_disk_health_reset_device(disk, id, hnow)),
                    };
                }
                Op::DiskReport {
                    device,
                    io,
                    checksum,
                    slow,
                    has_realloc,
                    realloc,
                    has_pending,
                    pending,
                    null_report,
                } => {
                    let r = trimtab_disk_report {
                        io_errors: *io,
                        checksum_errors: *checksum,
                        slow_ops: *slow,
                        has_reallocated_sectors: has_realloc % 3,
                        reallocated_sectors: *realloc,
                        has_pending_sectors: has_pending % 3,
                        pending_sectors: *pending,
                    };
                    let rp: *const trimtab_disk_report = if *null_report { null() } else { &r };
                    let s = trimtab_disk_health_report(disk, (*device % 10) as u64, rp, hnow);
                    if has_realloc % 3 == 2 || has_pending % 3 == 2 {
                        assert!(!ok(s), "a has_ flag of 2 was taken");
                    }
                }
                Op::HealthTick { dt_ms, back, disks } => {
                    let dt = *dt_ms as u64 * 1_000_000;
                    let at = if *back { hnow.saturating_sub(dt) } else { hnow + dt };
                    hnow = hnow.max(at);
                    if *disks {
                        ok(trimtab_disk_health_tick(disk, at));
                    } else {
                        ok(trimtab_detector_tick(det, at));
                    }
                }
                Op::HealthQuery { id, disks, null_out } => {
                    let id = (*id % 10) as u64;
                    let mut has = true;
                    let mut at = u64::MAX - 1;
                    if *disks {
                        while has {
                            let mut e = std::mem::MaybeUninit::<trimtab_device_event>::uninit();
                            has = ok(trimtab_disk_health_poll_event(disk, e.as_mut_ptr(), &mut has)) && has;
                        }
                        let mut st = std::mem::MaybeUninit::<trimtab_device_state>::uninit();
                        ok(trimtab_disk_health_device_state(
                            disk,
                            id,
                            if *null_out { null_mut() } else { st.as_mut_ptr() },
                        ));
                        let ap: *mut u64 = if *null_out { null_mut() } else { &mut at };
                        let s = trimtab_disk_health_next_deadline(disk, ap);
                        assert_eq!(ok(s), at != u64::MAX - 1, "written only on success");
                    } else {
                        while has {
                            let mut e = std::mem::MaybeUninit::<trimtab_node_event>::uninit();
                            has = ok(trimtab_detector_poll_event(det, e.as_mut_ptr(), &mut has)) && has;
                        }
                        let mut st = std::mem::MaybeUninit::<trimtab_node_state>::uninit();
                        ok(trimtab_detector_node_state(det, id, if *null_out { null_mut() } else { st.as_mut_ptr() }));
                        let ap: *mut u64 = if *null_out { null_mut() } else { &mut at };
                        let s = trimtab_detector_next_deadline(det, ap);
                        assert_eq!(ok(s), at != u64::MAX - 1, "written only on success");
                        let mut dropped = u64::MAX;
                        let s = trimtab_detector_events_dropped(det, &mut dropped);
                        assert_eq!(ok(s), dropped != u64::MAX, "written only on success");
                    }
                }
                Op::HealthFree { disks } => {
                    if *disks {
                        trimtab_disk_health_free(disk);
                        disk = null_mut();
                    } else {
                        trimtab_detector_free(det);
                        det = null_mut();
                    }
                }
            }
        }
        trimtab_disk_health_free(disk);
        trimtab_detector_free(det);
        trimtab_partition_free(part);
        trimtab_throttle_free(thr);
        trimtab_scheduler_free(sch);
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
