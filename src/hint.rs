//! Cache hints: the one place where the crate asks the CPU for a line ahead of need.

#![allow(unsafe_code)]

/// Asks the CPU to bring the cache line that holds `r` in, for a read soon. It changes no
/// memory and no result; on targets without a stable prefetch it does nothing.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: a prefetch cannot fault and has no effect that the program can see; `r` is a
    // live reference in any case.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(r as *const T as *const i8)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = r;
}
