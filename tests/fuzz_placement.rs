//! The placement fuzz target's driver under proptest, so that CI (stable Rust, no
//! cargo-fuzz) runs the same op sequences' invariants on every change.

#[path = "support/placement_ops.rs"]
mod placement_ops;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_op_sequences_keep_the_invariants(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (ec, ops) = placement_ops::decode(&bytes);
        placement_ops::run(&ops, ec);
    }
}
