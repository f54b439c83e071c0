//! C ABI of the throttle: token buckets per node (outbound, inbound) and global, charged
//! all or nothing, with reservations for transfers larger than a burst, runtime rate
//! changes and a load-following ceiling.
//!
//! Threading: a `trimtab_throttle` carries an internal lock; any function may be called on
//! one handle from several threads, and calls are serialised.

use super::{boundary, check_null, fail, handle_ref, trimtab_status, write_out};
use crate::throttle::{Limit, LoadConfig, LoadMetrics, Throttle, ThrottleConfig};
use crate::time::Time;

/// A rate and a burst.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_limit {
    /// Bytes per second, 1..=2^40.
    pub rate: u64,
    /// Bytes that may go at once after an idle period, 1..=2^48.
    pub burst: u64,
}

impl From<trimtab_limit> for Limit {
    fn from(l: trimtab_limit) -> Limit {
        Limit::new(l.rate, l.burst)
    }
}

impl From<Limit> for trimtab_limit {
    fn from(l: Limit) -> trimtab_limit {
        trimtab_limit { rate: l.rate, burst: l.burst }
    }
}

/// Thresholds of the load-following ceiling; loads are fractions in [0, 1].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_load_config {
    /// CPU threshold (default 0.80).
    pub cpu: f64,
    /// Memory threshold (default 0.85).
    pub memory: f64,
    /// io-wait threshold (default 0.30).
    pub io_wait: f64,
    /// Client latency threshold in ms; 0 disables it (default 0).
    pub client_latency_ms: f64,
    /// Lowest factor (default 0.1).
    pub floor: f64,
    /// Band below each threshold, as a fraction of it, in which the factor holds (0.1).
    pub hysteresis: f64,
    /// Factor regained per second of recovery (0.1).
    pub recovery_per_sec: f64,
    /// Weight of a new report in the smoothed loads (0.3).
    pub smoothing: f64,
}

impl From<trimtab_load_config> for LoadConfig {
    fn from(c: trimtab_load_config) -> LoadConfig {
        LoadConfig {
            cpu: c.cpu,
            memory: c.memory,
            io_wait: c.io_wait,
            client_latency_ms: c.client_latency_ms,
            floor: c.floor,
            hysteresis: c.hysteresis,
            recovery_per_sec: c.recovery_per_sec,
            smoothing: c.smoothing,
        }
    }
}

impl From<LoadConfig> for trimtab_load_config {
    fn from(c: LoadConfig) -> trimtab_load_config {
        trimtab_load_config {
            cpu: c.cpu,
            memory: c.memory,
            io_wait: c.io_wait,
            client_latency_ms: c.client_latency_ms,
            floor: c.floor,
            hysteresis: c.hysteresis,
            recovery_per_sec: c.recovery_per_sec,
            smoothing: c.smoothing,
        }
    }
}

/// One load report.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_load_metrics {
    /// CPU utilisation in [0, 1].
    pub cpu: f64,
    /// Memory utilisation in [0, 1].
    pub memory: f64,
    /// io-wait fraction in [0, 1].
    pub io_wait: f64,
    /// Client latency in ms, or negative when unknown.
    pub client_latency_ms: f64,
}

impl From<trimtab_load_metrics> for LoadMetrics {
    fn from(m: trimtab_load_metrics) -> LoadMetrics {
        LoadMetrics { cpu: m.cpu, memory: m.memory, io_wait: m.io_wait, client_latency_ms: m.client_latency_ms }
    }
}

/// Configuration of a throttle.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_throttle_config {
    /// The global limit (default: 2^40 B/s, burst 2^48, i.e. effectively unlimited).
    pub global: trimtab_limit,
    /// The most nodes (default 65,536).
    pub max_nodes: u32,
    /// The load-following ceiling.
    pub load: trimtab_load_config,
}

impl From<trimtab_throttle_config> for ThrottleConfig {
    fn from(c: trimtab_throttle_config) -> ThrottleConfig {
        ThrottleConfig { global: c.global.into(), max_nodes: c.max_nodes, load: c.load.into() }
    }
}

impl From<ThrottleConfig> for trimtab_throttle_config {
    fn from(c: ThrottleConfig) -> trimtab_throttle_config {
        trimtab_throttle_config { global: c.global.into(), max_nodes: c.max_nodes, load: c.load.into() }
    }
}

/// A throttle. Made by `trimtab_throttle_new`, released by `trimtab_throttle_free`.
pub struct trimtab_throttle {
    inner: parking_lot::Mutex<Throttle>,
}

/// Writes the default configuration into `*out`.
///
/// # Safety
/// `out` must be valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_config_default(out: *mut trimtab_throttle_config) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(out, ThrottleConfig::default().into()) };
        trimtab_status::Ok
    })
}

/// Makes a throttle from `*config` as of `now_ns`; the handle goes to `*out` (free it with
/// `trimtab_throttle_free`). Invalid rates or load thresholds give INVALID_ARGUMENT.
///
/// # Safety
/// `config` must be valid for reads; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_new(
    config: *const trimtab_throttle_config,
    now_ns: u64,
    out: *mut *mut trimtab_throttle,
) -> trimtab_status {
    boundary(|| {
        check_null!(config, out);
        // SAFETY: non-NULL, valid per the contract.
        let cfg = unsafe { *config };
        match Throttle::new(cfg.into(), Time(now_ns)) {
            Ok(t) => {
                let h = Box::new(trimtab_throttle { inner: parking_lot::Mutex::new(t) });
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(out, Box::into_raw(h)) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Releases a throttle. NULL is a no-op.
///
/// # Safety
/// `t` must be NULL or a handle from `trimtab_throttle_new` not yet freed; no other call may
/// be using it.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_free(t: *mut trimtab_throttle) {
    let _ = boundary(|| {
        if !t.is_null() {
            // SAFETY: made by Box::into_raw in trimtab_throttle_new and not freed yet.
            drop(unsafe { Box::from_raw(t) });
        }
        trimtab_status::Ok
    });
}

macro_rules! with_throttle {
    ($t:expr, |$g:ident| $body:expr) => {
        boundary(|| {
            // SAFETY: per the function's contract `$t` is NULL or a live handle.
            let h = match unsafe { handle_ref($t) } {
                Ok(h) => h,
                Err(s) => return s,
            };
            #[allow(unused_mut)]
            let mut $g = h.inner.lock();
            $body
        })
    };
}

fn node(t: &Throttle, id: u32) -> Result<crate::throttle::NodeRef, trimtab_status> {
    t.node(id).ok_or_else(|| fail(crate::throttle::ThrottleError::UnknownNode(id)))
}

/// Adds node `node` with its outbound and inbound limits. DUPLICATE_NODE when it exists,
/// CAPACITY_EXCEEDED past `max_nodes`, INVALID_ARGUMENT for a bad limit.
///
/// # Safety
/// `t` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_add_node(
    t: *const trimtab_throttle,
    node: u32,
    out: trimtab_limit,
    in_: trimtab_limit,
    now_ns: u64,
) -> trimtab_status {
    with_throttle!(t, |g| match g.add_node(node, out.into(), in_.into(), Time(now_ns)) {
        Ok(_) => trimtab_status::Ok,
        Err(e) => fail(e),
    })
}

/// Takes `bytes` from `from`'s outbound, `to`'s inbound and the global bucket if all three
/// have them (`*granted_out = true`), otherwise takes nothing (`false`). A request larger
/// than a burst on the path is THROTTLE_EXCEEDS_BURST: use `trimtab_throttle_reserve` or
/// `trimtab_throttle_acquire_up_to`. Unknown nodes give NOT_FOUND.
///
/// # Safety
/// `t` NULL or a live handle; `granted_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_try_acquire(
    t: *const trimtab_throttle,
    from: u32,
    to: u32,
    bytes: u64,
    now_ns: u64,
    granted_out: *mut bool,
) -> trimtab_status {
    with_throttle!(t, |g| {
        check_null!(granted_out);
        let (a, b) = match (node(&g, from), node(&g, to)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        match g.try_acquire(a, b, bytes, Time(now_ns)) {
            Ok(ok) => {
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(granted_out, ok) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Takes as many bytes as all three buckets have, at most `max_bytes`, and writes how many
/// to `*granted_out` (0 when none).
///
/// # Safety
/// `t` NULL or a live handle; `granted_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_acquire_up_to(
    t: *const trimtab_throttle,
    from: u32,
    to: u32,
    max_bytes: u64,
    now_ns: u64,
    granted_out: *mut u64,
) -> trimtab_status {
    with_throttle!(t, |g| {
        check_null!(granted_out);
        let (a, b) = match (node(&g, from), node(&g, to)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        match g.acquire_up_to(a, b, max_bytes, Time(now_ns)) {
            Ok(n) => {
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(granted_out, n) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Charges `bytes` to the three buckets unconditionally and writes to `*at_ns_out` when they
/// may go: `now_ns` when the balances cover them, otherwise exactly (bytes − balance) / rate
/// later. Later requests wait behind it.
///
/// # Safety
/// `t` NULL or a live handle; `at_ns_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_reserve(
    t: *const trimtab_throttle,
    from: u32,
    to: u32,
    bytes: u64,
    now_ns: u64,
    at_ns_out: *mut u64,
) -> trimtab_status {
    with_throttle!(t, |g| {
        check_null!(at_ns_out);
        let (a, b) = match (node(&g, from), node(&g, to)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        match g.reserve(a, b, bytes, Time(now_ns)) {
            Ok(at) => {
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(at_ns_out, at.0) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Gives back bytes that were taken but not sent.
///
/// # Safety
/// `t` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_refund(
    t: *const trimtab_throttle,
    from: u32,
    to: u32,
    bytes: u64,
) -> trimtab_status {
    with_throttle!(t, |g| {
        let (a, b) = match (node(&g, from), node(&g, to)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        match g.refund(a, b, bytes) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// Changes node `node`'s limits; they apply at the next check, with no saved-up burst.
///
/// # Safety
/// `t` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_set_node_limits(
    t: *const trimtab_throttle,
    node: u32,
    out: trimtab_limit,
    in_: trimtab_limit,
    now_ns: u64,
) -> trimtab_status {
    with_throttle!(t, |g| match g.set_node_limits(node, out.into(), in_.into(), Time(now_ns)) {
        Ok(()) => trimtab_status::Ok,
        Err(e) => fail(e),
    })
}

/// Changes the global limit; it applies at the next check.
///
/// # Safety
/// `t` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_set_global_limit(
    t: *const trimtab_throttle,
    limit: trimtab_limit,
    now_ns: u64,
) -> trimtab_status {
    with_throttle!(t, |g| match g.set_global_limit(limit.into(), Time(now_ns)) {
        Ok(()) => trimtab_status::Ok,
        Err(e) => fail(e),
    })
}

/// Reports load for node `node` (when `has_node`) or for the cluster: the node's buckets
/// (or the global one) follow the ceiling. NaN or out-of-range loads: INVALID_ARGUMENT.
///
/// # Safety
/// `t` NULL or a live handle; `metrics` valid for reads.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_report_load(
    t: *const trimtab_throttle,
    has_node: bool,
    node: u32,
    metrics: *const trimtab_load_metrics,
    now_ns: u64,
) -> trimtab_status {
    with_throttle!(t, |g| {
        check_null!(metrics);
        // SAFETY: non-NULL, valid per the contract.
        let m = unsafe { *metrics };
        match g.report_load(has_node.then_some(node), m.into(), Time(now_ns)) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// Writes the ceiling factor, in parts per million, of node `node` (when `has_node`) or of
/// the cluster to `*ppm_out`.
///
/// # Safety
/// `t` NULL or a live handle; `ppm_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_throttle_ceiling(
    t: *const trimtab_throttle,
    has_node: bool,
    node: u32,
    ppm_out: *mut u32,
) -> trimtab_status {
    with_throttle!(t, |g| {
        check_null!(ppm_out);
        match g.ceiling_ppm(has_node.then_some(node)) {
            Ok(p) => {
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(ppm_out, p) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}
