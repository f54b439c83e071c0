//! Hints to the hardware: the one place where the crate asks the CPU for a line ahead of
//! need, or the kernel for huge pages under a large table.

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

/// A huge page on x86-64 and aarch64 with 4 KiB base pages.
#[cfg_attr(not(any(target_os = "linux", test)), allow(dead_code))]
const HUGE: usize = 2 << 20;

/// Asks the kernel to back the 2 MiB-aligned part of `v`'s buffer with huge pages (Linux's
/// `madvise(MADV_HUGEPAGE)`; elsewhere it does nothing).
///
/// For the tables of a million entries that one operation reads at a random place: with 4
/// KiB pages each such read also misses the TLB, and under a hypervisor that miss walks
/// two sets of page tables. A 64 MB table takes 32 huge pages, which the TLB holds. The
/// buffers are dense and live long, so a huge page costs no memory that 4 KiB pages would
/// not; at most the last 2 MiB of a buffer's capacity is backed before it is used.
///
/// It is advice: the kernel applies it only when transparent huge pages are `madvise` or
/// `always` (`/sys/kernel/mm/transparent_hugepage/enabled`), and a host that wants none
/// turns it off for its process with `prctl(PR_SET_THP_DISABLE)`. Its result is ignored: it
/// changes no memory and no result.
pub(crate) fn huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        let start = v.as_ptr() as usize;
        let end = start.saturating_add(v.capacity().saturating_mul(core::mem::size_of::<T>()));
        let lo = start.checked_next_multiple_of(HUGE).unwrap_or(usize::MAX);
        let hi = end & !(HUGE - 1);
        if hi > lo {
            // SAFETY: `lo..hi` lies within the allocation `v` owns (an empty or zero-sized
            // buffer gives an empty range), and MADV_HUGEPAGE changes neither the contents
            // nor the mapping's validity, only how the kernel backs it.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
            #[cfg(test)]
            tests::ADVICE.with(|n| n.set(n.get() + 1));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// Runs `f` on `v` (a push, a resize, a reserve) and, when `advise` and `f` gave `v` a new
/// buffer, asks for huge pages under it ([`huge_pages`]): the one way a table that wants
/// them grows, so that every buffer it ever has is advised, before its new room is touched
/// when `f` only reserves.
#[inline]
pub(crate) fn growing<T, R>(v: &mut Vec<T>, advise: bool, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
    let capacity = v.capacity();
    let r = f(v);
    if advise && v.capacity() != capacity {
        huge_pages(v);
    }
    r
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    std::thread_local! {
        /// Ranges advised by this thread: what a test can see of advice not taken, where the
        /// mapping's flags cannot tell (freed memory keeps its advice for the next owner).
        pub(crate) static ADVICE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// How many ranges this thread has advised so far.
    pub(crate) fn advice_given() -> usize {
        ADVICE.with(|n| n.get())
    }

    /// The flags of the mapping that holds `addr`, from `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split(' ').next().and_then(|r| r.split_once('-'));
            let parse =
                |(a, b): (&str, &str)| Some((usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?));
            if let Some((a, b)) = range.and_then(parse) {
                inside = (a..b).contains(&addr);
            } else if let Some(flags) = line.strip_prefix("VmFlags:").filter(|_| inside) {
                return Some(flags.trim().to_string());
            }
        }
        None
    }

    /// Whether the mapping at `addr` was advised to use huge pages; `None` where that cannot
    /// be seen (not Linux, or a kernel without transparent huge pages).
    pub(crate) fn advised_at(addr: usize) -> Option<bool> {
        #[cfg(target_os = "linux")]
        if std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            let flags = vm_flags(addr).expect("the address is mapped");
            return Some(flags.split(' ').any(|f| f == "hg"));
        }
        let _ = addr;
        None
    }

    /// [`advised_at`] for the first 2 MiB boundary in `v`'s buffer (which must hold one).
    pub(crate) fn advised<T>(v: &Vec<T>) -> Option<bool> {
        let start = v.as_ptr() as usize;
        let lo = start.next_multiple_of(HUGE);
        assert!(lo + HUGE <= start + v.capacity() * core::mem::size_of::<T>(), "the buffer holds an aligned 2 MiB");
        advised_at(lo)
    }

    #[test]
    fn a_large_buffer_is_advised_and_a_small_one_left_alone() {
        let big: Vec<u64> = Vec::with_capacity(3 * HUGE / 8);
        assert_ne!(advised(&big), Some(true), "not before the advice");
        huge_pages(&big);
        assert_ne!(advised(&big), Some(false), "advised");
        // The part before the first 2 MiB boundary keeps its pages.
        let head = big.as_ptr() as usize;
        if head < head.next_multiple_of(HUGE) {
            assert_ne!(advised_at(head), Some(true), "the head is left alone");
        }
        // A buffer under 2 MiB holds no aligned 2 MiB and is left alone.
        let small: Vec<u64> = Vec::with_capacity(HUGE / 16);
        huge_pages(&small);
        assert_ne!(advised_at(small.as_ptr() as usize), Some(true), "the small buffer is left alone");
    }

    #[test]
    fn empty_and_zero_sized_buffers_take_no_advice() {
        huge_pages(&Vec::<u64>::new());
        huge_pages(&Vec::<()>::with_capacity(1 << 30));
        growing(&mut Vec::<u8>::new(), true, |_| ());
    }
}
