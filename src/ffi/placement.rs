//! C ABI: placement, movement plans and the balancer.
//!
//! `trimtab_placement` is Box-owned (`trimtab_placement_new` / `trimtab_placement_free`)
//! and carries a lock: any call may come from any thread; calls on one placement are
//! serialised. When a call takes both a placement and a map, it locks the placement first.
//! `trimtab_plan` is Box-owned and immutable: read it from any thread, free it once.

use super::topology::{trimtab_str, trimtab_topology};
use super::{
    boundary, check_null, fail, fail_with, ffi_try, slice_ref, str_ref, trimtab_status, try_handle, write_out,
};
use crate::placement::{BalancerConfig, Mode, MovementPlan, Placement, Rule, UpdatePolicy};
use parking_lot::Mutex;
use std::ffi::c_char;

/// The rule's mode: replicated copies.
pub const TRIMTAB_MODE_REPLICATED: u8 = 0;
/// The rule's mode: erasure coding (`ec_data` + `ec_coding` shards).
pub const TRIMTAB_MODE_ERASURE: u8 = 1;

/// Update policy: keep every valid shard, move only what must move (a running cluster).
pub const TRIMTAB_UPDATE_PIN: u32 = 0;
/// Update policy: take the new base mapping as is (plain CRUSH behaviour).
pub const TRIMTAB_UPDATE_REHASH: u32 = 1;

/// "No device": an unplaced erasure-coded position, or a move's missing end.
pub const TRIMTAB_NO_DEVICE: u32 = u32::MAX;

/// How many shards a placement group has, across which failure-domain level, and how.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_rule {
    /// `TRIMTAB_MODE_REPLICATED` or `TRIMTAB_MODE_ERASURE`.
    pub mode: u8,
    /// Copies (replicated); ignored for erasure coding.
    pub replicas: u8,
    /// Data shards k (erasure coding).
    pub ec_data: u8,
    /// Coding shards m (erasure coding).
    pub ec_coding: u8,
    /// The level no two shards may share (a level name of the map, or "device").
    pub failure_domain: trimtab_str,
}

/// Balancer settings; get the defaults from `trimtab_balancer_config_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_balancer_config {
    /// Converged when every device is within this many PGs of its share (default 1).
    pub max_deviation: f64,
    /// The most moves in one round (default 1000).
    pub max_moves: usize,
    /// Never move onto a device at or above this used/capacity ratio (default 0.90).
    pub full_ratio: f64,
    /// Balance bytes (set with `trimtab_placement_set_pg_bytes`) instead of shard counts.
    pub by_bytes: bool,
}

/// A summary of a placement's balance.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct trimtab_placement_stats {
    /// Devices that accept data.
    pub devices: usize,
    /// PGs in the pool.
    pub pgs: u32,
    /// Shards per PG.
    pub shards_per_pg: u8,
    /// Shards placed.
    pub placed_shards: u64,
    /// PGs with fewer shards than the rule asks.
    pub degraded_pgs: u64,
    /// Exceptions to the base mapping kept in the table.
    pub overrides: u64,
    /// Smallest shard count over its share.
    pub min_over_mean: f64,
    /// Largest shard count over its share.
    pub max_over_mean: f64,
    /// Standard deviation of shard count over share.
    pub stddev_over_mean: f64,
}

/// One shard that changes device.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct trimtab_shard_move {
    /// The placement group.
    pub pg: u32,
    /// The shard position.
    pub shard: u8,
    /// Where it was (`TRIMTAB_NO_DEVICE` if nowhere).
    pub from: u32,
    /// Where it goes (`TRIMTAB_NO_DEVICE` if dropped).
    pub to: u32,
}

/// The totals of a movement plan.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct trimtab_plan_summary {
    /// Entries in the plan.
    pub moves: usize,
    /// Shards that arrive on a device.
    pub moved_shards: u64,
    /// Shards placed after the change.
    pub total_shards: u64,
    /// moved_shards / total_shards.
    pub moved_fraction: f64,
    /// The least any placement could move for this change.
    pub optimal_fraction: f64,
}

/// A pool's placement (opaque).
pub struct trimtab_placement {
    inner: Mutex<Placement>,
}

/// A movement plan (opaque, immutable).
pub struct trimtab_plan {
    plan: MovementPlan,
}

/// # Safety
/// `r.failure_domain` must point to `len` readable bytes (or be NULL with 0).
unsafe fn rule_from(r: &trimtab_rule) -> Result<Rule, trimtab_status> {
    // SAFETY: forwarded contract.
    let level = unsafe { str_ref(r.failure_domain.ptr, r.failure_domain.len)? };
    match r.mode {
        TRIMTAB_MODE_REPLICATED => Ok(Rule::replicated(r.replicas, level)),
        TRIMTAB_MODE_ERASURE => Ok(Rule {
            shards: r.ec_data.saturating_add(r.ec_coding),
            failure_domain: level.into(),
            mode: Mode::Erasure { data: r.ec_data, coding: r.ec_coding },
        }),
        m => Err(fail_with(trimtab_status::InvalidArgument, format!("unknown rule mode {m}"))),
    }
}

fn emit_plan(plan: MovementPlan, out: *mut *mut trimtab_plan) {
    if !out.is_null() {
        // SAFETY: non-NULL and valid for one write per the exported function's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(trimtab_plan { plan }))) };
    }
}

/// Computes the placement of `pg_count` PGs under `rule` on map `t`, with pool seed `seed`.
///
/// # Safety
/// `t` must be a valid map, `rule` a valid rule whose string is readable; `out` valid for one
/// write. Free the result with `trimtab_placement_free`.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_new(
    t: *const trimtab_topology,
    rule: *const trimtab_rule,
    pg_count: u32,
    seed: u64,
    out: *mut *mut trimtab_placement,
) -> trimtab_status {
    boundary(|| {
        check_null!(rule, out);
        let t = try_handle!(t);
        // SAFETY: non-NULL, valid (with a readable string) per the contract.
        let rule = match unsafe { rule_from(&*rule) } {
            Ok(r) => r,
            Err(s) => return s,
        };
        let topo = t.inner.read();
        match Placement::compute_with_seed(&topo, &rule, pg_count, seed) {
            Ok(p) => {
                // SAFETY: checked non-NULL.
                unsafe { write_out(out, Box::into_raw(Box::new(trimtab_placement { inner: Mutex::new(p) }))) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Frees a placement. NULL is accepted and ignored.
///
/// # Safety
/// `p` must be NULL or a placement from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_free(p: *mut trimtab_placement) {
    if !p.is_null() {
        // SAFETY: made by Box::into_raw here; freed once per the contract.
        let b = unsafe { Box::from_raw(p) };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(b)));
    }
}

/// The placement group of an object name (any bytes).
///
/// # Safety
/// `p` valid; `name` readable for `len` bytes (or NULL with 0); `pg_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_object_to_pg(
    p: *const trimtab_placement,
    name: *const u8,
    len: usize,
    pg_out: *mut u32,
) -> trimtab_status {
    boundary(|| {
        check_null!(pg_out);
        let p = try_handle!(p);
        // SAFETY: per the contract: readable for the given length.
        let name = ffi_try!(unsafe { slice_ref(name, len) });
        let pg = p.inner.lock().object_to_pg(name);
        // SAFETY: checked non-NULL.
        unsafe { write_out(pg_out, pg) };
        trimtab_status::Ok
    })
}

/// Copies a PG's devices into `buf`. Replicated: the placed devices (primary first), no
/// holes. Erasure-coded: one entry per position, `TRIMTAB_NO_DEVICE` for a hole. `len_out`
/// receives the count; when `cap` is too small, returns `TRIMTAB_STATUS_BUFFER_TOO_SHORT`
/// with the count needed in `len_out` and copies nothing.
///
/// # Safety
/// `p` valid; `buf` valid for `cap` writes (or NULL with 0); `len_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_pg_devices(
    p: *const trimtab_placement,
    pg: u32,
    buf: *mut u32,
    cap: usize,
    len_out: *mut usize,
) -> trimtab_status {
    boundary(|| {
        check_null!(len_out);
        let p = try_handle!(p);
        let guard = p.inner.lock();
        let row = match guard.pg_devices(pg) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        // SAFETY: checked non-NULL.
        unsafe { write_out(len_out, row.len()) };
        if buf.is_null() || cap < row.len() {
            return fail_with(trimtab_status::BufferTooShort, format!("pg {pg} has {} devices", row.len()));
        }
        // SAFETY: `buf` holds at least `row.len()` elements per the check and the contract.
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), buf, row.len()) };
        trimtab_status::Ok
    })
}

/// Applies a new map (`TRIMTAB_UPDATE_PIN` or `TRIMTAB_UPDATE_REHASH`). When `plan_out` is
/// not NULL, it receives the moves (free with `trimtab_plan_free`). On error nothing changes.
///
/// # Safety
/// `p` and `t` valid; `plan_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_update(
    p: *mut trimtab_placement,
    t: *const trimtab_topology,
    policy: u32,
    plan_out: *mut *mut trimtab_plan,
) -> trimtab_status {
    boundary(|| {
        let p = try_handle!(p);
        let t = try_handle!(t);
        let policy = match policy {
            TRIMTAB_UPDATE_PIN => UpdatePolicy::Pin,
            TRIMTAB_UPDATE_REHASH => UpdatePolicy::Rehash,
            x => return fail_with(trimtab_status::InvalidArgument, format!("unknown update policy {x}")),
        };
        let mut guard = p.inner.lock();
        let topo = t.inner.read();
        match guard.update(&topo, policy) {
            Ok(plan) => {
                emit_plan(plan, plan_out);
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// The plan that takes placement `a` to placement `b` (the same pool on two maps).
///
/// # Safety
/// `a`, `b` valid (they may be the same); `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_plan(
    a: *const trimtab_placement,
    b: *const trimtab_placement,
    out: *mut *mut trimtab_plan,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        let a = try_handle!(a);
        let b = try_handle!(b);
        let result = if std::ptr::eq(a, b) {
            let g = a.inner.lock();
            g.plan_to(&g)
        } else {
            // Copy one side so that two locks are never held at once.
            let other = b.inner.lock().clone();
            a.inner.lock().plan_to(&other)
        };
        match result {
            Ok(plan) => {
                emit_plan(plan, out);
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Writes the default balancer settings.
///
/// # Safety
/// `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_balancer_config_default(out: *mut trimtab_balancer_config) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        let d = BalancerConfig::default();
        // SAFETY: checked non-NULL.
        unsafe {
            write_out(
                out,
                trimtab_balancer_config {
                    max_deviation: d.max_deviation,
                    max_moves: d.max_moves,
                    full_ratio: d.full_ratio,
                    by_bytes: d.by_bytes,
                },
            )
        };
        trimtab_status::Ok
    })
}

/// Runs one balancer round on `p` (whose map must be `t`, at the same epoch). The moves are
/// applied to the placement's table; `plan_out` (may be NULL) receives them, `converged_out`
/// (may be NULL) whether every device is now within the deviation.
///
/// # Safety
/// `p`, `t`, `config` valid; the out-pointers NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_balance(
    p: *mut trimtab_placement,
    t: *const trimtab_topology,
    config: *const trimtab_balancer_config,
    plan_out: *mut *mut trimtab_plan,
    converged_out: *mut bool,
) -> trimtab_status {
    boundary(|| {
        check_null!(config);
        let p = try_handle!(p);
        let t = try_handle!(t);
        // SAFETY: non-NULL, valid per the contract.
        let c = unsafe { &*config };
        let cfg = BalancerConfig {
            max_deviation: c.max_deviation,
            max_moves: c.max_moves,
            full_ratio: c.full_ratio,
            by_bytes: c.by_bytes,
        };
        let mut guard = p.inner.lock();
        let topo = t.inner.read();
        match guard.balance_round(&topo, &cfg) {
            Ok(round) => {
                if !converged_out.is_null() {
                    // SAFETY: non-NULL, valid per the contract.
                    unsafe { write_out(converged_out, round.converged) };
                }
                emit_plan(guard.plan_from_moves(&round.moves), plan_out);
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Sets the size in bytes of every PG (`len` must equal the PG count).
///
/// # Safety
/// `p` valid; `bytes` readable for `len` values.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_set_pg_bytes(
    p: *mut trimtab_placement,
    bytes: *const u64,
    len: usize,
) -> trimtab_status {
    boundary(|| {
        let p = try_handle!(p);
        // SAFETY: per the contract: readable for the given length.
        let bytes = ffi_try!(unsafe { slice_ref(bytes, len) });
        match p.inner.lock().set_pg_bytes(bytes.to_vec()) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// Writes a summary of the placement's balance.
///
/// # Safety
/// `p` valid; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_report(
    p: *const trimtab_placement,
    out: *mut trimtab_placement_stats,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        let p = try_handle!(p);
        let r = p.inner.lock().report();
        let c = trimtab_placement_stats {
            devices: r.devices,
            pgs: r.pgs,
            shards_per_pg: r.shards_per_pg,
            placed_shards: r.placed_shards,
            degraded_pgs: r.degraded_pgs,
            overrides: r.overrides,
            min_over_mean: r.shards.min_over_mean,
            max_over_mean: r.shards.max_over_mean,
            stddev_over_mean: r.shards.stddev_over_mean,
        };
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, c) };
        trimtab_status::Ok
    })
}

/// Writes the placement's snapshot (rule, PG count, seed, epoch, exceptions; JSON,
/// NUL-terminated). Same buffer rules as `trimtab_topology_snapshot`.
///
/// # Safety
/// `p` valid; `buf` NULL or valid for `cap` bytes; `len_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_snapshot(
    p: *const trimtab_placement,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> trimtab_status {
    boundary(|| {
        let p = try_handle!(p);
        let text = p.inner.lock().to_snapshot();
        // SAFETY: per the contract.
        unsafe { super::copy_text(&text, buf, cap, len_out) }
    })
}

/// Restores a placement from its snapshot over the map it was taken at.
///
/// # Safety
/// `text` readable for `len` bytes; `t` valid; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_placement_from_snapshot(
    text: *const c_char,
    len: usize,
    t: *const trimtab_topology,
    out: *mut *mut trimtab_placement,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        // SAFETY: per the contract: readable for the given length.
        let text = ffi_try!(unsafe { str_ref(text, len) });
        let t = try_handle!(t);
        let topo = t.inner.read();
        match Placement::from_snapshot(text, &topo) {
            Ok(p) => {
                // SAFETY: checked non-NULL.
                unsafe { write_out(out, Box::into_raw(Box::new(trimtab_placement { inner: Mutex::new(p) }))) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// The totals of a plan.
///
/// # Safety
/// `plan` valid; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_plan_summary_get(
    plan: *const trimtab_plan,
    out: *mut trimtab_plan_summary,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        let plan = &try_handle!(plan).plan;
        let s = trimtab_plan_summary {
            moves: plan.moves.len(),
            moved_shards: plan.moved_shards,
            total_shards: plan.total_shards,
            moved_fraction: plan.moved_fraction,
            optimal_fraction: plan.optimal_fraction,
        };
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, s) };
        trimtab_status::Ok
    })
}

/// Copies moves `[first, first + cap)` of a plan into `buf`; `len_out` receives how many
/// were copied (0 past the end).
///
/// # Safety
/// `plan` valid; `buf` valid for `cap` writes (or NULL with 0); `len_out` valid.
#[no_mangle]
pub unsafe extern "C" fn trimtab_plan_moves(
    plan: *const trimtab_plan,
    first: usize,
    buf: *mut trimtab_shard_move,
    cap: usize,
    len_out: *mut usize,
) -> trimtab_status {
    boundary(|| {
        check_null!(len_out);
        let plan = &try_handle!(plan).plan;
        let rest = plan.moves.get(first..).unwrap_or(&[]);
        let k = rest.len().min(cap);
        if k > 0 && buf.is_null() {
            return fail_with(trimtab_status::NullParameter, "`buf` must not be NULL when `cap` > 0");
        }
        for (i, m) in rest[..k].iter().enumerate() {
            // SAFETY: i < cap, and `buf` is valid for `cap` writes per the contract.
            unsafe { buf.add(i).write(trimtab_shard_move { pg: m.pg, shard: m.shard, from: m.from, to: m.to }) };
        }
        // SAFETY: checked non-NULL.
        unsafe { write_out(len_out, k) };
        trimtab_status::Ok
    })
}

/// Frees a plan. NULL is accepted and ignored.
///
/// # Safety
/// `plan` NULL or a plan from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn trimtab_plan_free(plan: *mut trimtab_plan) {
    if !plan.is_null() {
        // SAFETY: made by Box::into_raw here; freed once per the contract.
        let b = unsafe { Box::from_raw(plan) };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(b)));
    }
}
