//! C ABI of the migration scheduler: push moves, tick, drain events and byte grants,
//! report progress, completion and failure, cancel, re-prioritise, read the status.
//!
//! Drain rule: after each call that changes state (push, cancel, report, tick), call
//! `trimtab_scheduler_poll_event` and `trimtab_scheduler_poll_grant` until they say there is
//! nothing more.
//!
//! Threading: a `trimtab_scheduler` carries an internal lock; any function may be called on
//! one handle from several threads, and calls are serialised.

use super::throttle::{trimtab_limit, trimtab_load_metrics, trimtab_throttle_config};
use super::{boundary, check_null, fail, fail_with, handle_ref, slice_ref, trimtab_status, write_out};
use crate::migration::{Event, MoveRequest, Policy, Scheduler, SchedulerConfig, TaskId, TaskKind};
use crate::time::Time;

/// `trimtab_move.kind`: re-create a lost copy.
pub const TRIMTAB_TASK_KIND_REBUILD: u8 = 0;
/// `trimtab_move.kind`: move data off a node being decommissioned.
pub const TRIMTAB_TASK_KIND_DRAIN: u8 = 1;
/// `trimtab_move.kind`: even out the distribution.
pub const TRIMTAB_TASK_KIND_REBALANCE: u8 = 2;
/// `trimtab_move.kind`: replace a damaged copy.
pub const TRIMTAB_TASK_KIND_REPAIR: u8 = 3;
/// Policy: higher priority first, aged by queueing time.
pub const TRIMTAB_POLICY_PRIORITY: u8 = 0;
/// Policy: earliest deadline first.
pub const TRIMTAB_POLICY_DEADLINE: u8 = 1;
/// Policy: higher importance first, aged by queueing time.
pub const TRIMTAB_POLICY_IMPORTANCE: u8 = 2;

/// Configuration of a scheduler (see `trimtab_scheduler_config_default`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_scheduler_config {
    /// The throttle: global limit, node capacity, load ceiling.
    pub throttle: trimtab_throttle_config,
    /// Outbound limit of a node first seen in a move.
    pub node_out: trimtab_limit,
    /// Inbound limit of a node first seen in a move.
    pub node_in: trimtab_limit,
    /// Concurrent outbound moves per node (like osd_max_backfills; default 4).
    pub max_out_per_node: u32,
    /// Concurrent inbound moves per node (default 4).
    pub max_in_per_node: u32,
    /// Concurrent moves in the cluster (default 4096).
    pub max_running: u32,
    /// Most live tasks (default 2,000,000).
    pub max_tasks: u32,
    /// Most undrained events (default 65,536); past it events are dropped and counted.
    pub max_events: u32,
    /// Bytes a task runs before giving its slots back (default 64 MiB).
    pub chunk_bytes: u64,
    /// One of the TRIMTAB_POLICY_* values.
    pub policy: u8,
    /// Rebuild and repair strictly before drain and rebalance (default true).
    pub strict_classes: bool,
    /// Queueing time worth one priority level (default 60 s).
    pub aging_step_ns: u64,
    /// Deadline given to tasks without one under the deadline policy (default 1 h).
    pub no_deadline_horizon_ns: u64,
    /// Keys within this window are a tie broken by remaining work (default 1 s).
    pub tie_window_ns: u64,
    /// A blocked task waiting this long gets its nodes reserved (default 600 s).
    pub starvation_guard_ns: u64,
    /// Busiest nodes first when breaking ties and granting (default true).
    pub critical_first: bool,
    /// Retries before failing for good (default 3).
    pub max_retries: u8,
    /// First retry backoff, doubling per attempt (default 1 s).
    pub backoff_base_ns: u64,
    /// Largest backoff (default 300 s).
    pub backoff_max_ns: u64,
    /// The host's tick interval (default 100 ms).
    pub tick_interval_ns: u64,
    /// Ask the kernel for huge pages under the scheduler's large tables (default true).
    pub huge_pages: bool,
}

impl From<SchedulerConfig> for trimtab_scheduler_config {
    fn from(c: SchedulerConfig) -> Self {
        trimtab_scheduler_config {
            throttle: c.throttle.into(),
            node_out: c.node_out.into(),
            node_in: c.node_in.into(),
            max_out_per_node: c.max_out_per_node,
            max_in_per_node: c.max_in_per_node,
            max_running: c.max_running,
            max_tasks: c.max_tasks,
            max_events: c.max_events,
            chunk_bytes: c.chunk_bytes,
            policy: c.policy as u8,
            strict_classes: c.strict_classes,
            aging_step_ns: c.aging_step_ns,
            no_deadline_horizon_ns: c.no_deadline_horizon_ns,
            tie_window_ns: c.tie_window_ns,
            starvation_guard_ns: c.starvation_guard_ns,
            critical_first: c.critical_first,
            max_retries: c.max_retries,
            backoff_base_ns: c.backoff_base_ns,
            backoff_max_ns: c.backoff_max_ns,
            tick_interval_ns: c.tick_interval_ns,
            huge_pages: c.huge_pages,
        }
    }
}

impl trimtab_scheduler_config {
    fn to_rust(self) -> Option<SchedulerConfig> {
        Some(SchedulerConfig {
            throttle: self.throttle.into(),
            node_out: self.node_out.into(),
            node_in: self.node_in.into(),
            max_out_per_node: self.max_out_per_node,
            max_in_per_node: self.max_in_per_node,
            max_running: self.max_running,
            max_tasks: self.max_tasks,
            max_events: self.max_events,
            chunk_bytes: self.chunk_bytes,
            policy: Policy::from_u8(self.policy)?,
            strict_classes: self.strict_classes,
            aging_step_ns: self.aging_step_ns,
            no_deadline_horizon_ns: self.no_deadline_horizon_ns,
            tie_window_ns: self.tie_window_ns,
            starvation_guard_ns: self.starvation_guard_ns,
            critical_first: self.critical_first,
            max_retries: self.max_retries,
            backoff_base_ns: self.backoff_base_ns,
            backoff_max_ns: self.backoff_max_ns,
            tick_interval_ns: self.tick_interval_ns,
            huge_pages: self.huge_pages,
        })
    }
}

/// One move.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_move {
    /// Placement group.
    pub pg: u32,
    /// Shard within the PG.
    pub shard: u8,
    /// One of the TRIMTAB_TASK_KIND_* values.
    pub kind: u8,
    /// 1 (lowest) to 10 (highest).
    pub priority: u8,
    /// Source device.
    pub from_device: u32,
    /// Target device.
    pub to_device: u32,
    /// Source node.
    pub from_node: u32,
    /// Target node.
    pub to_node: u32,
    /// Bytes to copy (at least 1).
    pub bytes: u64,
    /// Deadline in ns, or 0 for none.
    pub deadline_ns: u64,
    /// The host's importance score 0..=1000, or -1 to have one computed.
    pub importance: i32,
    /// Client accesses per second to the PG (feeds the computed importance).
    pub access_rate: u32,
}

impl trimtab_move {
    fn to_rust(self) -> Option<MoveRequest> {
        Some(MoveRequest {
            pg: self.pg,
            shard: self.shard,
            from_device: self.from_device,
            to_device: self.to_device,
            from_node: self.from_node,
            to_node: self.to_node,
            bytes: self.bytes,
            kind: TaskKind::from_u8(self.kind)?,
            priority: self.priority,
            deadline: (self.deadline_ns != 0).then_some(Time(self.deadline_ns)),
            importance: match self.importance {
                -1 => None,
                i => Some(u32::try_from(i).ok()?),
            },
            access_rate: self.access_rate,
        })
    }
}

/// What an event says.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum trimtab_migration_event_kind {
    /// The task took its slots for the first time in this attempt.
    Started = 0,
    /// Every byte was reported; the task is gone.
    Completed = 1,
    /// Failed for good (`reason`, `attempt` = attempts made); the task is gone.
    Failed = 2,
    /// Failed and will be queued again at `at_ns` (`reason`, `attempt`).
    Retrying = 3,
    /// Cancelled; its slots and tokens are back; the task is gone.
    Cancelled = 4,
    /// Replaced by task `other_id` for the same PG shard; the task is gone.
    Superseded = 5,
}

/// One event.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_migration_event {
    /// What happened.
    pub kind: trimtab_migration_event_kind,
    /// The task.
    pub id: u64,
    /// For SUPERSEDED: the task that replaced it; 0 otherwise.
    pub other_id: u64,
    /// For FAILED and RETRYING: the host's reason code.
    pub reason: u32,
    /// For FAILED and RETRYING: the attempt number.
    pub attempt: u8,
    /// For RETRYING: when the task is queued again.
    pub at_ns: u64,
}

/// Bytes a running task may copy now.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_grant {
    /// The task.
    pub id: u64,
    /// Bytes granted since its last drained grant.
    pub bytes: u64,
}

/// Counts, bytes and rates at one moment.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_migration_status {
    /// Tasks waiting for slots.
    pub queued: u64,
    /// Tasks holding slots.
    pub running: u64,
    /// Tasks waiting out a retry backoff.
    pub backoff: u64,
    /// Completed so far.
    pub completed: u64,
    /// Failed for good so far.
    pub failed: u64,
    /// Cancelled so far.
    pub cancelled: u64,
    /// Superseded so far.
    pub superseded: u64,
    /// Bytes reported done.
    pub bytes_done: u64,
    /// Bytes left on live tasks.
    pub bytes_left: u64,
    /// Bytes granted cluster-wide in the last whole second.
    pub rate_bps: u64,
    /// Estimated completion time in ns, UINT64_MAX when nothing moves.
    pub eta_ns: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
}

/// A migration scheduler. Made by `trimtab_scheduler_new`, released by
/// `trimtab_scheduler_free`.
pub struct trimtab_scheduler {
    inner: parking_lot::Mutex<Scheduler>,
}

/// Writes the default configuration into `*out`.
///
/// # Safety
/// `out` must be valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_config_default(out: *mut trimtab_scheduler_config) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(out, SchedulerConfig::default().into()) };
        trimtab_status::Ok
    })
}

/// Makes a scheduler from `*config` as of `now_ns`; the handle goes to `*out` (free it with
/// `trimtab_scheduler_free`). A bad field gives INVALID_ARGUMENT.
///
/// # Safety
/// `config` valid for reads; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_new(
    config: *const trimtab_scheduler_config,
    now_ns: u64,
    out: *mut *mut trimtab_scheduler,
) -> trimtab_status {
    boundary(|| {
        check_null!(config, out);
        // SAFETY: non-NULL, valid per the contract.
        let c = unsafe { *config };
        let Some(cfg) = c.to_rust() else {
            return fail_with(trimtab_status::InvalidArgument, "unknown policy");
        };
        match Scheduler::new(cfg, Time(now_ns)) {
            Ok(s) => {
                let h = Box::new(trimtab_scheduler { inner: parking_lot::Mutex::new(s) });
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(out, Box::into_raw(h)) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Releases a scheduler. NULL is a no-op.
///
/// # Safety
/// `s` NULL or a handle from `trimtab_scheduler_new` not yet freed and not in use.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_free(s: *mut trimtab_scheduler) {
    let _ = boundary(|| {
        if !s.is_null() {
            // SAFETY: made by Box::into_raw in trimtab_scheduler_new, not freed yet.
            drop(unsafe { Box::from_raw(s) });
        }
        trimtab_status::Ok
    });
}

macro_rules! with_sched {
    ($s:expr, |$g:ident| $body:expr) => {
        boundary(|| {
            // SAFETY: per the function's contract `$s` is NULL or a live handle.
            let h = match unsafe { handle_ref($s) } {
                Ok(h) => h,
                Err(st) => return st,
            };
            #[allow(unused_mut)]
            let mut $g = h.inner.lock();
            $body
        })
    };
}

fn status_of<T>(r: Result<T, crate::migration::MigrationError>) -> trimtab_status {
    match r {
        Ok(_) => trimtab_status::Ok,
        Err(e) => fail(e),
    }
}

/// Queues one move and writes its id to `*id_out`. A live task for the same PG shard is
/// superseded (an event says so). Bad fields: INVALID_ARGUMENT; full: CAPACITY_EXCEEDED.
///
/// # Safety
/// `s` NULL or a live handle; `mv` valid for reads; `id_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_push(
    s: *const trimtab_scheduler,
    mv: *const trimtab_move,
    now_ns: u64,
    id_out: *mut u64,
) -> trimtab_status {
    with_sched!(s, |g| {
        check_null!(mv, id_out);
        // SAFETY: non-NULL, valid per the contract.
        let m = unsafe { *mv };
        let Some(r) = m.to_rust() else {
            return fail_with(trimtab_status::InvalidArgument, "unknown task kind or importance out of range");
        };
        match g.push(r, Time(now_ns)) {
            Ok(id) => {
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(id_out, id.0) };
                trimtab_status::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Queues `len` moves in order, writing each id to `ids_out[i]` and the number queued to
/// `*pushed_out` (also on failure: the moves before the failing one stay queued).
///
/// # Safety
/// `moves` valid for `len` reads (or NULL with 0); `ids_out` valid for `len` writes (or NULL
/// with 0); `pushed_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_push_plan(
    s: *const trimtab_scheduler,
    moves: *const trimtab_move,
    len: usize,
    now_ns: u64,
    ids_out: *mut u64,
    pushed_out: *mut usize,
) -> trimtab_status {
    with_sched!(s, |g| {
        check_null!(pushed_out);
        if len > 0 && ids_out.is_null() {
            return fail_with(trimtab_status::NullParameter, "`ids_out` must not be NULL with a non-zero length");
        }
        // SAFETY: forwarded contract.
        let ms = match unsafe { slice_ref(moves, len) } {
            Ok(m) => m,
            Err(st) => return st,
        };
        // The moves up to the first that does not convert go in as one plan (reserved up
        // front and sorted at its end, see `Scheduler::push_plan`); the first refusal, of
        // either kind, ends it.
        let reqs: Vec<_> = ms.iter().map_while(|m| m.to_rust()).collect();
        let (ids, st) = match g.push_plan(reqs.iter().copied(), Time(now_ns)) {
            Ok(ids) if ids.len() < ms.len() => {
                (ids, fail_with(trimtab_status::InvalidArgument, "unknown task kind or importance out of range"))
            }
            Ok(ids) => (ids, trimtab_status::Ok),
            Err((ids, e)) => (ids, fail(e)),
        };
        for (i, id) in ids.iter().enumerate() {
            // SAFETY: i < ids.len() <= len, and ids_out holds len elements per the contract.
            unsafe { ids_out.add(i).write(id.0) };
        }
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(pushed_out, ids.len()) };
        st
    })
}

/// Cancels a task in any state; its slots and unused tokens come back. NOT_FOUND when no
/// live task has this id.
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_cancel(s: *const trimtab_scheduler, id: u64, now_ns: u64) -> trimtab_status {
    with_sched!(s, |g| status_of(g.cancel(TaskId(id), Time(now_ns))))
}

/// Cancels the `len` tasks of `ids`, in order, as `trimtab_scheduler_cancel` cancels one;
/// all or nothing: NOT_FOUND when one id is of no live task and INVALID_ARGUMENT when one is
/// given twice, and then nothing is cancelled. Faster per task than one call each at large
/// queues (their records are read together).
///
/// # Safety
/// `s` NULL or a live handle; `ids` valid for `len` reads (may be NULL with 0).
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_cancel_many(
    s: *const trimtab_scheduler,
    ids: *const u64,
    len: usize,
    now_ns: u64,
) -> trimtab_status {
    with_sched!(s, |g| {
        // SAFETY: forwarded contract.
        let ids = match unsafe { slice_ref(ids, len) } {
            Ok(ids) => ids,
            Err(st) => return st,
        };
        let ids: Vec<TaskId> = ids.iter().map(|&id| TaskId(id)).collect();
        status_of(g.cancel_many(&ids, Time(now_ns)))
    })
}

/// Changes a task's priority (1..=10).
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_set_priority(
    s: *const trimtab_scheduler,
    id: u64,
    priority: u8,
    now_ns: u64,
) -> trimtab_status {
    with_sched!(s, |g| status_of(g.set_priority(TaskId(id), priority, Time(now_ns))))
}

/// Switches the ordering policy (a TRIMTAB_POLICY_* value); what is queued is re-ordered.
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_set_policy(s: *const trimtab_scheduler, policy: u8) -> trimtab_status {
    with_sched!(s, |g| match Policy::from_u8(policy) {
        Some(p) => {
            g.set_policy(p);
            trimtab_status::Ok
        }
        None => fail_with(trimtab_status::InvalidArgument, "unknown policy"),
    })
}

/// The passage of time: re-queues retries, starts what can start, hands out grants.
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_tick(s: *const trimtab_scheduler, now_ns: u64) -> trimtab_status {
    with_sched!(s, |g| {
        g.tick(Time(now_ns));
        trimtab_status::Ok
    })
}

/// Writes the next event to `*event_out` and `true` to `*has_event_out`, or `false` when
/// drained (then `*event_out` is untouched).
///
/// # Safety
/// `s` NULL or a live handle; both out-pointers valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_poll_event(
    s: *const trimtab_scheduler,
    event_out: *mut trimtab_migration_event,
    has_event_out: *mut bool,
) -> trimtab_status {
    with_sched!(s, |g| {
        check_null!(event_out, has_event_out);
        let e = g.poll_event();
        if let Some(e) = e {
            let mut c = trimtab_migration_event {
                kind: trimtab_migration_event_kind::Started,
                id: 0,
                other_id: 0,
                reason: 0,
                attempt: 0,
                at_ns: 0,
            };
            match e {
                Event::Started { id } => c.id = id.0,
                Event::Completed { id } => {
                    c.kind = trimtab_migration_event_kind::Completed;
                    c.id = id.0;
                }
                Event::Failed { id, reason, attempts } => {
                    c.kind = trimtab_migration_event_kind::Failed;
                    c.id = id.0;
                    c.reason = reason;
                    c.attempt = attempts;
                }
                Event::Retrying { id, reason, attempt, at } => {
                    c.kind = trimtab_migration_event_kind::Retrying;
                    c.id = id.0;
                    c.reason = reason;
                    c.attempt = attempt;
                    c.at_ns = at.0;
                }
                Event::Cancelled { id } => {
                    c.kind = trimtab_migration_event_kind::Cancelled;
                    c.id = id.0;
                }
                Event::Superseded { id, by } => {
                    c.kind = trimtab_migration_event_kind::Superseded;
                    c.id = id.0;
                    c.other_id = by.0;
                }
            }
            // SAFETY: non-NULL, valid per the contract.
            unsafe { write_out(event_out, c) };
        }
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(has_event_out, e.is_some()) };
        trimtab_status::Ok
    })
}

/// Writes the next grant to `*grant_out` and `true` to `*has_grant_out`, or `false` when
/// drained (then `*grant_out` is untouched).
///
/// # Safety
/// `s` NULL or a live handle; both out-pointers valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_poll_grant(
    s: *const trimtab_scheduler,
    grant_out: *mut trimtab_grant,
    has_grant_out: *mut bool,
) -> trimtab_status {
    with_sched!(s, |g| {
        check_null!(grant_out, has_grant_out);
        let gr = g.poll_grant();
        if let Some(gr) = gr {
            // SAFETY: non-NULL, valid per the contract.
            unsafe { write_out(grant_out, trimtab_grant { id: gr.id.0, bytes: gr.bytes }) };
        }
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(has_grant_out, gr.is_some()) };
        trimtab_status::Ok
    })
}

/// Reports `done` bytes (cumulative, this attempt) of a running task copied. Beyond what
/// was granted, or backwards: MIGRATION_INVALID_PROGRESS; not running: MIGRATION_NOT_RUNNING.
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_report_progress(
    s: *const trimtab_scheduler,
    id: u64,
    done: u64,
    now_ns: u64,
) -> trimtab_status {
    with_sched!(s, |g| status_of(g.report_progress(TaskId(id), done, Time(now_ns))))
}

/// Reports that a running task finished.
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_report_complete(
    s: *const trimtab_scheduler,
    id: u64,
    now_ns: u64,
) -> trimtab_status {
    with_sched!(s, |g| status_of(g.report_complete(TaskId(id), Time(now_ns))))
}

/// Reports that a task failed with the host's `reason`: it retries with backoff, then fails.
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_report_failure(
    s: *const trimtab_scheduler,
    id: u64,
    reason: u32,
    now_ns: u64,
) -> trimtab_status {
    with_sched!(s, |g| status_of(g.report_failure(TaskId(id), reason, Time(now_ns))))
}

/// Writes the status to `*status_out`.
///
/// # Safety
/// `s` NULL or a live handle; `status_out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_status(
    s: *const trimtab_scheduler,
    status_out: *mut trimtab_migration_status,
) -> trimtab_status {
    with_sched!(s, |g| {
        check_null!(status_out);
        let st = g.status();
        let c = trimtab_migration_status {
            queued: st.queued,
            running: st.running,
            backoff: st.backoff,
            completed: st.completed,
            failed: st.failed,
            cancelled: st.cancelled,
            superseded: st.superseded,
            bytes_done: st.bytes_done,
            bytes_left: st.bytes_left,
            rate_bps: st.rate_bps,
            eta_ns: st.eta.0,
            events_dropped: st.events_dropped,
        };
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(status_out, c) };
        trimtab_status::Ok
    })
}

/// Writes when the next tick matters to `*at_ns_out` and `true` to `*has_out`, or `false`
/// when nothing is pending.
///
/// # Safety
/// `s` NULL or a live handle; both out-pointers valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_next_deadline(
    s: *const trimtab_scheduler,
    at_ns_out: *mut u64,
    has_out: *mut bool,
) -> trimtab_status {
    with_sched!(s, |g| {
        check_null!(at_ns_out, has_out);
        let d = g.next_deadline();
        if let Some(t) = d {
            // SAFETY: non-NULL, valid per the contract.
            unsafe { write_out(at_ns_out, t.0) };
        }
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(has_out, d.is_some()) };
        trimtab_status::Ok
    })
}

/// Changes node `node`'s limits (adding the node when new is not done here: an unknown
/// node gives NOT_FOUND; nodes are added by the first move that names them).
///
/// # Safety
/// `s` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_set_node_limits(
    s: *const trimtab_scheduler,
    node: u32,
    out: trimtab_limit,
    in_: trimtab_limit,
    now_ns: u64,
) -> trimtab_status {
    with_sched!(s, |g| status_of(g.set_node_limits(node, out.into(), in_.into(), Time(now_ns))))
}

/// Reports load for node `node` (when `has_node`) or the cluster; see
/// `trimtab_throttle_report_load`.
///
/// # Safety
/// `s` NULL or a live handle; `metrics` valid for reads.
#[no_mangle]
pub unsafe extern "C" fn trimtab_scheduler_report_load(
    s: *const trimtab_scheduler,
    has_node: bool,
    node: u32,
    metrics: *const trimtab_load_metrics,
    now_ns: u64,
) -> trimtab_status {
    with_sched!(s, |g| {
        check_null!(metrics);
        // SAFETY: non-NULL, valid per the contract.
        let m = unsafe { *metrics };
        status_of(g.report_load(has_node.then_some(node), m.into(), Time(now_ns)))
    })
}
