//! Byte sizes and rates as operators write them: `4096`, `64MiB`, `1.5G`, `100MiB/s`.

/// Parses a byte count: a number with an optional K/M/G/T (powers of 1000) or
/// KiB/MiB/GiB/TiB (powers of 1024) suffix, an optional trailing `B`, and for rates `/s`.
pub fn parse_bytes(flag: &str, text: &str) -> Result<u64, String> {
    let t = text.trim().trim_end_matches("/s").trim_end_matches("ps");
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{flag} {text:?}: not a number"))?;
    let mult: f64 = match unit.trim().trim_end_matches(['B', 'b']).to_ascii_lowercase().as_str() {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        "ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("{flag} {text:?}: unknown unit {other:?} (use K, M, G, T or KiB, MiB, GiB, TiB)")),
    };
    let v = n * mult;
    if !v.is_finite() || !(1.0..=1e18).contains(&v) {
        return Err(format!("{flag} {text:?}: out of range (1 byte to 10^18)"));
    }
    Ok(v.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn units() {
        assert_eq!(parse_bytes("x", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("x", "64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("x", "100MiB/s").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("x", "1.5G").unwrap(), 1_500_000_000);
        assert_eq!(parse_bytes("x", "10Gbps").unwrap(), 10_000_000_000);
        assert!(parse_bytes("x", "lots").is_err());
        assert!(parse_bytes("x", "5 parsecs").is_err());
        assert!(parse_bytes("x", "0").is_err());
    }
}
