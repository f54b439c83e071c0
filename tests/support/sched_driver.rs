//! An op-sequence driver for the migration scheduler, shared by the proptest twin
//! (`tests/migration_ops.rs`) and the fuzz target (`fuzz/fuzz_targets/scheduler.rs`). It
//! applies each op, plays a host that copies what it is granted, and checks the invariants
//! after every op: caps never exceeded, counts and bytes consistent, every task ends in
//! exactly one terminal event, progress never beyond what was granted.

#![allow(dead_code)]

use std::collections::BTreeMap;
use trimtab::migration::{Event, MigrationError, MoveRequest, Policy, Scheduler, SchedulerConfig, TaskId, TaskKind};
use trimtab::throttle::Limit;
use trimtab::Time;

/// One step of a run.
#[derive(Debug, Clone)]
pub enum Op {
    /// Queue a move (nodes and pg are taken modulo small ranges so that they collide).
    Push { pg: u8, shard: u8, from: u8, to: u8, bytes: u32, kind: u8, priority: u8 },
    /// Queue `count % 8` moves in one plan: PGs from `pg` on, one node pair, one priority
    /// (a plan may supersede queued tasks, or stop at the capacity with its first moves in).
    PushPlan { pg: u8, count: u8, from: u8, to: u8, priority: u8 },
    /// Time passes, then tick.
    Tick { dt_ms: u16 },
    /// Time passes without a tick (or goes backwards when `back`).
    Advance { dt_ms: u16, back: bool },
    /// Cancel the n-th pushed task.
    Cancel { n: u16 },
    /// Cancel `count % 6` pushed tasks in one batch, from the n-th on, every `step % 3 + 1`
    /// (a batch may name a finished task or one twice, and is then refused whole).
    CancelMany { n: u16, count: u8, step: u8 },
    /// Re-prioritise the n-th pushed task.
    SetPriority { n: u16, priority: u8 },
    /// The host copies part of what it was granted to the n-th task (per mille of it).
    Progress { n: u16, permille: u16 },
    /// Report more than granted (must be refused and change nothing).
    Overreport { n: u16 },
    /// The n-th task fails.
    Fail { n: u16, reason: u8 },
    /// The n-th task completes (if running and fully granted).
    Complete { n: u16 },
    /// Switch policy.
    SetPolicy { p: u8 },
    /// Change a node's rate.
    SetRate { node: u8, rate: u32 },
}

/// What the host remembers of each task.
#[derive(Debug, Default, Clone)]
struct HostTask {
    granted: u64,
    done: u64,
    terminal: u32,
}

/// The driver.
pub struct Driver {
    pub s: Scheduler,
    now: u64,
    ids: Vec<TaskId>,
    host: BTreeMap<TaskId, HostTask>,
    pub events: u64,
}

impl Driver {
    pub fn new() -> Driver {
        let cfg = SchedulerConfig {
            node_out: Limit::new(10_000, 2_000),
            node_in: Limit::new(10_000, 2_000),
            max_out_per_node: 2,
            max_in_per_node: 2,
            max_running: 5,
            max_tasks: 40,
            max_events: 10_000,
            chunk_bytes: 3_000,
            max_retries: 2,
            backoff_base_ns: 50_000_000,
            backoff_max_ns: 400_000_000,
            starvation_guard_ns: 2_000_000_000,
            ..SchedulerConfig::default()
        };
        Driver {
            s: Scheduler::new(cfg, Time::ZERO).unwrap(),
            now: 0,
            ids: Vec::new(),
            host: BTreeMap::new(),
            events: 0,
        }
    }

    fn nth(&self, n: u16) -> Option<TaskId> {
        if self.ids.is_empty() {
            None
        } else {
            Some(self.ids[n as usize % self.ids.len()])
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.s.poll_event() {
            self.events += 1;
            let term = match e {
                Event::Completed { id } | Event::Cancelled { id } | Event::Superseded { id, .. } => Some(id),
                Event::Failed { id, .. } => Some(id),
                Event::Retrying { id, .. } => {
                    let h = self.host.get_mut(&id).expect("retrying an unknown task");
                    h.granted = 0;
                    h.done = 0;
                    None
                }
                Event::Started { id } => {
                    assert!(self.host.contains_key(&id), "started an unknown task");
                    None
                }
            };
            if let Some(id) = term {
                let h = self.host.get_mut(&id).expect("terminal event for an unknown task");
                h.terminal += 1;
                assert_eq!(h.terminal, 1, "two terminal events for {id:?}");
            }
        }
        while let Some(g) = self.s.poll_grant() {
            let h = self.host.get_mut(&g.id).expect("grant for an unknown task");
            assert_eq!(h.terminal, 0, "grant for a finished task");
            h.granted += g.bytes;
            let (done, granted, bytes) = self.s.progress(g.id).unwrap();
            assert!(granted <= bytes && done <= granted);
        }
    }

    pub fn apply(&mut self, op: &Op) {
        let now = Time(self.now);
        match *op {
            Op::Push { pg, shard, from, to, bytes, kind, priority } => {
                let mut r = MoveRequest::new(
                    (pg % 24) as u32,
                    shard % 3,
                    ((from % 5) as u32, 0),
                    ((to % 5) as u32, 1),
                    bytes as u64 % 20_000,
                );
                r.kind = TaskKind::from_u8(kind % 5).unwrap_or(TaskKind::Rebalance);
                r.priority = priority % 12;
                let before = self.s.status();
                match self.s.push(r, now) {
                    Ok(id) => {
                        self.ids.push(id);
                        self.host.insert(id, HostTask::default());
                    }
                    Err(MigrationError::InvalidArgument(_)) | Err(MigrationError::CapacityExceeded { .. }) => {
                        assert_eq!(self.s.status(), before, "a refused push changed the state");
                    }
                    Err(e) => panic!("unexpected push error {e}"),
                }
            }
            Op::PushPlan { pg, count, from, to, priority } => {
                let plan: Vec<MoveRequest> = (0..count % 8)
                    .map(|i| {
                        let mut r = MoveRequest::new(
                            (pg as u32 + i as u32) % 24,
                            i % 3,
                            ((from % 5) as u32, 0),
                            ((to % 5) as u32, 1),
                            1000 + 700 * i as u64,
                        );
                        r.priority = 1 + priority % 10;
                        r
                    })
                    .collect();
                let n = plan.len();
                let ids = match self.s.push_plan(plan, now) {
                    Ok(ids) => ids,
                    Err((ids, MigrationError::CapacityExceeded { .. })) => ids,
                    Err((_, e)) => panic!("unexpected plan error {e}"),
                };
                assert!(ids.len() <= n);
                for id in ids {
                    self.ids.push(id);
                    self.host.insert(id, HostTask::default());
                }
            }
            Op::Tick { dt_ms } => {
                self.now += dt_ms as u64 * 1_000_000;
                self.s.tick(Time(self.now));
            }
            Op::Advance { dt_ms, back } => {
                if back {
                    self.s.tick(Time(self.now.saturating_sub(dt_ms as u64 * 1_000_000)));
                } else {
                    self.now += dt_ms as u64 * 1_000_000;
                }
            }
            Op::Cancel { n } => {
                if let Some(id) = self.nth(n) {
                    let live = self.host[&id].terminal == 0;
                    assert_eq!(self.s.cancel(id, now).is_ok(), live);
                }
            }
            Op::CancelMany { n, count, step } => {
                if !self.ids.is_empty() {
                    let batch: Vec<TaskId> = (0..(count % 6) as usize)
                        .map(|i| self.ids[(n as usize + i * (step % 3 + 1) as usize) % self.ids.len()])
                        .collect();
                    let mut seen = std::collections::BTreeSet::new();
                    let ok = batch.iter().all(|id| self.host[id].terminal == 0 && seen.insert(*id));
                    let before = self.s.status();
                    match self.s.cancel_many(&batch, now) {
                        Ok(k) => {
                            assert!(ok, "a batch naming a finished task or one twice was taken");
                            assert_eq!(k, batch.len());
                        }
                        Err(e) => {
                            assert!(!ok, "a valid batch refused: {e}");
                            assert_eq!(self.s.status(), before, "a refused batch changed the state");
                        }
                    }
                }
            }
            Op::SetPriority { n, priority } => {
                if let Some(id) = self.nth(n) {
                    let _ = self.s.set_priority(id, priority % 12, now);
                }
            }
            Op::Progress { n, permille } => {
                if let Some(id) = self.nth(n) {
                    let h = self.host[&id].clone();
                    if h.terminal == 0 {
                        let target = h.done + (h.granted - h.done) * (permille as u64 % 1001) / 1000;
                        match self.s.report_progress(id, target, now) {
                            Ok(()) => self.host.get_mut(&id).unwrap().done = target,
                            Err(MigrationError::NotRunning(_)) => {}
                            Err(e) => panic!("progress within the grant refused: {e}"),
                        }
                    }
                }
            }
            Op::Overreport { n } => {
                if let Some(id) = self.nth(n) {
                    let h = self.host[&id].clone();
                    if h.terminal == 0 {
                        let before = self.s.progress(id).unwrap();
                        assert!(self.s.report_progress(id, h.granted + 1, now).is_err());
                        assert_eq!(self.s.progress(id).unwrap(), before);
                    }
                }
            }
            Op::Fail { n, reason } => {
                if let Some(id) = self.nth(n) {
                    if self.s.report_failure(id, reason as u32, now).is_ok() {
                        let h = self.host.get_mut(&id).unwrap();
                        h.done = 0;
                        h.granted = 0;
                    }
                }
            }
            Op::Complete { n } => {
                if let Some(id) = self.nth(n) {
                    let _ = self.s.report_complete(id, now);
                }
            }
            Op::SetPolicy { p } => self.s.set_policy(Policy::from_u8(p % 3).unwrap()),
            Op::SetRate { node, rate } => {
                let node = (node % 6) as u32;
                let l = Limit::new(rate as u64 % 50_000, 2_000);
                let r = self.s.set_node_limits(node, l, l, now);
                if l.rate == 0 {
                    assert!(r.is_err());
                }
            }
        }
        self.drain();
        self.s.check_invariants().unwrap();
        for node in self.s.node_ids() {
            let (o, i) = self.s.node_running(node).unwrap();
            assert!(o <= 2 && i <= 2, "cap exceeded on node {node}");
        }
    }

    /// Cancels whatever is left and checks that every pushed task ended exactly once and
    /// every slot came back.
    pub fn finish(&mut self) {
        let now = Time(self.now);
        for id in self.ids.clone() {
            if self.host[&id].terminal == 0 {
                self.s.cancel(id, now).unwrap();
            }
        }
        self.drain();
        for (id, h) in &self.host {
            assert_eq!(h.terminal, 1, "{id:?} did not end exactly once");
        }
        let st = self.s.status();
        assert_eq!((st.queued, st.running, st.backoff, st.bytes_left), (0, 0, 0, 0));
        for node in self.s.node_ids() {
            assert_eq!(self.s.node_running(node).unwrap(), (0, 0));
        }
        self.s.check_invariants().unwrap();
    }
}
