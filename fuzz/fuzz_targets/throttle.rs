//! Fuzz the throttle: arbitrary op sequences (checks, pieces, reservations, rate changes,
//! load reports, time going back and forth) with the bucket bounds checked after every op.
//! The proptest twin is `tests/throttle_properties.rs`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/throttle_driver.rs"]
mod driver;

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    Advance { dt_us: u32, back: bool },
    Try { a: u8, b: u8, bytes: u32 },
    UpTo { a: u8, b: u8, bytes: u32 },
    Reserve { a: u8, b: u8, bytes: u32 },
    SetRate { a: u8, rate: u32 },
    Load { a: u8, cpu: u8 },
}

impl From<FuzzOp> for driver::Op {
    fn from(o: FuzzOp) -> driver::Op {
        use driver::Op;
        match o {
            FuzzOp::Advance { dt_us, back } => Op::Advance { dt_us: dt_us % 5_000_000, back },
            FuzzOp::Try { a, b, bytes } => Op::Try { a, b, bytes },
            FuzzOp::UpTo { a, b, bytes } => Op::UpTo { a, b, bytes },
            FuzzOp::Reserve { a, b, bytes } => Op::Reserve { a, b, bytes },
            FuzzOp::SetRate { a, rate } => Op::SetRate { a, rate },
            FuzzOp::Load { a, cpu } => Op::Load { a, cpu: cpu % 121 },
        }
    }
}

fuzz_target!(|ops: Vec<FuzzOp>| {
    let mut d = driver::Driver::new();
    for o in ops.into_iter().take(1000) {
        d.apply(&o.into());
    }
});
