//! Fuzzes the partition detector with op sequences (add, remove, report, time passing,
//! tick, votes, priorities) and checks its invariants after every op, with the same driver
//! as the proptest twin in `tests/partition_props.rs`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/partition_ops.rs"]
mod partition_ops;

use partition_ops::{Driver, Op};

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    Add { id: u8, votes: u8, priority: u8 },
    Remove { id: u8 },
    Report { node: u8, reaches: u16, large: bool },
    Advance { ms: u16 },
    Tick,
    SetVotes { id: u8, votes: u8 },
    SetPriority { id: u8, priority: u8 },
}

impl From<&FuzzOp> for Op {
    fn from(o: &FuzzOp) -> Op {
        match *o {
            FuzzOp::Add {
                id,
                votes,
                priority,
            } => Op::Add {
                id,
                votes,
                priority,
            },
            FuzzOp::Remove { id } => Op::Remove { id },
            FuzzOp::Report {
                node,
                reaches,
                large,
            } => Op::Report {
                node,
                reaches,
                large,
            },
            FuzzOp::Advance { ms } => Op::Advance { ms },
            FuzzOp::Tick => Op::Tick,
            FuzzOp::SetVotes { id, votes } => Op::SetVotes { id, votes },
            FuzzOp::SetPriority { id, priority } => Op::SetPriority { id, priority },
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    config: u8,
    ops: Vec<FuzzOp>,
}

fuzz_target!(|input: Input| {
    let mut d = Driver::new(input.config);
    for op in input.ops.iter().take(256) {
        d.apply(&Op::from(op));
    }
});
