//! The scheduler's fuzz driver run as a property test (the twin of
//! `fuzz/fuzz_targets/scheduler.rs`), so that CI on stable exercises it: random op
//! sequences, invariants after every op, and at the end every pushed task ended in exactly
//! one of completed, failed, cancelled or superseded, with every slot and token back.

mod support {
    pub mod sched_driver;
}

use proptest::prelude::*;
use support::sched_driver::{Driver, Op};

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u32>(), any::<u8>(), any::<u8>())
            .prop_map(|(pg, shard, from, to, bytes, kind, priority)| Op::Push { pg, shard, from, to, bytes, kind, priority }),
        1 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(pg, count, from, to, priority)| Op::PushPlan { pg, count, from, to, priority }),
        4 => (0u16..500).prop_map(|dt_ms| Op::Tick { dt_ms }),
        1 => (0u16..2000, any::<bool>()).prop_map(|(dt_ms, back)| Op::Advance { dt_ms, back }),
        1 => any::<u16>().prop_map(|n| Op::Cancel { n }),
        1 => (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(n, count, step)| Op::CancelMany { n, count, step }),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(n, priority)| Op::SetPriority { n, priority }),
        5 => (any::<u16>(), 0u16..1001).prop_map(|(n, permille)| Op::Progress { n, permille }),
        1 => any::<u16>().prop_map(|n| Op::Overreport { n }),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(n, reason)| Op::Fail { n, reason }),
        1 => any::<u16>().prop_map(|n| Op::Complete { n }),
        1 => any::<u8>().prop_map(|p| Op::SetPolicy { p }),
        1 => (any::<u8>(), any::<u32>()).prop_map(|(node, rate)| Op::SetRate { node, rate }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_task_ends_once_and_caps_hold(ops in proptest::collection::vec(op(), 1..200)) {
        let mut d = Driver::new();
        for o in &ops {
            d.apply(o);
        }
        d.finish();
    }
}

/// A long host-like run: progress always reported in full, so that everything completes.
#[test]
fn a_cooperative_host_completes_everything() {
    let mut d = Driver::new();
    for i in 0..30u8 {
        d.apply(&Op::Push {
            pg: i,
            shard: 0,
            from: i,
            to: i.wrapping_mul(7).wrapping_add(1),
            bytes: 1000 + i as u32 * 300,
            kind: i % 4,
            priority: 1 + i % 10,
        });
    }
    for _ in 0..2000 {
        d.apply(&Op::Tick { dt_ms: 100 });
        for n in 0..30 {
            d.apply(&Op::Progress { n, permille: 1000 });
        }
        if d.s.status().queued + d.s.status().running == 0 {
            break;
        }
    }
    let st = d.s.status();
    assert_eq!(st.completed + st.superseded, 30, "{st:?}");
    d.finish();
}
