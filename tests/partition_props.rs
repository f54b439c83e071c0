//! Property tests of the partition detector: the fuzz target's op-sequence driver under
//! proptest (at most one component serves, one leader per component, a serving leader is
//! viable, incremental == from scratch, the same reports give the same answer whatever
//! their order), plus random graphs checked against a brute-force reference.

mod support {
    pub mod partition_ops;
}

use proptest::prelude::*;
use support::partition_ops::{check_picture, Driver, Op};
use trimtab::partition::{Mode, NodeSpec, PartitionConfig, PartitionDetector, TieBreaker};
use trimtab::Time;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..40, any::<u8>(), any::<u8>()).prop_map(|(id, votes, priority)| Op::Add { id, votes, priority }),
        1 => (0u8..40).prop_map(|id| Op::Remove { id }),
        6 => (0u8..40, any::<u16>(), prop::bool::weighted(0.1)).prop_map(|(node, reaches, large)| Op::Report { node, reaches, large }),
        2 => (0u16..3000).prop_map(|ms| Op::Advance { ms }),
        3 => Just(Op::Tick),
        1 => (0u8..40, any::<u8>()).prop_map(|(id, votes)| Op::SetVotes { id, votes }),
        1 => (0u8..40, any::<u8>()).prop_map(|(id, priority)| Op::SetPriority { id, priority }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn op_sequences_keep_the_invariants(sel in any::<u8>(), ops in prop::collection::vec(op(), 1..80)) {
        let mut d = Driver::new(sel);
        for o in &ops {
            d.apply(o);
        }
    }

    /// Random symmetric graphs on up to 9 nodes: quorum, viability and the maximum clique
    /// agree with brute force.
    #[test]
    fn random_graphs_match_brute_force(n in 1u64..=9, edges in any::<u64>(), tie in 0u8..3, weights in any::<u32>()) {
        let tie_breaker = [TieBreaker::LowestId, TieBreaker::None, TieBreaker::Node(2)][tie as usize];
        let cfg = PartitionConfig { stability_window_ns: 0, tie_breaker, ..PartitionConfig::default() };
        let mut d = PartitionDetector::new(cfg).unwrap();
        let votes = |i: u64| u64::from((weights >> (2 * i)) & 3);
        for i in 1..=n {
            d.add_node(i, NodeSpec::with_votes(votes(i) as u32)).unwrap();
        }
        let bit = |a: u64, b: u64| {
            let (a, b) = (a.min(b), a.max(b));
            (edges >> (((a - 1) * 9 + (b - 1)) % 64)) & 1 == 1
        };
        for a in 1..=n {
            let peers: Vec<u64> = (1..=n).filter(|&b| b != a && bit(a, b)).collect();
            d.report(a, &peers, Time::from_secs(1)).unwrap();
        }
        d.tick(Time::from_secs(1));
        let p = d.picture().clone();
        check_picture(&p);
        let total: u64 = (1..=n).map(votes).sum();
        let tb = match tie_breaker {
            TieBreaker::LowestId => (1..=n).find(|&i| votes(i) > 0),
            TieBreaker::Node(x) if x <= n => Some(x),
            _ => None,
        };
        let quorum = |set: &[u64]| {
            let v: u64 = set.iter().map(|&i| votes(i)).sum();
            v > 0 && (2 * v > total || (2 * v == total && tb.is_some_and(|t| set.contains(&t))))
        };
        for c in &p.components {
            prop_assert_eq!(c.has_quorum, quorum(&c.members));
            // Brute-force maximum clique size.
            let m = &c.members;
            let best = (0u32..1 << m.len())
                .filter(|s| (0..m.len()).all(|i| (0..m.len()).all(|j| i == j || s & (1 << i) == 0 || s & (1 << j) == 0 || bit(m[i], m[j]))))
                .map(|s| s.count_ones())
                .max()
                .unwrap_or(0);
            prop_assert!(c.max_clique_exact);
            prop_assert_eq!(c.max_clique.len() as u32, best);
            // The leader: the lowest-id voter whose closed neighbourhood has quorum, else the
            // lowest-id voter.
            let voters: Vec<u64> = m.iter().copied().filter(|&i| votes(i) > 0).collect();
            let viable = |x: u64| {
                let nb: Vec<u64> = m.iter().copied().filter(|&y| y == x || bit(x, y)).collect();
                quorum(&nb)
            };
            let want = if c.has_quorum { voters.iter().copied().find(|&x| viable(x)) } else { None };
            prop_assert_eq!(c.leader, want.or(voters.first().copied()));
            prop_assert_eq!(c.leader_viable, want.is_some());
            let serving = c.has_quorum && want.is_some();
            prop_assert_eq!(c.mode == Mode::Serving, serving);
        }
    }
}
