//! Fuzz the migration scheduler: arbitrary pushes, ticks, progress, failures, cancels,
//! re-prioritisations, policy and rate changes, with a host that copies what it is granted;
//! invariants (caps, counts, bytes, one terminal event per task) after every op, and at the
//! end every task ends exactly once with every slot back. The proptest twin is
//! `tests/migration_ops.rs`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/sched_driver.rs"]
mod driver;

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    Push { pg: u8, shard: u8, from: u8, to: u8, bytes: u32, kind: u8, priority: u8 },
    PushPlan { pg: u8, count: u8, from: u8, to: u8, priority: u8 },
    Tick { dt_ms: u16 },
    Advance { dt_ms: u16, back: bool },
    Cancel { n: u16 },
    CancelMany { n: u16, count: u8, step: u8 },
    SetPriority { n: u16, priority: u8 },
    Progress { n: u16, permille: u16 },
    Overreport { n: u16 },
    Fail { n: u16, reason: u8 },
    Complete { n: u16 },
    SetPolicy { p: u8 },
    SetRate { node: u8, rate: u32 },
}

impl From<FuzzOp> for driver::Op {
    fn from(o: FuzzOp) -> driver::Op {
        use driver::Op;
        match o {
            FuzzOp::Push { pg, shard, from, to, bytes, kind, priority } => Op::Push { pg, shard, from, to, bytes, kind, priority },
            FuzzOp::PushPlan { pg, count, from, to, priority } => Op::PushPlan { pg, count, from, to, priority },
            FuzzOp::Tick { dt_ms } => Op::Tick { dt_ms: dt_ms % 1000 },
            FuzzOp::Advance { dt_ms, back } => Op::Advance { dt_ms, back },
            FuzzOp::Cancel { n } => Op::Cancel { n },
            FuzzOp::CancelMany { n, count, step } => Op::CancelMany { n, count, step },
            FuzzOp::SetPriority { n, priority } => Op::SetPriority { n, priority },
            FuzzOp::Progress { n, permille } => Op::Progress { n, permille: permille % 1001 },
            FuzzOp::Overreport { n } => Op::Overreport { n },
            FuzzOp::Fail { n, reason } => Op::Fail { n, reason },
            FuzzOp::Complete { n } => Op::Complete { n },
            FuzzOp::SetPolicy { p } => Op::SetPolicy { p },
            FuzzOp::SetRate { node, rate } => Op::SetRate { node, rate },
        }
    }
}

fuzz_target!(|ops: Vec<FuzzOp>| {
    let mut d = driver::Driver::new();
    for o in ops.into_iter().take(1000) {
        d.apply(&o.into());
    }
    d.finish();
});
