//! Fuzzes the C ABI with op sequences; see tests/support/ffi_ops.rs.
#![no_main]

#[path = "../../tests/support/ffi_ops.rs"]
mod ffi_ops;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ffi_ops::run(&ffi_ops::decode(data));
});
