//! Queues at 1,000,000 tasks side by side: trimtab's indexed heap and scheduler against
//! `priority-queue` 2 and `keyed_priority_queue` 0.4 (and `std` BinaryHeap for push/pop):
//! push, pop, cancel and re-prioritise, each measured in batches of 1,000 operations on a
//! queue kept at 1M (the scheduler's pop: the tick that starts the next tasks after the
//! whole running set completes, per task started, alone and with the completions); the
//! scheduler's re-prioritize and cancel again with its tables on 4 KiB pages
//! (`huge_pages: false`, what the huge pages are worth); bytes per queued task (counted by
//! a global allocator); an idle tick at 1k and at 1M queued tasks; and the makespan table
//! on synthetic plans.
//!
//! Run: cargo bench --manifest-path benches/peers/Cargo.toml --bench scheduler

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use trimtab::migration::sim::{simulate, synthetic_plan, SimConfig, Synthetic};
use trimtab::migration::{Event, IndexedHeap, MoveRequest, Scheduler, SchedulerConfig, TaskId};
use trimtab::Time;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static A: Counting = Counting;

const N: u32 = 1_000_000;
const BATCH: u32 = 1_000;

fn key(i: u64) -> u64 {
    trimtab::hash::mix64(i) >> 4
}

/// Times `iters` batches of `op` (1,000 operations each), with `undo` run untimed after each.
fn batched<S>(
    state: &mut S,
    iters: u64,
    mut op: impl FnMut(&mut S, u32),
    mut undo: impl FnMut(&mut S, u32),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut round = 0u32;
    for _ in 0..iters {
        let t = Instant::now();
        op(state, round);
        total += t.elapsed();
        undo(state, round);
        round = round.wrapping_add(1);
    }
    total / BATCH
}

/// An indexed priority queue over `u32` ids with `u64` keys: what the three queues compared
/// here have in common (one min-ordered, two max-ordered, which changes none of the rows).
trait Keyed {
    fn add(&mut self, id: u32, k: u64);
    fn take(&mut self) -> Option<(u32, u64)>;
    fn cancel(&mut self, id: u32) -> Option<u64>;
    fn rekey(&mut self, id: u32, k: u64);
}

impl Keyed for IndexedHeap<u64> {
    #[inline]
    fn add(&mut self, id: u32, k: u64) {
        self.push(id, k).unwrap();
    }
    #[inline]
    fn take(&mut self) -> Option<(u32, u64)> {
        self.pop()
    }
    #[inline]
    fn cancel(&mut self, id: u32) -> Option<u64> {
        self.remove(id)
    }
    #[inline]
    fn rekey(&mut self, id: u32, k: u64) {
        self.change_key(id, k);
    }
}

impl Keyed for priority_queue::PriorityQueue<u32, u64> {
    #[inline]
    fn add(&mut self, id: u32, k: u64) {
        self.push(id, k);
    }
    #[inline]
    fn take(&mut self) -> Option<(u32, u64)> {
        self.pop()
    }
    #[inline]
    fn cancel(&mut self, id: u32) -> Option<u64> {
        self.remove(&id).map(|e| e.1)
    }
    #[inline]
    fn rekey(&mut self, id: u32, k: u64) {
        self.change_priority(&id, k);
    }
}

impl Keyed for keyed_priority_queue::KeyedPriorityQueue<u32, u64> {
    #[inline]
    fn add(&mut self, id: u32, k: u64) {
        self.push(id, k);
    }
    #[inline]
    fn take(&mut self) -> Option<(u32, u64)> {
        self.pop()
    }
    #[inline]
    fn cancel(&mut self, id: u32) -> Option<u64> {
        self.remove(&id)
    }
    #[inline]
    fn rekey(&mut self, id: u32, k: u64) {
        let _ = self.set_priority(&id, k);
    }
}

/// Fills `q` with 1M keys and times push, pop, cancel and re-prioritize on it, each in
/// batches of 1,000 undone untimed.
fn queue_rows<Q: Keyed>(
    g: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    name: &str,
    q: &mut Q,
    fresh: &mut u64,
) {
    for i in 0..N {
        q.add(i, key(i as u64));
    }
    g.bench_function(format!("{name} push"), |b| {
        b.iter_custom(|it| {
            batched(
                &mut *q,
                it,
                |q, r| {
                    for j in 0..BATCH {
                        q.add(N + j, key((r as u64) << 20 | j as u64));
                    }
                },
                |q, _| {
                    for j in 0..BATCH {
                        q.cancel(N + j);
                    }
                },
            )
        })
    });
    g.bench_function(format!("{name} pop"), |b| {
        b.iter_custom(|it| {
            let mut st = (&mut *q, Vec::with_capacity(BATCH as usize));
            batched(
                &mut st,
                it,
                |(q, popped), _| {
                    for _ in 0..BATCH {
                        popped.push(black_box(q.take()).unwrap());
                    }
                },
                |(q, popped), _| {
                    for (id, k) in popped.drain(..) {
                        q.add(id, k);
                    }
                },
            )
        })
    });
    g.bench_function(format!("{name} cancel"), |b| {
        b.iter_custom(|it| {
            let mut st = (&mut *q, Vec::with_capacity(BATCH as usize));
            batched(
                &mut st,
                it,
                |(q, removed), r| {
                    for j in 0..BATCH {
                        let id = (key((r as u64) << 20 | j as u64) % N as u64) as u32;
                        if let Some(k) = q.cancel(id) {
                            removed.push((id, k));
                        }
                    }
                },
                |(q, removed), _| {
                    for (id, k) in removed.drain(..) {
                        q.add(id, k);
                    }
                },
            )
        })
    });
    g.bench_function(format!("{name} re-prioritize"), |b| {
        b.iter_custom(|it| {
            batched(
                &mut *q,
                it,
                |q, _| {
                    for _ in 0..BATCH {
                        *fresh += 1;
                        let x = key(*fresh);
                        q.rekey((x % N as u64) as u32, x >> 8);
                    }
                },
                |_, _| {},
            )
        })
    });
}

fn heaps(c: &mut Criterion) {
    // A fresh (id, key) for every re-prioritisation, across samples too: a repeated one
    // would change nothing.
    let mut fresh = 1u64 << 40;
    let mut g = c.benchmark_group("queue at 1M");
    g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500)).sample_size(20);

    // --- trimtab IndexedHeap, priority-queue, keyed_priority_queue: the same four rows ---
    let mut h = IndexedHeap::with_capacity(N + BATCH);
    queue_rows(&mut g, "trimtab IndexedHeap", &mut h, &mut fresh);
    drop(h);
    let mut pq = priority_queue::PriorityQueue::<u32, u64>::with_capacity((N + BATCH) as usize);
    queue_rows(&mut g, "priority-queue", &mut pq, &mut fresh);
    drop(pq);
    let mut kq = keyed_priority_queue::KeyedPriorityQueue::<u32, u64>::with_capacity((N + BATCH) as usize);
    queue_rows(&mut g, "keyed_priority_queue", &mut kq, &mut fresh);
    drop(kq);

    // --- std BinaryHeap (push and pop only: it cannot cancel or re-prioritize) ---
    let mut bh = std::collections::BinaryHeap::with_capacity((N + BATCH) as usize);
    for i in 0..N {
        bh.push((key(i as u64), i));
    }
    g.bench_function("std BinaryHeap push", |b| {
        b.iter_custom(|it| {
            let mut r0 = 0u64;
            let mut tot = Duration::ZERO;
            for _ in 0..it {
                let t = Instant::now();
                for j in 0..BATCH {
                    bh.push((key(r0 << 20 | j as u64), N + j));
                }
                tot += t.elapsed();
                r0 += 1;
                for _ in 0..BATCH {
                    bh.pop();
                }
            }
            tot / BATCH
        })
    });
    g.bench_function("std BinaryHeap pop", |b| {
        b.iter_custom(|it| {
            let mut st = (&mut bh, Vec::with_capacity(BATCH as usize));
            batched(
                &mut st,
                it,
                |(q, popped), _| {
                    for _ in 0..BATCH {
                        popped.push(black_box(q.pop()).unwrap());
                    }
                },
                |(q, popped), _| {
                    for e in popped.drain(..) {
                        q.push(e);
                    }
                },
            )
        })
    });
    drop(bh);
    g.finish();
}

/// The move for PG `i` of the 1M plan (64 nodes, random pairs, priorities 1..=10).
fn plan_req(i: u32) -> MoveRequest {
    let h = trimtab::hash::mix64(i as u64);
    let from = (h % 64) as u32;
    let to = (from + 1 + ((h >> 8) % 63) as u32) % 64;
    let mut r = MoveRequest::new(i, 0, (from, 0), (to, 0), 1 << 30);
    r.priority = 1 + ((h >> 20) % 10) as u8;
    r
}

fn plan_1m(n: u32) -> impl Iterator<Item = MoveRequest> {
    (0..n).map(plan_req)
}

/// The re-prioritize and cancel rows on `s`, whose tasks `ids` holds (a cancelled task is
/// pushed again, untimed, so that the queue stays at 1M); `k` walks `ids`.
fn rekey_rows(
    g: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    s: &mut Scheduler,
    ids: &mut [TaskId],
    k: &mut usize,
    suffix: &str,
) {
    let mut fresh = 0u64;
    // Re-prioritize and cancel: the ids a batch works on are gathered before it is timed
    // (from the 8 MB id array, in the queue's random order), as the peers compute theirs:
    // the timed loop holds the scheduler's work, not the benchmark's own cache miss.
    let gather = |ids: &[TaskId], k: &mut usize, out: &mut Vec<(usize, TaskId)>| {
        out.clear();
        for _ in 0..BATCH {
            *k = (*k + 7919) % ids.len();
            out.push((*k, ids[*k]));
        }
    };
    let mut batch = Vec::with_capacity(BATCH as usize);
    g.bench_function(format!("trimtab scheduler re-prioritize{suffix}"), |b| {
        b.iter_custom(|it| {
            gather(ids, k, &mut batch);
            let mut st = (&mut *s, &mut batch);
            batched(
                &mut st,
                it,
                |(s, batch), _| {
                    for &(_, id) in batch.iter() {
                        // A fresh random priority each time (one in ten is the task's own).
                        fresh += 1;
                        let p = 1 + (key(fresh) % 10) as u8;
                        s.set_priority(id, p, Time::ZERO).unwrap();
                    }
                },
                |(_, batch), _| gather(ids, k, batch),
            )
        })
    });
    // Cancel one call a task, and the same through cancel_many, a batch of 1,000 a call.
    let mut many: Vec<TaskId> = Vec::with_capacity(BATCH as usize);
    for (row, in_batches) in [("cancel", false), ("cancel_many, per task", true)] {
        g.bench_function(format!("trimtab scheduler {row}{suffix}"), |b| {
            b.iter_custom(|it| {
                gather(ids, k, &mut batch);
                many.clear();
                many.extend(batch.iter().map(|&(_, id)| id));
                let mut st = (&mut *s, (&mut *ids, &mut batch, &mut many));
                batched(
                    &mut st,
                    it,
                    |(s, (_, batch, many)), _| {
                        if in_batches {
                            s.cancel_many(many, Time::ZERO).unwrap();
                        } else {
                            for &(_, id) in batch.iter() {
                                s.cancel(id, Time::ZERO).unwrap();
                            }
                        }
                    },
                    |(s, (ids, batch, many)), _| {
                        for &(k, _) in batch.iter() {
                            // The same move as the plan's: the queue keeps its shape.
                            ids[k] = s.push(plan_req(k as u32), Time::ZERO).unwrap();
                        }
                        while s.poll_event().is_some() {}
                        gather(ids, k, batch);
                        many.clear();
                        many.extend(batch.iter().map(|&(_, id)| id));
                    },
                )
            })
        });
    }
}

fn scheduler(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduler at 1M");
    g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500)).sample_size(20);
    let cfg = SchedulerConfig { max_tasks: 2_000_000, ..SchedulerConfig::default() };

    let before = LIVE.load(Ordering::Relaxed);
    let mut s = Scheduler::new(cfg, Time::ZERO).unwrap();
    s.reserve_tasks(N as usize + BATCH as usize);
    let mut ids: Vec<TaskId> = s.push_plan(plan_1m(N), Time::ZERO).unwrap();
    let bytes = LIVE.load(Ordering::Relaxed) - before - ids.capacity() * 8;
    println!("trimtab scheduler: {:.1} bytes per queued task at 1M (allocator count)", bytes as f64 / N as f64);

    let mut pg = 10_000_000u32;
    g.bench_function("trimtab scheduler push", |b| {
        b.iter_custom(|it| {
            let mut st = (&mut s, Vec::with_capacity(BATCH as usize));
            batched(
                &mut st,
                it,
                |(s, fresh), _| {
                    for _ in 0..BATCH {
                        let h = trimtab::hash::mix64(pg as u64);
                        let from = (h % 64) as u32;
                        let mut r = MoveRequest::new(pg, 0, (from, 0), ((from + 1) % 64, 0), 1 << 30);
                        r.priority = 1 + ((h >> 20) % 10) as u8;
                        fresh.push(s.push(r, Time::ZERO).unwrap());
                        pg += 1;
                    }
                },
                |(s, fresh), _| {
                    for id in fresh.drain(..) {
                        s.cancel(id, Time::ZERO).unwrap();
                    }
                },
            )
        })
    });
    while s.poll_event().is_some() {}
    let mut k = 0usize;
    rekey_rows(&mut g, &mut s, &mut ids, &mut k, "");

    // An idle tick (nothing changed since the last one) at 1M and at 1k queued tasks: both
    // have the same running set (every node's slots full), so only the grants loop runs.
    let mut t = 1u64;
    s.tick(Time(0));
    while s.poll_event().is_some() {}
    while s.poll_grant().is_some() {}
    g.bench_function("trimtab scheduler idle tick, 1M queued", |b| {
        b.iter(|| {
            t += 1;
            s.tick(Time(t));
        })
    });

    // Pop: the cost of starting one task out of the 1M queue, as a host sees it. Every
    // running task (the whole running set: 64 nodes x 4 slots) is reported complete, the
    // scheduler ticks a second later (so that the throttle refilled) and the freed slots
    // admit the next tasks in queue order; the host drains the events and grants. Three
    // rows of the same rounds: the completions and the tick together, per task started; the
    // tick alone (admission, then the grants to the new running set) and the draining, per
    // task started (the pop); the completions alone, per task completed. Untimed: the
    // completed PGs are pushed again, so that the queue stays at 1M.
    let mut now = Time::from_secs(1);
    for (name, part) in [
        ("trimtab scheduler pop (complete + tick, per task started)", 0),
        ("trimtab scheduler pop (tick, per task started)", 1),
        ("trimtab scheduler complete (per task, running set of 256)", 2),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|it| {
                let (mut total, mut count) = (Duration::ZERO, 0u64);
                for _ in 0..it {
                    let running = s.running_ids();
                    let pgs: Vec<u32> = running.iter().map(|&id| s.task(id).unwrap().pg).collect();
                    now = Time(now.0 + 1_000_000_000);
                    let t = Instant::now();
                    for &id in &running {
                        s.report_complete(id, now).unwrap();
                    }
                    let completed = t.elapsed();
                    let t = Instant::now();
                    s.tick(now);
                    let mut started = 0u64;
                    while let Some(e) = s.poll_event() {
                        started += matches!(e, Event::Started { .. }) as u64;
                    }
                    while s.poll_grant().is_some() {}
                    let ticked = t.elapsed();
                    match part {
                        0 => (total, count) = (total + completed + ticked, count + started),
                        1 => (total, count) = (total + ticked, count + started),
                        _ => (total, count) = (total + completed, count + running.len() as u64),
                    }
                    for pg in pgs {
                        ids[pg as usize] = s.push(plan_req(pg), now).unwrap();
                    }
                    while s.poll_event().is_some() {}
                }
                Duration::from_nanos((total.as_nanos() * it as u128 / count.max(1) as u128) as u64)
            })
        });
    }
    // The same count after every row above, so after tens of thousands of pop rounds: what
    // the queue holds once the plan's tasks are gone and every pair's queue has turned over.
    println!(
        "trimtab scheduler: {:.1} bytes per queued task at 1M after the rows above (allocator count)",
        (LIVE.load(Ordering::Relaxed) - before - ids.capacity() * 8) as f64 / N as f64
    );
    drop(s);
    // The same queue without huge pages under its tables (as on a host that turned them
    // off): what the TLB misses of 4 KiB pages cost the two rows that read at random.
    let mut s = Scheduler::new(SchedulerConfig { huge_pages: false, ..cfg }, Time::ZERO).unwrap();
    s.reserve_tasks(N as usize + BATCH as usize);
    let mut ids: Vec<TaskId> = s.push_plan(plan_1m(N), Time::ZERO).unwrap();
    while s.poll_event().is_some() {}
    rekey_rows(&mut g, &mut s, &mut ids, &mut k, " (4 KiB pages)");
    drop(s);
    let mut small = Scheduler::new(cfg, Time::ZERO).unwrap();
    small.push_plan(plan_1m(1_000), Time::ZERO).unwrap();
    small.tick(Time(0));
    while small.poll_event().is_some() {}
    while small.poll_grant().is_some() {}
    g.bench_function("trimtab scheduler idle tick, 1k queued", |b| {
        b.iter(|| {
            t += 1;
            small.tick(Time(t));
        })
    });
    g.finish();

    // Memory of the peers at 1M, by the same allocator count.
    let before = LIVE.load(Ordering::Relaxed);
    let mut pq = priority_queue::PriorityQueue::<u32, u64>::new();
    for i in 0..N {
        pq.push(i, key(i as u64));
    }
    println!("priority-queue: {:.1} bytes per entry at 1M", (LIVE.load(Ordering::Relaxed) - before) as f64 / N as f64);
    drop(pq);
    let before = LIVE.load(Ordering::Relaxed);
    let mut kq = keyed_priority_queue::KeyedPriorityQueue::<u32, u64>::new();
    for i in 0..N {
        kq.push(i, key(i as u64));
    }
    println!(
        "keyed_priority_queue: {:.1} bytes per entry at 1M",
        (LIVE.load(Ordering::Relaxed) - before) as f64 / N as f64
    );
    drop(kq);
    let before = LIVE.load(Ordering::Relaxed);
    let mut h = IndexedHeap::with_capacity(N);
    for i in 0..N {
        h.push(i, key(i as u64));
    }
    println!(
        "trimtab IndexedHeap: {:.1} bytes per entry at 1M",
        (LIVE.load(Ordering::Relaxed) - before) as f64 / N as f64
    );
}

fn makespan(_c: &mut Criterion) {
    println!("\nmakespan on synthetic plans (64 nodes, 100 MiB/s per node each way, shards ~256 MiB),");
    println!("trimtab (critical-path first) against plain greedy list scheduling (same scheduler, ties by order):");
    println!(
        "{:<14} {:>3} {:>7} {:>6} {:>11} {:>10} {:>8} {:>8} {:>6}",
        "plan", "K", "chunk", "tasks", "lower_bd_s", "makespan", "ratio", "greedy", "peak"
    );
    for kind in Synthetic::ALL {
        let plan = synthetic_plan(kind, 64, 256 << 20, 1);
        for (k, chunk, label) in [(1, 64u64 << 20, "64MiB"), (4, 64 << 20, "64MiB"), (4, u64::MAX / 4, "none")] {
            let cfg = SimConfig { max_moves_per_node: k, chunk_bytes: chunk, ..SimConfig::default() };
            let r = simulate(&plan, &cfg).unwrap();
            let g = simulate(&plan, &SimConfig { critical_first: false, ..cfg }).unwrap();
            println!(
                "{:<14} {:>3} {:>7} {:>6} {:>11.1} {:>10.1} {:>8.4} {:>8.4} {:>6.3}",
                kind.name(),
                k,
                label,
                r.tasks,
                r.lower_bound_s,
                r.makespan_s,
                r.ratio,
                g.ratio,
                r.peak_rate_over_limit
            );
        }
    }
}

criterion_group!(benches, makespan, heaps, scheduler);
criterion_main!(benches);
