//! The C ABI of the partition detector (`crate::partition`).
//!
//! One opaque handle, `trimtab_partition`, made by `trimtab_partition_new` and released by
//! `trimtab_partition_free`. Calls that change the detector take a mutable handle; queries
//! take a `const` one. The handle carries a lock: any function may be called from
//! several threads on one handle; calls are serialised. Queries answer from the published
//! picture, which changes only in `trimtab_partition_tick`; events are queued only by
//! `trimtab_partition_tick` and drained with `trimtab_partition_poll_event`.

use super::{
    boundary, check_null, copy_text, fail, fail_with, handle_ref, slice_ref, str_ref, trimtab_status, write_out,
};
use crate::partition::{
    parse_reports_json, Mode, NodeSpec, PartitionConfig, PartitionDetector, PartitionError, PartitionEvent, TieBreaker,
};
use crate::time::Time;
use std::collections::VecDeque;
use std::ffi::c_char;

/// Exact halves never have quorum (both go to safe mode).
pub const TRIMTAB_PARTITION_TIE_BREAKER_NONE: u32 = 0;
/// The half holding the registered voter with the lowest id wins.
pub const TRIMTAB_PARTITION_TIE_BREAKER_LOWEST_ID: u32 = 1;
/// The half holding `tiebreaker_node` wins.
pub const TRIMTAB_PARTITION_TIE_BREAKER_NODE: u32 = 2;

/// Configuration of a partition detector. Get the defaults with
/// `trimtab_partition_config_default`, then change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_partition_config {
    /// How long a report stays valid, in nanoseconds (default 5 s; > 0).
    pub report_timeout_ns: u64,
    /// How long a new picture must hold before it is published (default 2 s).
    pub stability_window_ns: u64,
    /// One of `TRIMTAB_PARTITION_TIE_BREAKER_*` (default LOWEST_ID).
    pub tie_breaker: u32,
    /// The tiebreaker node when `tie_breaker` is `TRIMTAB_PARTITION_TIE_BREAKER_NODE`.
    pub tiebreaker_node: u64,
    /// Non-zero: the quorum component serves only if its largest fully connected group
    /// also has quorum (default 0).
    pub require_majority_clique: u8,
    /// The most nodes (default 65,536; at most 131,072).
    pub max_nodes: usize,
    /// Capacity of the event queue (default 16,384; > 0).
    pub event_capacity: usize,
    /// Broken pairs listed per component (default 1,024).
    pub max_reported_pairs: usize,
    /// Largest component searched exactly for its maximum clique (default 256).
    pub exact_clique_limit: usize,
    /// Step budget of that search, per component (default 100,000).
    pub clique_step_budget: u64,
}

impl trimtab_partition_config {
    fn from_rust(c: &PartitionConfig) -> Self {
        let (tie_breaker, tiebreaker_node) = match c.tie_breaker {
            TieBreaker::None => (TRIMTAB_PARTITION_TIE_BREAKER_NONE, 0),
            TieBreaker::LowestId => (TRIMTAB_PARTITION_TIE_BREAKER_LOWEST_ID, 0),
            TieBreaker::Node(n) => (TRIMTAB_PARTITION_TIE_BREAKER_NODE, n),
        };
        trimtab_partition_config {
            report_timeout_ns: c.report_timeout_ns,
            stability_window_ns: c.stability_window_ns,
            tie_breaker,
            tiebreaker_node,
            require_majority_clique: u8::from(c.require_majority_clique),
            max_nodes: c.max_nodes,
            event_capacity: c.event_capacity,
            max_reported_pairs: c.max_reported_pairs,
            exact_clique_limit: c.exact_clique_limit,
            clique_step_budget: c.clique_step_budget,
        }
    }

    fn to_rust(self) -> Result<PartitionConfig, trimtab_status> {
        let tie_breaker = match self.tie_breaker {
            TRIMTAB_PARTITION_TIE_BREAKER_NONE => TieBreaker::None,
            TRIMTAB_PARTITION_TIE_BREAKER_LOWEST_ID => TieBreaker::LowestId,
            TRIMTAB_PARTITION_TIE_BREAKER_NODE => TieBreaker::Node(self.tiebreaker_node),
            other => return Err(fail_with(trimtab_status::InvalidArgument, format!("unknown tie_breaker {other}"))),
        };
        Ok(PartitionConfig {
            report_timeout_ns: self.report_timeout_ns,
            stability_window_ns: self.stability_window_ns,
            tie_breaker,
            require_majority_clique: self.require_majority_clique != 0,
            max_nodes: self.max_nodes,
            event_capacity: self.event_capacity,
            max_reported_pairs: self.max_reported_pairs,
            exact_clique_limit: self.exact_clique_limit,
            clique_step_budget: self.clique_step_budget,
        })
    }
}

/// What a node or component may do.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum trimtab_partition_mode {
    /// Read-write.
    Serving = 0,
    /// Reads only: the non-serving side, or cut off from the serving leader.
    ReadOnly = 1,
    /// The quorum side holds a majority only through partial links: no writes.
    Degraded = 2,
    /// No side has quorum: no writes anywhere.
    SafeMode = 3,
}

impl From<Mode> for trimtab_partition_mode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Serving => trimtab_partition_mode::Serving,
            Mode::ReadOnly => trimtab_partition_mode::ReadOnly,
            Mode::Degraded => trimtab_partition_mode::Degraded,
            Mode::SafeMode => trimtab_partition_mode::SafeMode,
        }
    }
}

/// The kind of a `trimtab_partition_event`; says which fields are meaningful.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum trimtab_partition_event_kind {
    /// A new picture was published: `epoch`, `components`, `has_serving`/`serving`.
    PictureChanged = 0,
    /// `node` went from `from_mode` to `to_mode`.
    ModeChanged = 1,
    /// The leader of `component` changed: `has_from_leader`/`from_leader`,
    /// `has_to_leader`/`to_leader`, `viable`.
    LeaderChanged = 2,
    /// `component` has `broken_pairs` pairs that cannot talk (0: healed), largest fully
    /// connected group `max_clique`, `viable` leader or not.
    PartialPartition = 3,
    /// `node` serves again after `out_for_ns` on the non-serving side (since
    /// `out_since_ns`); entry `recovered_index` of `recovered_count` of one recovery.
    Recovered = 4,
}

/// One event. Fields not used by `kind` are zero.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_partition_event {
    /// Which fields are meaningful.
    pub kind: trimtab_partition_event_kind,
    /// When the picture was published.
    pub at_ns: u64,
    /// PICTURE_CHANGED: publication counter.
    pub epoch: u64,
    /// PICTURE_CHANGED: number of components.
    pub components: u64,
    /// PICTURE_CHANGED: whether a component serves.
    pub has_serving: bool,
    /// PICTURE_CHANGED: the serving component's id (its lowest member).
    pub serving: u64,
    /// MODE_CHANGED, RECOVERED: the node.
    pub node: u64,
    /// MODE_CHANGED: previous mode.
    pub from_mode: trimtab_partition_mode,
    /// MODE_CHANGED: new mode.
    pub to_mode: trimtab_partition_mode,
    /// LEADER_CHANGED, PARTIAL_PARTITION: the component's id (its lowest member).
    pub component: u64,
    /// LEADER_CHANGED: whether there was a leader.
    pub has_from_leader: bool,
    /// LEADER_CHANGED: the previous leader.
    pub from_leader: u64,
    /// LEADER_CHANGED: whether there is a leader now.
    pub has_to_leader: bool,
    /// LEADER_CHANGED: the new leader.
    pub to_leader: u64,
    /// LEADER_CHANGED, PARTIAL_PARTITION: whether the leader is viable.
    pub viable: bool,
    /// PARTIAL_PARTITION: pairs that do not mutually reach each other.
    pub broken_pairs: u64,
    /// PARTIAL_PARTITION: size of the largest fully connected group found.
    pub max_clique: u64,
    /// RECOVERED: when the node was first out.
    pub out_since_ns: u64,
    /// RECOVERED: how long it was out.
    pub out_for_ns: u64,
    /// RECOVERED: position of this node in its recovery (from 0).
    pub recovered_index: u64,
    /// RECOVERED: number of nodes in this recovery.
    pub recovered_count: u64,
}

impl trimtab_partition_event {
    fn empty(kind: trimtab_partition_event_kind, at: Time) -> Self {
        trimtab_partition_event {
            kind,
            at_ns: at.as_nanos(),
            epoch: 0,
            components: 0,
            has_serving: false,
            serving: 0,
            node: 0,
            from_mode: trimtab_partition_mode::SafeMode,
            to_mode: trimtab_partition_mode::SafeMode,
            component: 0,
            has_from_leader: false,
            from_leader: 0,
            has_to_leader: false,
            to_leader: 0,
            viable: false,
            broken_pairs: 0,
            max_clique: 0,
            out_since_ns: 0,
            out_for_ns: 0,
            recovered_index: 0,
            recovered_count: 0,
        }
    }

    /// Flattens one Rust event into C events (a recovery gives one per node).
    fn flatten(e: PartitionEvent, out: &mut VecDeque<trimtab_partition_event>) {
        use trimtab_partition_event_kind as K;
        match e {
            PartitionEvent::PictureChanged { epoch, components, serving, at } => {
                let mut c = Self::empty(K::PictureChanged, at);
                c.epoch = epoch;
                c.components = components as u64;
                c.has_serving = serving.is_some();
                c.serving = serving.unwrap_or(0);
                out.push_back(c);
            }
            PartitionEvent::ModeChanged { node, from, to, at } => {
                let mut c = Self::empty(K::ModeChanged, at);
                c.node = node;
                c.from_mode = from.into();
                c.to_mode = to.into();
                out.push_back(c);
            }
            PartitionEvent::LeaderChanged { component, from, to, viable, at } => {
                let mut c = Self::empty(K::LeaderChanged, at);
                c.component = component;
                c.has_from_leader = from.is_some();
                c.from_leader = from.unwrap_or(0);
                c.has_to_leader = to.is_some();
                c.to_leader = to.unwrap_or(0);
                c.viable = viable;
                out.push_back(c);
            }
            PartitionEvent::PartialPartition { component, broken_pairs, max_clique, leader_viable, at } => {
                let mut c = Self::empty(K::PartialPartition, at);
                c.component = component;
                c.broken_pairs = broken_pairs;
                c.max_clique = max_clique;
                c.viable = leader_viable;
                out.push_back(c);
            }
            PartitionEvent::Recovered { nodes, at } => {
                let count = nodes.len() as u64;
                for (i, n) in nodes.into_iter().enumerate() {
                    let mut c = Self::empty(K::Recovered, at);
                    c.node = n.node;
                    c.out_since_ns = n.out_since.as_nanos();
                    c.out_for_ns = n.out_for_ns;
                    c.recovered_index = i as u64;
                    c.recovered_count = count;
                    out.push_back(c);
                }
            }
        }
    }
}

struct Inner {
    det: PartitionDetector,
    /// C events flattened from a Rust event and not yet polled.
    flat: VecDeque<trimtab_partition_event>,
}

/// A partition detector. Made by `trimtab_partition_new`, released by
/// `trimtab_partition_free`. Safe to use from several threads (calls are serialised).
pub struct trimtab_partition {
    inner: parking_lot::Mutex<Inner>,
}

fn status_of_err(e: PartitionError) -> trimtab_status {
    fail(e)
}

/// Maps a partition error to its status code.
pub(crate) fn status_of(e: &PartitionError) -> trimtab_status {
    match e {
        PartitionError::InvalidConfig(_) => trimtab_status::InvalidArgument,
        PartitionError::DuplicateNode(_) => trimtab_status::PartitionDuplicateNode,
        PartitionError::UnknownNode(_) => trimtab_status::NotFound,
        PartitionError::UnknownPeer { .. } => trimtab_status::PartitionUnknownPeer,
        PartitionError::TooManyNodes { .. } => trimtab_status::CapacityExceeded,
        PartitionError::BadReports { .. } => trimtab_status::InvalidArgument,
    }
}

/// Runs `f` on the handle's detector under its lock.
///
/// # Safety
/// `h` must be NULL or a live handle from `trimtab_partition_new`.
unsafe fn with(h: *const trimtab_partition, f: impl FnOnce(&mut Inner) -> trimtab_status) -> trimtab_status {
    // SAFETY: forwarded contract.
    match unsafe { handle_ref(h) } {
        Ok(h) => f(&mut h.inner.lock()),
        Err(s) => s,
    }
}

/// Writes the default configuration into `*config_out`.
///
/// # Safety
/// `config_out` must be NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_config_default(config_out: *mut trimtab_partition_config) -> trimtab_status {
    boundary(|| {
        check_null!(config_out);
        // SAFETY: non-NULL, valid per the contract.
        unsafe { write_out(config_out, trimtab_partition_config::from_rust(&PartitionConfig::default())) };
        trimtab_status::Ok
    })
}

/// Makes a detector from `*config`; on success writes the handle to `*detector_out`, which
/// the caller releases with `trimtab_partition_free`. A bad field gives INVALID_ARGUMENT.
///
/// # Safety
/// `config` must be NULL or point to a readable config; `detector_out` NULL or valid for
/// one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_new(
    config: *const trimtab_partition_config,
    detector_out: *mut *mut trimtab_partition,
) -> trimtab_status {
    boundary(|| {
        check_null!(config, detector_out);
        // SAFETY: non-NULL and readable per the contract; the struct is plain data.
        let cfg = unsafe { config.read() };
        let cfg = match cfg.to_rust() {
            Ok(c) => c,
            Err(s) => return s,
        };
        match PartitionDetector::new(cfg) {
            Ok(det) => {
                let h = Box::new(trimtab_partition {
                    inner: parking_lot::Mutex::new(Inner { det, flat: VecDeque::new() }),
                });
                // SAFETY: non-NULL, valid per the contract.
                unsafe { write_out(detector_out, Box::into_raw(h)) };
                trimtab_status::Ok
            }
            Err(e) => status_of_err(e),
        }
    })
}

/// Releases a detector. NULL is a no-op. The handle must not be used afterwards, nor be
/// in use by another thread.
///
/// # Safety
/// `detector` must be NULL or a live handle from `trimtab_partition_new`, freed once.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_free(detector: *mut trimtab_partition) {
    let _ = boundary(|| {
        if !detector.is_null() {
            // SAFETY: made by Box::into_raw in `trimtab_partition_new`, freed once per the
            // contract.
            drop(unsafe { Box::from_raw(detector) });
        }
        trimtab_status::Ok
    });
}

/// Registers node `id` with `votes` (0: non-voter) and leader `priority` (higher first).
/// PARTITION_DUPLICATE_NODE if it exists, CAPACITY_EXCEEDED past `max_nodes`.
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_add_node(
    detector: *mut trimtab_partition,
    id: u64,
    votes: u32,
    priority: u32,
) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| match i.det.add_node(id, NodeSpec { votes, priority }) {
                Ok(()) => trimtab_status::Ok,
                Err(e) => status_of_err(e),
            })
        }
    })
}

/// Unregisters node `id` (NOT_FOUND if unknown).
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_remove_node(detector: *mut trimtab_partition, id: u64) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        unsafe { with(detector, |i| i.det.remove_node(id).map_or_else(status_of_err, |()| trimtab_status::Ok)) }
    })
}

/// Changes node `id`'s votes (NOT_FOUND if unknown).
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_set_votes(
    detector: *mut trimtab_partition,
    id: u64,
    votes: u32,
) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        unsafe { with(detector, |i| i.det.set_votes(id, votes).map_or_else(status_of_err, |()| trimtab_status::Ok)) }
    })
}

/// Changes node `id`'s leader priority (NOT_FOUND if unknown).
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_set_priority(
    detector: *mut trimtab_partition,
    id: u64,
    priority: u32,
) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| i.det.set_priority(id, priority).map_or_else(status_of_err, |()| trimtab_status::Ok))
        }
    })
}

/// Replaces `node`'s connectivity report: the `len` peers at `reaches` (NULL allowed when
/// `len` is 0), made at `now_ns`. NOT_FOUND for an unknown node, PARTITION_UNKNOWN_PEER for
/// an unknown peer (the report is then ignored whole). The array is only read.
///
/// # Safety
/// `detector` must be NULL or a live handle; `reaches` valid for `len` reads.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_report(
    detector: *mut trimtab_partition,
    node: u64,
    reaches: *const u64,
    len: usize,
    now_ns: u64,
) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        let peers = match unsafe { slice_ref(reaches, len) } {
            Ok(p) => p,
            Err(s) => return s,
        };
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| {
                i.det.report(node, peers, Time(now_ns)).map_or_else(status_of_err, |()| trimtab_status::Ok)
            })
        }
    })
}

/// Advances time to `now_ns`: expires reports, publishes a picture that has held for the
/// stability window, queues events.
///
/// # Safety
/// `detector` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_tick(detector: *mut trimtab_partition, now_ns: u64) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| {
                i.det.tick(Time(now_ns));
                trimtab_status::Ok
            })
        }
    })
}

/// Writes when the next tick matters to `*deadline_ns_out` (UINT64_MAX when nothing is due).
///
/// # Safety
/// `detector` must be NULL or a live handle; `deadline_ns_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_next_deadline(
    detector: *const trimtab_partition,
    deadline_ns_out: *mut u64,
) -> trimtab_status {
    boundary(|| {
        check_null!(deadline_ns_out);
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| {
                let d = i.det.next_deadline().map_or(u64::MAX, Time::as_nanos);
                // SAFETY: non-NULL, valid per the contract.
                write_out(deadline_ns_out, d);
                trimtab_status::Ok
            })
        }
    })
}

/// Takes the oldest queued event: writes it to `*event_out` and true to `*has_event_out`,
/// or only false to `*has_event_out` when the queue is empty. Drain until empty after each
/// tick.
///
/// # Safety
/// `detector` must be NULL or a live handle; the out-pointers NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_poll_event(
    detector: *mut trimtab_partition,
    event_out: *mut trimtab_partition_event,
    has_event_out: *mut bool,
) -> trimtab_status {
    boundary(|| {
        check_null!(event_out, has_event_out);
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| {
                if i.flat.is_empty() {
                    if let Some(e) = i.det.poll_event() {
                        trimtab_partition_event::flatten(e, &mut i.flat);
                    }
                }
                match i.flat.pop_front() {
                    // SAFETY: non-NULL, valid per the contract.
                    Some(e) => {
                        write_out(event_out, e);
                        write_out(has_event_out, true);
                    }
                    // SAFETY: non-NULL, valid per the contract.
                    None => write_out(has_event_out, false),
                }
                trimtab_status::Ok
            })
        }
    })
}

/// Writes how many events were dropped because the queue was full.
///
/// # Safety
/// `detector` must be NULL or a live handle; `dropped_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_events_dropped(
    detector: *const trimtab_partition,
    dropped_out: *mut u64,
) -> trimtab_status {
    boundary(|| {
        check_null!(dropped_out);
        // SAFETY: forwarded contract; `dropped_out` non-NULL and valid.
        unsafe {
            with(detector, |i| {
                write_out(dropped_out, i.det.events_dropped());
                trimtab_status::Ok
            })
        }
    })
}

/// Writes node `node`'s published mode (a registered node not yet published: SAFE_MODE).
/// NOT_FOUND if unknown.
///
/// # Safety
/// `detector` must be NULL or a live handle; `mode_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_node_mode(
    detector: *const trimtab_partition,
    node: u64,
    mode_out: *mut trimtab_partition_mode,
) -> trimtab_status {
    boundary(|| {
        check_null!(mode_out);
        // SAFETY: forwarded contract; `mode_out` non-NULL and valid.
        unsafe {
            with(detector, |i| match i.det.mode(node) {
                Ok(m) => {
                    write_out(mode_out, m.into());
                    trimtab_status::Ok
                }
                Err(e) => status_of_err(e),
            })
        }
    })
}

/// Writes whether node `node`'s component has a leader to `*has_leader_out`, and the leader
/// to `*leader_out` (0 when none). NOT_FOUND if the node is unknown.
///
/// # Safety
/// `detector` must be NULL or a live handle; the out-pointers NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_leader(
    detector: *const trimtab_partition,
    node: u64,
    has_leader_out: *mut bool,
    leader_out: *mut u64,
) -> trimtab_status {
    boundary(|| {
        check_null!(has_leader_out, leader_out);
        // SAFETY: forwarded contract; the out-pointers are non-NULL and valid.
        unsafe {
            with(detector, |i| match i.det.leader_of(node) {
                Ok(l) => {
                    write_out(has_leader_out, l.is_some());
                    write_out(leader_out, l.unwrap_or(0));
                    trimtab_status::Ok
                }
                Err(e) => status_of_err(e),
            })
        }
    })
}

/// Writes the number of components in the published picture.
///
/// # Safety
/// `detector` must be NULL or a live handle; `count_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_component_count(
    detector: *const trimtab_partition,
    count_out: *mut usize,
) -> trimtab_status {
    boundary(|| {
        check_null!(count_out);
        // SAFETY: forwarded contract; `count_out` non-NULL and valid.
        unsafe {
            with(detector, |i| {
                write_out(count_out, i.det.component_count());
                trimtab_status::Ok
            })
        }
    })
}

/// Copies the published picture as JSON (NUL-terminated; fields `components` with each
/// component's members, mode, leader, partial pairs and max clique, `nodes` with each
/// node's mode) into `buf`. `len_out` (may be NULL) receives the length without the NUL;
/// a NULL or short `buf` gives BUFFER_TOO_SHORT with that length, so ask for it first.
///
/// # Safety
/// `detector` must be NULL or a live handle; `buf` NULL or valid for `cap` bytes;
/// `len_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_picture_json(
    detector: *const trimtab_partition,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| match serde_json::to_string(i.det.picture()) {
                // SAFETY: forwarded contract.
                Ok(text) => copy_text(&text, buf, cap, len_out),
                Err(e) => fail_with(trimtab_status::InvalidArgument, format!("cannot encode the picture: {e}")),
            })
        }
    })
}

/// Applies a batch of reports given as UTF-8 JSON (`len` bytes, no NUL needed): a list of
/// `{"node": id, "reaches": [ids], "votes": n, "priority": p}` (`votes` and `priority`
/// optional; when given they update the node), all made at `now_ns`. All or nothing:
/// INVALID_ARGUMENT for malformed JSON (the last error names the entry and field),
/// NOT_FOUND / PARTITION_UNKNOWN_PEER for unregistered nodes, and nothing is applied.
///
/// # Safety
/// `detector` must be NULL or a live handle; `json` valid for `len` reads.
#[no_mangle]
pub unsafe extern "C" fn trimtab_partition_report_json(
    detector: *mut trimtab_partition,
    json: *const c_char,
    len: usize,
    now_ns: u64,
) -> trimtab_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        let text = match unsafe { str_ref(json, len) } {
            Ok(t) => t,
            Err(s) => return s,
        };
        let entries = match parse_reports_json(text) {
            Ok(e) => e,
            Err(e) => return status_of_err(e),
        };
        // SAFETY: forwarded contract.
        unsafe {
            with(detector, |i| {
                i.det.report_batch(&entries, Time(now_ns)).map_or_else(status_of_err, |()| trimtab_status::Ok)
            })
        }
    })
}
