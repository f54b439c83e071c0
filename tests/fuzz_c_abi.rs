//! The C ABI fuzz target's driver under proptest (see tests/support/ffi_ops.rs).

#![allow(unsafe_code)]

#[path = "support/ffi_ops.rs"]
mod ffi_ops;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn careless_c_hosts_get_statuses_not_panics(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        ffi_ops::run(&ffi_ops::decode(&bytes));
    }
}
