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
        const HUGE: usize = 2 << 20;
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
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// [`huge_pages`] for `v` if its buffer moved or grew since it had `capacity` places.
#[inline]
pub(crate) fn huge_pages_if_grown<T>(v: &Vec<T>, capacity: usize) {
    if v.capacity() != capacity {
        huge_pages(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags of the mapping that holds `addr`, from `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split(' ').next().and_then(|r| r.split_once('-'));
            if let Some((a, b)) =
                range.and_then(|(a, b)| Some((usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?)))
            {
                inside = (a..b).contains(&addr);
            } else if let Some(flags) = line.strip_prefix("VmFlags:").filter(|_| inside) {
                return Some(flags.trim().to_string());
            }
        }
        None
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_buffer_is_advised_and_a_small_one_left_alone() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            return; // a kernel without huge pages takes no advice
        }
        const HUGE: usize = 2 << 20;
        let big: Vec<u64> = Vec::with_capacity(3 * HUGE / 8);
        huge_pages(&big);
        let lo = (big.as_ptr() as usize).next_multiple_of(HUGE);
        let flags = vm_flags(lo).expect("the buffer's mapping is in smaps");
        assert!(flags.split(' ').any(|f| f == "hg"), "advised: {flags}");
        // The part before the first 2 MiB boundary keeps its pages.
        let head = big.as_ptr() as usize;
        if head < lo {
            let flags = vm_flags(head).expect("the buffer's head is in smaps");
            assert!(!flags.split(' ').any(|f| f == "hg"), "head: {flags}");
        }
        // A buffer under 2 MiB holds no aligned 2 MiB and is left alone.
        let small: Vec<u64> = Vec::with_capacity(HUGE / 16);
        huge_pages(&small);
        let flags = vm_flags(small.as_ptr() as usize).expect("the small buffer's mapping is in smaps");
        assert!(!flags.split(' ').any(|f| f == "hg"), "small: {flags}");
    }

    #[test]
    fn empty_and_zero_sized_buffers_take_no_advice() {
        huge_pages(&Vec::<u64>::new());
        huge_pages(&Vec::<()>::with_capacity(1 << 30));
        huge_pages_if_grown(&Vec::<u8>::new(), 0);
    }
}
