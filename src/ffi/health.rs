//! C ABI of the health part: the failure detector (`trimtab_detector`) and disk health
//! (`trimtab_disk_health`).
//!
//! Both handles carry an internal lock: any function may be called on one handle from
//! several threads, and calls are serialised. Each handle is made by its `_new` and
//! released by its `_free` (which accepts NULL); nothing else is allocated for the caller.

use parking_lot::Mutex;

use super::{boundary, check_null, fail, fail_with, trimtab_status, try_handle, write_out};
use crate::health::{
    DetectorConfig, DeviceState, DiskConfig, DiskHealth, DiskReport, FailureDetector, HealthError, NodeEventKind,
    NodeState,
};
use crate::Time;

/// The status of a health error.
pub(crate) fn status_of(e: &HealthError) -> trimtab_status {
    match e {
        HealthError::InvalidConfig(_) => trimtab_status::HealthConfigInvalid,
        HealthError::UnknownNode(_) | HealthError::UnknownDevice(_) => trimtab_status::NotFound,
        HealthError::DuplicateNode(_) | HealthError::DuplicateDevice(_) => trimtab_status::HealthDuplicate,
        HealthError::CapacityExceeded(_) => trimtab_status::CapacityExceeded,
        HealthError::InvalidReport(_) => trimtab_status::InvalidArgument,
    }
}

/// A heartbeat failure detector over many nodes. Made by `trimtab_detector_new`, released
/// by `trimtab_detector_free`. Thread-safe (internal lock).
pub struct trimtab_detector {
    inner: Mutex<FailureDetector>,
}

/// Disk health over many devices. Made by `trimtab_disk_health_new`, released by
/// `trimtab_disk_health_free`. Thread-safe (internal lock).
pub struct trimtab_disk_health {
    inner: Mutex<DiskHealth>,
}

/// Configuration of a failure detector; durations in nanoseconds. Fill it with
/// `trimtab_detector_config_default` and change what you need. The fields mean what the
/// Rust `DetectorConfig` fields of the same names mean.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_detector_config {
    /// Most nodes tracked at once.
    pub capacity: usize,
    /// Inter-arrival times kept per node, 2 to 256.
    pub window: u32,
    /// The heartbeat interval assumed before a node has sent two heartbeats.
    pub expected_interval_ns: u64,
    /// Lower bound of the standard deviation.
    pub min_std_dev_ns: u64,
    /// Phi level of conviction (finite, 0.01 to 100).
    pub threshold: f64,
    /// Phi level of suspicion, computed with `acceptable_pause_ns` only.
    pub suspect_threshold: f64,
    /// Pause always tolerated; floor of the learned allowance.
    pub acceptable_pause_ns: u64,
    /// Allowance (at least) until a node has sent `warmup_heartbeats`.
    pub initial_pause_allowance_ns: u64,
    /// Heartbeats before the learned allowance may fall below the initial one.
    pub warmup_heartbeats: u32,
    /// 1: learn each node's pause allowance; 0: fixed (Akka's rule). Other values are rejected.
    pub learn_pauses: u8,
    /// Heartbeats per pause epoch.
    pub pause_memory: u32,
    /// Extra allowance over the largest remembered pause, thousandths.
    pub pause_headroom_permille: u32,
    /// Extra allowance over the largest remembered pause, nanoseconds.
    pub pause_margin_ns: u64,
    /// Death after this long without a heartbeat, whatever the statistics say.
    pub hard_timeout_ns: u64,
    /// Shorter inter-arrival times do not enter the statistics.
    pub min_interval_ns: u64,
    /// Regular heartbeats a dead node needs to be alive again.
    pub recovery_heartbeats: u32,
    /// A death within this long of the previous doubles the recovery run.
    pub flap_window_ns: u64,
    /// Longest call gap not (partly) taken as a host stall.
    pub max_tick_interval_ns: u64,
    /// A call gap longer than this is a host stall and convicts nobody.
    pub stall_limit_ns: u64,
    /// Events kept until polled.
    pub event_capacity: usize,
}

impl From<&DetectorConfig> for trimtab_detector_config {
    fn from(c: &DetectorConfig) -> Self {
        trimtab_detector_config {
            capacity: c.capacity,
            window: c.window,
            expected_interval_ns: c.expected_interval_ns,
            min_std_dev_ns: c.min_std_dev_ns,
            threshold: c.threshold,
            suspect_threshold: c.suspect_threshold,
            acceptable_pause_ns: c.acceptable_pause_ns,
            initial_pause_allowance_ns: c.initial_pause_allowance_ns,
            warmup_heartbeats: c.warmup_heartbeats,
            learn_pauses: u8::from(c.learn_pauses),
            pause_memory: c.pause_memory,
            pause_headroom_permille: c.pause_headroom_permille,
            pause_margin_ns: c.pause_margin_ns,
            hard_timeout_ns: c.hard_timeout_ns,
            min_interval_ns: c.min_interval_ns,
            recovery_heartbeats: c.recovery_heartbeats,
            flap_window_ns: c.flap_window_ns,
            max_tick_interval_ns: c.max_tick_interval_ns,
            stall_limit_ns: c.stall_limit_ns,
            event_capacity: c.event_capacity,
        }
    }
}

impl TryFrom<&trimtab_detector_config> for DetectorConfig {
    type Error = HealthError;
    fn try_from(c: &trimtab_detector_config) -> Result<Self, HealthError> {
        if c.learn_pauses > 1 {
            return Err(HealthError::InvalidConfig("learn_pauses must be 0 or 1".into()));
        }
        let cfg = DetectorConfig {
            capacity: c.capacity,
            window: c.window,
            expected_interval_ns: c.expected_interval_ns,
            min_std_dev_ns: c.min_std_dev_ns,
            threshold: c.threshold,
            suspect_threshold: c.suspect_threshold,
            acceptable_pause_ns: c.acceptable_pause_ns,
            initial_pause_allowance_ns: c.initial_pause_allowance_ns,
            warmup_heartbeats: c.warmup_heartbeats,
            learn_pauses: c.learn_pauses == 1,
            pause_memory: c.pause_memory,
            pause_headroom_permille: c.pause_headroom_permille,
            pause_margin_ns: c.pause_margin_ns,
            hard_timeout_ns: c.hard_timeout_ns,
            min_interval_ns: c.min_interval_ns,
            recovery_heartbeats: c.recovery_heartbeats,
            flap_window_ns: c.flap_window_ns,
            max_tick_interval_ns: c.max_tick_interval_ns,
            stall_limit_ns: c.stall_limit_ns,
            event_capacity: c.event_capacity,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Where a node stands.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum trimtab_node_state {
    /// Heartbeats arrive as expected.
    Alive = 0,
    /// Late by the plain phi rule: a warning, not a conviction.
    Suspect = 1,
    /// Declared dead; stays so until a run of regular heartbeats.
    Dead = 2,
}

/// What changed about a node.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum trimtab_node_event_kind {
    /// Alive to suspect.
    Suspected = 1,
    /// Suspect to alive.
    Cleared = 2,
    /// Declared dead: treat the node as down.
    Dead = 3,
    /// Dead to alive after the recovery run.
    Recovered = 4,
}

/// A node's state transition, from `trimtab_detector_poll_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_node_event {
    /// The node id.
    pub node: u64,
    /// The transition.
    pub kind: trimtab_node_event_kind,
    /// The `now_ns` of the call that decided it.
    pub at_ns: u64,
}

/// Writes the default detector configuration into `*config_out`.
///
/// # Safety
/// `config_out` must be NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_config_default(config_out: *mut trimtab_detector_config) -> trimtab_status {
    boundary(|| {
        check_null!(config_out);
        // SAFETY: non-NULL and valid per the contract.
        unsafe { write_out(config_out, trimtab_detector_config::from(&DetectorConfig::default())) };
        trimtab_status::Ok
    })
}

/// Makes a detector. On success `*detector_out` receives a handle the caller releases with
/// `trimtab_detector_free`. A bad configuration gives `TRIMTAB_STATUS_HEALTH_CONFIG_INVALID`.
///
/// # Safety
/// `config` must be NULL or point to a readable config; `detector_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_new(
    config: *const trimtab_detector_config,
    detector_out: *mut *mut trimtab_detector,
) -> trimtab_status {
    boundary(|| {
        check_null!(config, detector_out);
        // SAFETY: non-NULL and readable per the contract; the struct is plain data (u8, not
        // bool, for the flag, so any byte pattern is a valid value).
        let c = unsafe { &*config };
        let cfg = match DetectorConfig::try_from(c) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let det = match FailureDetector::new(cfg) {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        let h = Box::into_raw(Box::new(trimtab_detector { inner: Mutex::new(det) }));
        // SAFETY: non-NULL and valid per the contract.
        unsafe { write_out(detector_out, h) };
        trimtab_status::Ok
    })
}

/// Releases a detector. NULL is a no-op. The handle must not be used afterwards.
///
/// # Safety
/// `detector` must be NULL or a handle from `trimtab_detector_new` not yet freed, with no
/// other call on it in progress.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_free(detector: *mut trimtab_detector) {
    let _ = boundary(|| {
        if !detector.is_null() {
            // SAFETY: made by Box::into_raw in trimtab_detector_new and not yet freed.
            drop(unsafe { Box::from_raw(detector) });
        }
        trimtab_status::Ok
    });
}

fn with_detector(
    detector: *const trimtab_detector,
    f: impl FnOnce(&mut FailureDetector) -> trimtab_status,
) -> trimtab_status {
    boundary(|| {
        let h = try_handle!(detector);
        let mut d = h.inner.lock();
        f(&mut d)
    })
}

/// Starts tracking `node` as alive, as if it had heartbeated at `now_ns`. Errors:
/// `HEALTH_DUPLICATE`, `CAPACITY_EXCEEDED`.
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_add_node(
    detector: *mut trimtab_detector,
    node: u64,
    now_ns: u64,
) -> trimtab_status {
    with_detector(detector, |d| d.add_node(node, Time(now_ns)).map_or_else(fail, |_| trimtab_status::Ok))
}

/// Stops tracking `node`. Error: `NOT_FOUND`.
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_remove_node(detector: *mut trimtab_detector, node: u64) -> trimtab_status {
    with_detector(detector, |d| d.remove_node(node).map_or_else(fail, |_| trimtab_status::Ok))
}

/// Records a heartbeat from `node` at `now_ns`. An unknown node gives `NOT_FOUND` and
/// changes nothing; a duplicate (same instant, or time going backwards) is a counted no-op.
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_heartbeat(
    detector: *mut trimtab_detector,
    node: u64,
    now_ns: u64,
) -> trimtab_status {
    with_detector(detector, |d| d.heartbeat(node, Time(now_ns)).map_or_else(fail, |_| trimtab_status::Ok))
}

/// Advances time to `now_ns`: suspects and convicts the due nodes. A gap since the previous
/// call longer than the stall limit convicts nobody.
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_tick(detector: *mut trimtab_detector, now_ns: u64) -> trimtab_status {
    with_detector(detector, |d| {
        d.tick(Time(now_ns));
        trimtab_status::Ok
    })
}

/// Takes the oldest pending event. `*has_event_out` is set to true and `*event_out` filled
/// when there was one; to false (and `*event_out` untouched) when the queue is empty.
///
/// # Safety
/// `detector` NULL or a live handle; `event_out` and `has_event_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_poll_event(
    detector: *mut trimtab_detector,
    event_out: *mut trimtab_node_event,
    has_event_out: *mut bool,
) -> trimtab_status {
    check_null!(event_out, has_event_out);
    with_detector(detector, |d| {
        match d.poll_event() {
            Some(e) => {
                let kind = match e.kind {
                    NodeEventKind::Suspected => trimtab_node_event_kind::Suspected,
                    NodeEventKind::Cleared => trimtab_node_event_kind::Cleared,
                    NodeEventKind::Dead => trimtab_node_event_kind::Dead,
                    NodeEventKind::Recovered => trimtab_node_event_kind::Recovered,
                };
                // SAFETY: both non-NULL and valid per the contract.
                unsafe {
                    write_out(event_out, trimtab_node_event { node: e.node, kind, at_ns: e.at.as_nanos() });
                    write_out(has_event_out, true);
                }
            }
            // SAFETY: non-NULL and valid per the contract.
            None => unsafe { write_out(has_event_out, false) },
        }
        trimtab_status::Ok
    })
}

/// Writes the state of `node` into `*state_out`. Error: `NOT_FOUND`.
///
/// # Safety
/// `detector` NULL or a live handle; `state_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_node_state(
    detector: *const trimtab_detector,
    node: u64,
    state_out: *mut trimtab_node_state,
) -> trimtab_status {
    check_null!(state_out);
    with_detector(detector, |d| match d.node_state(node) {
        Ok(s) => {
            let s = match s {
                NodeState::Alive => trimtab_node_state::Alive,
                NodeState::Suspect => trimtab_node_state::Suspect,
                NodeState::Dead => trimtab_node_state::Dead,
            };
            // SAFETY: non-NULL and valid per the contract.
            unsafe { write_out(state_out, s) };
            trimtab_status::Ok
        }
        Err(e) => fail(e),
    })
}

/// Writes into `*deadline_out` the time at which the next `trimtab_detector_tick` may
/// change something, or `UINT64_MAX` when no node is tracked.
///
/// # Safety
/// `detector` NULL or a live handle; `deadline_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_next_deadline(
    detector: *const trimtab_detector,
    deadline_out: *mut u64,
) -> trimtab_status {
    check_null!(deadline_out);
    with_detector(detector, |d| {
        let t = d.next_deadline().map_or(u64::MAX, |t| t.as_nanos());
        // SAFETY: non-NULL and valid per the contract.
        unsafe { write_out(deadline_out, t) };
        trimtab_status::Ok
    })
}

/// Writes into `*dropped_out` how many events were dropped because the queue was full.
///
/// # Safety
/// `detector` NULL or a live handle; `dropped_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_detector_events_dropped(
    detector: *const trimtab_detector,
    dropped_out: *mut u64,
) -> trimtab_status {
    check_null!(dropped_out);
    with_detector(detector, |d| {
        // SAFETY: non-NULL and valid per the contract.
        unsafe { write_out(dropped_out, d.events_dropped()) };
        trimtab_status::Ok
    })
}

/// Configuration of disk health; durations in nanoseconds. Fill it with
/// `trimtab_disk_health_config_default`. Fields mean what the Rust `DiskConfig` fields of
/// the same names mean.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_disk_health_config {
    /// Most devices tracked at once.
    pub capacity: usize,
    /// The error score halves every this long.
    pub half_life_ns: u64,
    /// Score per I/O error.
    pub io_error_weight: u32,
    /// Score per checksum error.
    pub checksum_error_weight: u32,
    /// Score per slow operation.
    pub slow_op_weight: u32,
    /// Score at which a device is degraded.
    pub degraded_score: u64,
    /// Score at which a device fails.
    pub failed_score: u64,
    /// Reallocated sectors at which a device is degraded.
    pub reallocated_degraded: u64,
    /// Reallocated sectors at which a device fails.
    pub reallocated_failed: u64,
    /// Pending sectors at which a device is degraded.
    pub pending_degraded: u64,
    /// Pending sectors at which a device fails.
    pub pending_failed: u64,
    /// A device with no report for this long is stale.
    pub stale_after_ns: u64,
    /// Events kept until polled.
    pub event_capacity: usize,
}

impl From<&DiskConfig> for trimtab_disk_health_config {
    fn from(c: &DiskConfig) -> Self {
        trimtab_disk_health_config {
            capacity: c.capacity,
            half_life_ns: c.half_life_ns,
            io_error_weight: c.io_error_weight,
            checksum_error_weight: c.checksum_error_weight,
            slow_op_weight: c.slow_op_weight,
            degraded_score: c.degraded_score,
            failed_score: c.failed_score,
            reallocated_degraded: c.reallocated_degraded,
            reallocated_failed: c.reallocated_failed,
            pending_degraded: c.pending_degraded,
            pending_failed: c.pending_failed,
            stale_after_ns: c.stale_after_ns,
            event_capacity: c.event_capacity,
        }
    }
}

impl From<&trimtab_disk_health_config> for DiskConfig {
    fn from(c: &trimtab_disk_health_config) -> Self {
        DiskConfig {
            capacity: c.capacity,
            half_life_ns: c.half_life_ns,
            io_error_weight: c.io_error_weight,
            checksum_error_weight: c.checksum_error_weight,
            slow_op_weight: c.slow_op_weight,
            degraded_score: c.degraded_score,
            failed_score: c.failed_score,
            reallocated_degraded: c.reallocated_degraded,
            reallocated_failed: c.reallocated_failed,
            pending_degraded: c.pending_degraded,
            pending_failed: c.pending_failed,
            stale_after_ns: c.stale_after_ns,
            event_capacity: c.event_capacity,
        }
    }
}

/// What the host read from one device since its previous report.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_disk_report {
    /// I/O errors since the previous report.
    pub io_errors: u32,
    /// Checksum errors since the previous report.
    pub checksum_errors: u32,
    /// Slow operations since the previous report.
    pub slow_ops: u32,
    /// 1 when `reallocated_sectors` is given, 0 when not; other values are rejected.
    pub has_reallocated_sectors: u8,
    /// SMART reallocated-sector count (absolute).
    pub reallocated_sectors: u64,
    /// 1 when `pending_sectors` is given, 0 when not; other values are rejected.
    pub has_pending_sectors: u8,
    /// SMART current-pending-sector count (absolute).
    pub pending_sectors: u64,
}

/// Where a device stands.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum trimtab_device_state {
    /// Below every threshold.
    Healthy = 0,
    /// Above a degraded threshold.
    Degraded = 1,
    /// Beyond a failure threshold: mark out and rebuild. Sticky until reset.
    Failed = 2,
    /// No report for the staleness time: unknown, not healthy.
    Stale = 3,
}

fn device_state(s: DeviceState) -> trimtab_device_state {
    match s {
        DeviceState::Healthy => trimtab_device_state::Healthy,
        DeviceState::Degraded => trimtab_device_state::Degraded,
        DeviceState::Failed => trimtab_device_state::Failed,
        DeviceState::Stale => trimtab_device_state::Stale,
    }
}

/// A device's state transition, from `trimtab_disk_health_poll_event`. `to ==
/// TRIMTAB_DEVICE_STATE_FAILED` is the cue to mark the device out and rebuild.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_device_event {
    /// The device id.
    pub device: u64,
    /// The state before.
    pub from: trimtab_device_state,
    /// The state after.
    pub to: trimtab_device_state,
    /// The `now_ns` of the call that decided it.
    pub at_ns: u64,
}

/// Writes the default disk-health configuration into `*config_out`.
///
/// # Safety
/// `config_out` must be NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_config_default(
    config_out: *mut trimtab_disk_health_config,
) -> trimtab_status {
    boundary(|| {
        check_null!(config_out);
        // SAFETY: non-NULL and valid per the contract.
        unsafe { write_out(config_out, trimtab_disk_health_config::from(&DiskConfig::default())) };
        trimtab_status::Ok
    })
}

/// Makes a disk-health tracker; release it with `trimtab_disk_health_free`. A bad
/// configuration gives `TRIMTAB_STATUS_HEALTH_CONFIG_INVALID`.
///
/// # Safety
/// `config` NULL or readable; `health_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_new(
    config: *const trimtab_disk_health_config,
    health_out: *mut *mut trimtab_disk_health,
) -> trimtab_status {
    boundary(|| {
        check_null!(config, health_out);
        // SAFETY: non-NULL and readable per the contract; plain integers only.
        let cfg = DiskConfig::from(unsafe { &*config });
        match DiskHealth::new(cfg) {
            Ok(h) => {
                let p = Box::into_raw(Box::new(trimtab_disk_health { inner: Mutex::new(h) }));
                // SAFETY: non-NULL and valid per the contract.
                unsafe { write_out(health_out, p) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Releases a disk-health tracker. NULL is a no-op.
///
/// # Safety
/// `health` NULL or a handle from `trimtab_disk_health_new` not yet freed, not in use.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_free(health: *mut trimtab_disk_health) {
    let _ = boundary(|| {
        if !health.is_null() {
            // SAFETY: made by Box::into_raw in trimtab_disk_health_new and not yet freed.
            drop(unsafe { Box::from_raw(health) });
        }
        trimtab_status::Ok
    });
}

fn with_disk(health: *const trimtab_disk_health, f: impl FnOnce(&mut DiskHealth) -> trimtab_status) -> trimtab_status {
    boundary(|| {
        let h = try_handle!(health);
        let mut d = h.inner.lock();
        f(&mut d)
    })
}

/// Starts tracking `device`, healthy, as if it had reported at `now_ns`. Errors:
/// `HEALTH_DUPLICATE`, `CAPACITY_EXCEEDED`.
///
/// # Safety
/// `health` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_add_device(
    health: *mut trimtab_disk_health,
    device: u64,
    now_ns: u64,
) -> trimtab_status {
    with_disk(health, |h| h.add_device(device, Time(now_ns)).map_or_else(fail, |_| trimtab_status::Ok))
}

/// Stops tracking `device`. Error: `NOT_FOUND`.
///
/// # Safety
/// `health` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_remove_device(
    health: *mut trimtab_disk_health,
    device: u64,
) -> trimtab_status {
    with_disk(health, |h| h.remove_device(device).map_or_else(fail, |_| trimtab_status::Ok))
}

/// Clears a device's score and counters (replaced or reformatted): healthy again.
/// Error: `NOT_FOUND`.
///
/// # Safety
/// `health` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_reset_device(
    health: *mut trimtab_disk_health,
    device: u64,
    now_ns: u64,
) -> trimtab_status {
    with_disk(health, |h| h.reset_device(device, Time(now_ns)).map_or_else(fail, |_| trimtab_status::Ok))
}

/// Records a report for `device` at `now_ns`. Errors: `NOT_FOUND`, `INVALID_ARGUMENT` (a
/// `has_*` flag other than 0 or 1); nothing changes on error.
///
/// # Safety
/// `health` NULL or a live handle; `report` NULL or readable.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_report(
    health: *mut trimtab_disk_health,
    device: u64,
    report: *const trimtab_disk_report,
    now_ns: u64,
) -> trimtab_status {
    check_null!(report);
    // SAFETY: non-NULL and readable per the contract; plain integers only.
    let r = unsafe { *report };
    if r.has_reallocated_sectors > 1 || r.has_pending_sectors > 1 {
        return fail_with(
            trimtab_status::InvalidArgument,
            "has_reallocated_sectors and has_pending_sectors must be 0 or 1",
        );
    }
    let rep = DiskReport {
        io_errors: r.io_errors,
        checksum_errors: r.checksum_errors,
        slow_ops: r.slow_ops,
        reallocated_sectors: (r.has_reallocated_sectors == 1).then_some(r.reallocated_sectors),
        pending_sectors: (r.has_pending_sectors == 1).then_some(r.pending_sectors),
    };
    with_disk(health, |h| h.report(device, &rep, Time(now_ns)).map_or_else(fail, |_| trimtab_status::Ok))
}

/// Advances time to `now_ns`: marks silent devices stale, heals decayed ones.
///
/// # Safety
/// `health` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_tick(health: *mut trimtab_disk_health, now_ns: u64) -> trimtab_status {
    with_disk(health, |h| {
        h.tick(Time(now_ns));
        trimtab_status::Ok
    })
}

/// Takes the oldest pending event: `*has_event_out` true and `*event_out` filled, or false
/// (and `*event_out` untouched) when the queue is empty.
///
/// # Safety
/// `health` NULL or a live handle; `event_out`, `has_event_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_poll_event(
    health: *mut trimtab_disk_health,
    event_out: *mut trimtab_device_event,
    has_event_out: *mut bool,
) -> trimtab_status {
    check_null!(event_out, has_event_out);
    with_disk(health, |h| {
        match h.poll_event() {
            Some(e) => {
                let ev = trimtab_device_event {
                    device: e.device,
                    from: device_state(e.from),
                    to: device_state(e.to),
                    at_ns: e.at.as_nanos(),
                };
                // SAFETY: both non-NULL and valid per the contract.
                unsafe {
                    write_out(event_out, ev);
                    write_out(has_event_out, true);
                }
            }
            // SAFETY: non-NULL and valid per the contract.
            None => unsafe { write_out(has_event_out, false) },
        }
        trimtab_status::Ok
    })
}

/// Writes the state of `device` into `*state_out`. Error: `NOT_FOUND`.
///
/// # Safety
/// `health` NULL or a live handle; `state_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_device_state(
    health: *const trimtab_disk_health,
    device: u64,
    state_out: *mut trimtab_device_state,
) -> trimtab_status {
    check_null!(state_out);
    with_disk(health, |h| match h.device_state(device) {
        Ok(s) => {
            // SAFETY: non-NULL and valid per the contract.
            unsafe { write_out(state_out, device_state(s)) };
            trimtab_status::Ok
        }
        Err(e) => fail(e),
    })
}

/// Writes into `*deadline_out` when the next `trimtab_disk_health_tick` may change
/// something, or `UINT64_MAX` when nothing is pending.
///
/// # Safety
/// `health` NULL or a live handle; `deadline_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_disk_health_next_deadline(
    health: *const trimtab_disk_health,
    deadline_out: *mut u64,
) -> trimtab_status {
    check_null!(deadline_out);
    with_disk(health, |h| {
        let t = h.next_deadline().map_or(u64::MAX, |t| t.as_nanos());
        // SAFETY: non-NULL and valid per the contract.
        unsafe { write_out(deadline_out, t) };
        trimtab_status::Ok
    })
}
