//! Bit-matrix helpers: rows of `u64` words, bit `j` of row `i` at word `j / 64`, bit `j % 64`.

#![forbid(unsafe_code)]

/// Words needed for `n` bits.
#[inline]
pub(crate) const fn words(n: usize) -> usize {
    n.div_ceil(64)
}

/// Whether bit `i` is set.
#[inline]
pub(crate) fn get(row: &[u64], i: usize) -> bool {
    row.get(i >> 6).is_some_and(|w| (w >> (i & 63)) & 1 == 1)
}

/// Sets bit `i` (ignored when out of range).
#[inline]
pub(crate) fn set(row: &mut [u64], i: usize) {
    if let Some(w) = row.get_mut(i >> 6) {
        *w |= 1u64 << (i & 63);
    }
}

/// Clears bit `i` (ignored when out of range).
#[inline]
pub(crate) fn clear(row: &mut [u64], i: usize) {
    if let Some(w) = row.get_mut(i >> 6) {
        *w &= !(1u64 << (i & 63));
    }
}

/// Indices of the set bits, ascending, offset by `base_word * 64`.
pub(crate) fn ones(row: &[u64], base_word: usize) -> impl Iterator<Item = usize> + '_ {
    row.iter().enumerate().flat_map(move |(wi, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            if w == 0 {
                return None;
            }
            let b = w.trailing_zeros() as usize;
            w &= w - 1;
            Some((base_word + wi) * 64 + b)
        })
    })
}

/// The lowest set bit, if any.
#[inline]
pub(crate) fn first(row: &[u64]) -> Option<usize> {
    row.iter().position(|&w| w != 0).map(|wi| wi * 64 + row[wi].trailing_zeros() as usize)
}

/// Number of set bits.
#[cfg_attr(not(test), allow(dead_code))]
#[inline]
pub(crate) fn count(row: &[u64]) -> usize {
    row.iter().map(|w| w.count_ones() as usize).sum()
}

/// Transposes a 64x64 bit block in place: afterwards bit `c` of word `r` is the old bit `r`
/// of word `c` (the recursive block-swap of Hacker's Delight, section 7-3, widened to 64).
pub(crate) fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32usize;
    let mut m: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0usize;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Writes the transpose of the `n x n` matrix `src` (row stride `w` words) into `dst`
/// (same shape; every word of its first `n` rows is written), 64x64 blocks at a time:
/// O(n^2 / 64) word operations instead of O(n^2) bit operations. Blocks are taken eight
/// block-rows at a time so that each destination cache line (eight words) is written
/// whole while it is hot, instead of once per sweep of the matrix.
pub(crate) fn transpose(src: &[u64], dst: &mut [u64], n: usize, w: usize) {
    const GROUP: usize = 8;
    let blocks = words(n);
    let mut block = [0u64; 64];
    for row in 0..n {
        for x in &mut dst[row * w + blocks..(row + 1) * w] {
            *x = 0;
        }
    }
    for bi0 in (0..blocks).step_by(GROUP) {
        for bj in 0..blocks {
            for bi in bi0..(bi0 + GROUP).min(blocks) {
                for (r, slot) in block.iter_mut().enumerate() {
                    let row = bi * 64 + r;
                    *slot = if row < n { src[row * w + bj] } else { 0 };
                }
                transpose64(&mut block);
                for (r, &v) in block.iter().enumerate() {
                    let row = bj * 64 + r;
                    if row < n {
                        dst[row * w + bi] = v;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_matches_naive() {
        for n in [1usize, 5, 63, 64, 65, 130, 200] {
            let w = words(n) + 1; // a stride wider than needed must work too
            let mut src = vec![0u64; n * w];
            let mut x = 0x1234_5678_9abc_def0u64;
            for i in 0..n {
                for j in 0..n {
                    x = crate::hash::mix64(x.wrapping_add(1));
                    if x & 3 == 0 {
                        set(&mut src[i * w..(i + 1) * w], j);
                    }
                }
            }
            let mut dst = vec![0u64; n * w];
            transpose(&src, &mut dst, n, w);
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(get(&src[i * w..(i + 1) * w], j), get(&dst[j * w..(j + 1) * w], i), "n={n} ({i},{j})");
                }
            }
        }
    }

    #[test]
    fn ones_first_count() {
        let row = [0b1010u64, 1 << 63];
        assert_eq!(ones(&row, 0).collect::<Vec<_>>(), vec![1, 3, 127]);
        assert_eq!(ones(&row, 2).collect::<Vec<_>>(), vec![129, 131, 255]);
        assert_eq!(first(&row), Some(1));
        assert_eq!(first(&[0, 0]), None);
        assert_eq!(count(&row), 3);
        let mut r = [0u64; 2];
        set(&mut r, 70);
        assert!(get(&r, 70));
        clear(&mut r, 70);
        assert!(!get(&r, 70));
        set(&mut r, 500); // out of range: ignored
        assert!(!get(&r, 500));
    }
}
