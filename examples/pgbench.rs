//! Computes 20,000 PGs' base mappings on 10,000 devices; run under
//! `valgrind --tool=callgrind` to count instructions per PG deterministically.
use trimtab::placement::{compute_pg, Placement, Rule};
use trimtab::topology::regular_cluster;
fn main() {
    let t = regular_cluster(&["rack", "host"], &[10, 50], 20, 4_000_000_000_000).unwrap();
    let p = Placement::compute(&t, &Rule::replicated(3, "rack"), 1).unwrap();
    let p2 = Placement::compute(&t, &Rule::replicated(3, "rack"), 20_000).unwrap();
    let mut buf = [0u32; 3];
    let mut acc = 0u64;
    for pg in 0..20_000 {
        compute_pg(&p2, pg, &mut buf).unwrap();
        acc += buf[0] as u64;
    }
    println!("{acc} {}", p.pg_count());
}
