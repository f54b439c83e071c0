//! An op-sequence driver for the throttle, shared by the proptest twin
//! (`tests/throttle_properties.rs`) and the fuzz target (`fuzz/fuzz_targets/throttle.rs`).
//! It keeps, per bucket, every byte admitted with the time it may go, and checks after every
//! op that no bucket ever let more than its burst plus its rate over the elapsed time pass,
//! and that a refused all-or-nothing check charged nothing.

#![allow(dead_code)]

use trimtab::throttle::{Limit, NodeRef, Throttle, ThrottleConfig, ThrottleError};
use trimtab::Time;

/// One step.
#[derive(Debug, Clone)]
pub enum Op {
    /// Time passes (or goes back when `back`).
    Advance { dt_us: u32, back: bool },
    /// All-or-nothing check of `bytes` from node `a` to node `b`.
    Try { a: u8, b: u8, bytes: u32 },
    /// Take what is there, at most `bytes`.
    UpTo { a: u8, b: u8, bytes: u32 },
    /// Reserve `bytes` against the future.
    Reserve { a: u8, b: u8, bytes: u32 },
    /// Change node `a`'s rates (a zero rate must be refused).
    SetRate { a: u8, rate: u32 },
    /// Report a load on node `a` (values over 100 are invalid).
    Load { a: u8, cpu: u8 },
}

const NODES: u32 = 3;

/// Per bucket: (rate segments as (from_ns, rate)), burst, admitted (at_ns, bytes).
struct Track {
    segs: Vec<(u64, u64)>,
    burst: u64,
    admitted: Vec<(u64, u64)>,
}

impl Track {
    fn allowance(&self, t: u64) -> u128 {
        // burst + ∫ rate over [0, t], in nano-bytes.
        let mut total: u128 = self.burst as u128 * 1_000_000_000;
        for (i, &(from, rate)) in self.segs.iter().enumerate() {
            if from >= t {
                break;
            }
            let to = self.segs.get(i + 1).map_or(t, |s| s.0.min(t));
            total += rate as u128 * (to - from) as u128;
        }
        total
    }
    /// Everything charged by `t` fits in the burst plus the rate over time, plus the debt
    /// still owed (bytes reserved ahead of time; after a rate cut a reservation keeps the
    /// time it was promised, so the debt is what may have gone early).
    fn check(&self, t: u64, debt: u128) {
        let used: u128 = self.admitted.iter().filter(|a| a.0 <= t).map(|a| a.1 as u128 * 1_000_000_000).sum();
        assert!(
            used <= self.allowance(t) + debt,
            "bucket passed {} nano-bytes by {t} ns, allowance {} + debt {debt}",
            used,
            self.allowance(t)
        );
    }
}

pub struct Driver {
    t: Throttle,
    now: u64,
    /// Index 0 global, then out/in per node.
    tracks: Vec<Track>,
}

impl Driver {
    pub fn new() -> Driver {
        let cfg = ThrottleConfig { global: Limit::new(5_000, 3_000), ..ThrottleConfig::default() };
        let mut t = Throttle::new(cfg, Time::ZERO).unwrap();
        let mut tracks = vec![Track { segs: vec![(0, 5_000)], burst: 3_000, admitted: vec![] }];
        for n in 0..NODES {
            let l = Limit::new(1_000 + n as u64 * 700, 1_500);
            t.add_node(n, l, l, Time::ZERO).unwrap();
            for _ in 0..2 {
                tracks.push(Track { segs: vec![(0, l.rate)], burst: 1_500, admitted: vec![] });
            }
        }
        Driver { t, now: 0, tracks }
    }

    fn admit(&mut self, a: u32, b: u32, at: u64, bytes: u64) {
        for i in [0usize, 1 + 2 * a as usize, 2 + 2 * b as usize] {
            self.tracks[i].admitted.push((at, bytes));
        }
    }

    fn balances(&self, a: u32, b: u32) -> (i128, i128, i128) {
        let (o, _) = self.t.node_buckets(NodeRef(a)).unwrap();
        let (_, i) = self.t.node_buckets(NodeRef(b)).unwrap();
        (self.t.global_bucket().balance_nanobytes(), o.balance_nanobytes(), i.balance_nanobytes())
    }

    pub fn apply(&mut self, op: &Op) {
        let now = Time(self.now);
        match *op {
            Op::Advance { dt_us, back } => {
                if back {
                    // An older time is the last one seen: nothing refills.
                    let _ = self.t.available(NodeRef(0), NodeRef(1), now);
                    let before = self.balances(0, 1);
                    let _ =
                        self.t.available(NodeRef(0), NodeRef(1), Time(self.now.saturating_sub(dt_us as u64 * 1000)));
                    assert_eq!(self.balances(0, 1), before);
                } else {
                    self.now += dt_us as u64 * 1000;
                }
            }
            Op::Try { a, b, bytes } => {
                let (a, b) = (a as u32 % NODES, b as u32 % NODES);
                let bytes = bytes as u64 % 4_000;
                // Bring the balances to `now` first, so the comparison sees only the charge.
                let _ = self.t.available(NodeRef(a), NodeRef(b), now);
                let before = self.balances(a, b);
                match self.t.try_acquire(NodeRef(a), NodeRef(b), bytes, now) {
                    Ok(true) => self.admit(a, b, self.now, bytes),
                    Ok(false) => assert_eq!(self.balances(a, b), before, "a refused check charged something"),
                    Err(ThrottleError::ExceedsBurst { .. }) => {
                        assert!(bytes > 1_500);
                        assert_eq!(self.balances(a, b), before);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::UpTo { a, b, bytes } => {
                let (a, b) = (a as u32 % NODES, b as u32 % NODES);
                let g = self.t.acquire_up_to(NodeRef(a), NodeRef(b), bytes as u64, now).unwrap();
                assert!(g <= bytes as u64);
                self.admit(a, b, self.now, g);
            }
            Op::Reserve { a, b, bytes } => {
                let (a, b) = (a as u32 % NODES, b as u32 % NODES);
                let bytes = bytes as u64 % 20_000;
                let at = self.t.reserve(NodeRef(a), NodeRef(b), bytes, now).unwrap();
                assert!(at >= now);
                // Charged now; the debt term of the check covers what goes later.
                self.admit(a, b, self.now, bytes);
            }
            Op::SetRate { a, rate } => {
                let a = a as u32 % NODES;
                let rate = rate as u64 % 5_000;
                let l = Limit::new(rate, 1_500);
                match self.t.set_node_limits(a, l, l, now) {
                    Ok(()) => {
                        assert!(rate > 0);
                        for i in [1 + 2 * a as usize, 2 + 2 * a as usize] {
                            self.tracks[i].segs.push((self.now, rate));
                        }
                    }
                    Err(_) => assert_eq!(rate, 0),
                }
            }
            Op::Load { a, cpu } => {
                let a = a as u32 % NODES;
                let m = trimtab::throttle::LoadMetrics {
                    cpu: cpu as f64 / 100.0,
                    memory: 0.1,
                    io_wait: 0.0,
                    client_latency_ms: -1.0,
                };
                let r = self.t.report_load(Some(a), m, now);
                assert_eq!(r.is_ok(), cpu <= 100);
                // The ceiling only lowers the effective rate below the configured one, so the
                // configured segments stay an upper bound; nothing to record.
            }
        }
        // Bring every bucket to `now` (a refill only) and check each against its track.
        let now = Time(self.now);
        for n in 0..NODES {
            let _ = self.t.available(NodeRef(n), NodeRef(n), now);
        }
        let debt = |b: i128| if b < 0 { (-b) as u128 } else { 0 };
        self.tracks[0].check(self.now, debt(self.t.global_bucket().balance_nanobytes()));
        for n in 0..NODES {
            let (o, i) = self.t.node_buckets(NodeRef(n)).unwrap();
            self.tracks[1 + 2 * n as usize].check(self.now, debt(o.balance_nanobytes()));
            self.tracks[2 + 2 * n as usize].check(self.now, debt(i.balance_nanobytes()));
        }
    }
}
