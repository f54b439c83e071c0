//! Profiling driver for the migration scheduler at 1,000,000 queued tasks, built to be run
//! under callgrind (deterministic instruction and cache-miss counts), under `perf` and on
//! its own (wall clock). The same operations as the `scheduler at 1M` criterion group in
//! `benches/peers/benches/scheduler.rs`: batches of 1,000 pushes (undone by cancels),
//! re-prioritisations and cancels (undone by pushes), pops after the whole running set
//! completes (a tick starts the next tasks; undone by pushing the completed PGs again, one
//! round per four of the others) and pops when one task completes at a time. Only the
//! measured halves run inside the `measure_*` functions, so that
//!
//! ```text
//! cargo build --release --example sched_profile
//! valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no \
//!     --toggle-collect='sched_profile::measure_burst' target/release/examples/sched_profile 50
//! callgrind_annotate callgrind.out.<pid> | head -40
//! ```
//!
//! counts only the measured operations (`measure_push`, `measure_reprioritize`,
//! `measure_cancel`, `measure_burst`, `measure_one`; divide by `rounds × 1000` per phase,
//! and the pops by the tasks started, printed). A second argument (`push`, `reprioritize`,
//! `cancel`, `cancel_many` or `pop`, or several joined by commas) runs those phases alone, for `perf
//! record`; `POP_ROUNDS` sets the number of pop rounds (a quarter of the others by default), and
//! `POP_WINDOW` prints the pop figure per window of that many rounds.

use std::time::{Duration, Instant};
use trimtab::migration::{Event, MoveRequest, Scheduler, SchedulerConfig, TaskId};
use trimtab::Time;

const N: u32 = 1_000_000;
const BATCH: u32 = 1_000;

fn plan(n: u32) -> impl Iterator<Item = MoveRequest> {
    (0..n).map(|i| {
        let h = trimtab::hash::mix64(i as u64);
        let from = (h % 64) as u32;
        let to = (from + 1 + ((h >> 8) % 63) as u32) % 64;
        let mut r = MoveRequest::new(i, 0, (from, 0), (to, 0), 1 << 30);
        r.priority = 1 + ((h >> 20) % 10) as u8;
        r
    })
}

fn refill(k: usize) -> MoveRequest {
    let h = trimtab::hash::mix64(k as u64);
    let from = (h % 64) as u32;
    let mut r = MoveRequest::new(k as u32, 0, (from, 0), ((from + 1 + ((h >> 8) % 63) as u32) % 64, 0), 1 << 30);
    r.priority = 1 + ((h >> 20) % 10) as u8;
    r
}

#[inline(never)]
fn measure_push(s: &mut Scheduler, pg: &mut u32, fresh: &mut Vec<TaskId>) -> Duration {
    let t = Instant::now();
    for _ in 0..BATCH {
        let h = trimtab::hash::mix64(*pg as u64);
        let from = (h % 64) as u32;
        let mut r = MoveRequest::new(*pg, 0, (from, 0), ((from + 1) % 64, 0), 1 << 30);
        r.priority = 1 + ((h >> 20) % 10) as u8;
        fresh.push(s.push(r, Time::ZERO).unwrap());
        *pg += 1;
    }
    t.elapsed()
}

#[inline(never)]
fn measure_reprioritize(s: &mut Scheduler, batch: &[(usize, TaskId)], n: &mut u64) -> Duration {
    let t = Instant::now();
    for &(_, id) in batch {
        // A fresh random priority each time (one in ten is the task's own).
        *n += 1;
        s.set_priority(id, 1 + (trimtab::hash::mix64(*n) % 10) as u8, Time::ZERO).unwrap();
    }
    t.elapsed()
}

/// Cancels the batch's tasks, one call each or (`in_batch`) in one `cancel_many` call, whose
/// id list `many` is filled untimed.
#[inline(never)]
fn measure_cancel(s: &mut Scheduler, batch: &[(usize, TaskId)], many: &mut Vec<TaskId>, in_batch: bool) -> Duration {
    many.clear();
    many.extend(batch.iter().map(|&(_, id)| id));
    let t = Instant::now();
    if in_batch {
        s.cancel_many(many, Time::ZERO).unwrap();
    } else {
        for &(_, id) in batch {
            s.cancel(id, Time::ZERO).unwrap();
        }
    }
    t.elapsed()
}

/// The next batch of tasks to re-prioritize or cancel, in the queue's random order,
/// gathered untimed (as the criterion rows do).
fn gather(ids: &[TaskId], k: &mut usize, out: &mut Vec<(usize, TaskId)>) {
    out.clear();
    for _ in 0..BATCH {
        *k = (*k + 7919) % ids.len();
        out.push((*k, ids[*k]));
    }
}

/// One round of the pop row: every running task completes, a tick a second later admits
/// the next ones, the host drains. Returns the time and the number of tasks started.
#[inline(never)]
fn measure_pop(s: &mut Scheduler, running: &[TaskId], now: Time) -> (Duration, Duration, u64) {
    let t = Instant::now();
    for &id in running {
        s.report_complete(id, now).unwrap();
    }
    let completed = t.elapsed();
    let t = Instant::now();
    s.tick(now);
    let mut started = 0;
    while let Some(e) = s.poll_event() {
        started += matches!(e, Event::Started { .. }) as u64;
    }
    while s.poll_grant().is_some() {}
    (completed, t.elapsed(), started)
}

/// The pop row after the whole running set completes (a wrapper, so that callgrind can
/// count it apart from [`measure_one`]).
#[inline(never)]
fn measure_burst(s: &mut Scheduler, running: &[TaskId], now: Time) -> (Duration, Duration, u64) {
    measure_pop(s, running, now)
}

/// The pop row when one task completes at a time.
#[inline(never)]
fn measure_one(s: &mut Scheduler, id: TaskId, now: Time) -> (Duration, Duration, u64) {
    measure_pop(s, &[id], now)
}

fn main() {
    let rounds: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    // A second argument runs one phase only (`push`, `reprioritize`, `cancel`, `cancel_many`
    // or `pop`), for a sampling profiler.
    let only = std::env::args().nth(2);
    let run = |phase: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p == phase));
    let cfg = SchedulerConfig { max_tasks: 2_000_000, ..SchedulerConfig::default() };
    let mut s = Scheduler::new(cfg, Time::ZERO).unwrap();
    s.reserve_tasks(N as usize + BATCH as usize);
    let plan = plan(N);
    let t = Instant::now();
    let mut ids = s.push_plan(plan, Time::ZERO).unwrap();
    println!("push_plan     {:7.1} ns per task", t.elapsed().as_nanos() as f64 / N as f64);
    println!("{:.1} bytes per queued task (allocated_bytes)", s.allocated_bytes() as f64 / N as f64);

    let mut pg = 10_000_000u32;
    let mut fresh = Vec::with_capacity(BATCH as usize);
    let mut d = Duration::ZERO;
    for _ in 0..if run("push") { rounds } else { 0 } {
        d += measure_push(&mut s, &mut pg, &mut fresh);
        for id in fresh.drain(..) {
            s.cancel(id, Time::ZERO).unwrap();
        }
        while s.poll_event().is_some() {}
    }
    let ops = (rounds * BATCH) as f64;
    println!("push          {:7.1} ns", d.as_nanos() as f64 / ops);

    let (mut k, mut n) = (0usize, 0u64);
    let mut d = Duration::ZERO;
    let mut batch = Vec::with_capacity(BATCH as usize);
    for _ in 0..if run("reprioritize") { rounds } else { 0 } {
        gather(&ids, &mut k, &mut batch);
        d += measure_reprioritize(&mut s, &batch, &mut n);
    }
    println!("re-prioritize {:7.1} ns", d.as_nanos() as f64 / ops);

    // Cancel one call a task, then through cancel_many, a batch a call.
    let mut many = Vec::with_capacity(BATCH as usize);
    for (phase, in_batch) in [("cancel", false), ("cancel_many", true)] {
        let mut d = Duration::ZERO;
        for _ in 0..if run(phase) { rounds } else { 0 } {
            gather(&ids, &mut k, &mut batch);
            d += measure_cancel(&mut s, &batch, &mut many, in_batch);
            for &(k, _) in &batch {
                ids[k] = s.push(refill(k), Time::ZERO).unwrap();
            }
            while s.poll_event().is_some() {}
        }
        println!("{phase:<13} {:7.1} ns{}", d.as_nanos() as f64 / ops, if in_batch { " per task" } else { "" });
    }

    let mut now = Time::from_secs(1);
    s.tick(now);
    while s.poll_event().is_some() {}
    while s.poll_grant().is_some() {}
    let (mut dc, mut dt, mut started, mut completed) = (Duration::ZERO, Duration::ZERO, 0u64, 0u64);
    let pop_rounds = std::env::var("POP_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(rounds.div_ceil(4));
    // POP_WINDOW=K also prints the tick per task started over each K rounds: the figure
    // drifts once the plan's own tasks are gone (about 4,000 rounds in) and every task
    // waits past the starvation guard.
    let window: u32 = std::env::var("POP_WINDOW").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let (mut wt, mut ws) = (Duration::ZERO, 0u64);
    for round in 0..if run("pop") { pop_rounds } else { 0 } {
        if window > 0 && round > 0 && round % window == 0 {
            eprintln!("rounds to {round}: tick {:.1} ns per task started", wt.as_nanos() as f64 / ws.max(1) as f64);
            (wt, ws) = (Duration::ZERO, 0);
        }
        let running = s.running_ids();
        let pgs: Vec<u32> = running.iter().map(|&id| s.task(id).unwrap().pg).collect();
        now = Time(now.0 + 1_000_000_000);
        let (c, t, n) = measure_burst(&mut s, &running, now);
        (dc, dt) = (dc + c, dt + t);
        (wt, ws) = (wt + t, ws + n);
        started += n;
        completed += running.len() as u64;
        for pg in pgs {
            ids[pg as usize] = s.push(refill(pg as usize), now).unwrap();
        }
        while s.poll_event().is_some() {}
    }
    let per = |d: Duration, n: u64| d.as_nanos() as f64 / n.max(1) as f64;
    println!(
        "pop           {:7.1} ns per task started ({started} started): tick {:.1}, completions {:.1} per task",
        per(dc + dt, started),
        per(dt, started),
        per(dc, completed)
    );
    println!("{:.1} bytes per queued task after the pops (allocated_bytes)", s.allocated_bytes() as f64 / N as f64);

    // One at a time: a running task completes, a tick starts what its freed slots allow.
    let (mut d, mut started) = (Duration::ZERO, 0u64);
    for i in 0..if run("pop") && only.is_none() { rounds * 50 } else { 0 } {
        let running = s.running_ids();
        let id = running[trimtab::hash::mix64(i as u64) as usize % running.len()];
        let pg = s.task(id).unwrap().pg;
        now = Time(now.0 + 1_000_000);
        let (c, t, n) = measure_one(&mut s, id, now);
        d += c + t;
        started += n;
        ids[pg as usize] = s.push(refill(pg as usize), now).unwrap();
        while s.poll_event().is_some() {}
    }
    if started > 0 {
        println!(
            "pop, one by one {:5.1} ns per task started ({started} started)",
            d.as_nanos() as f64 / started as f64
        );
    }
    s.check_invariants().unwrap();
}
