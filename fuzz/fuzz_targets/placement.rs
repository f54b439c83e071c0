//! Fuzzes the cluster map and placement with op sequences; see tests/support/placement_ops.rs.
#![no_main]

#[path = "../../tests/support/placement_ops.rs"]
mod placement_ops;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ec, ops) = placement_ops::decode(data);
    placement_ops::run(&ops, ec);
});
