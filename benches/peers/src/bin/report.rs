//! `placement-report`: trimtab side by side with Ceph's CRUSH (through `crush-sys`) and
//! the flat consistent-hashing crates, on the same maps and PGs. Prints the quality
//! figures (balance, movement) and quick timings; the criterion benchmark
//! (`cargo bench --manifest-path benches/peers/Cargo.toml`) gives the careful timings.
//!
//! Run: `cargo run --release --manifest-path benches/peers/Cargo.toml --bin placement-report`
//! (`-- --quick` skips the 10,000-node flat case and the 10,000-device tree).

use trimtab_peers::story::{self, FlatRow, TreeFigures};
use trimtab_peers::{TREE_10K, TREE_1K};

fn tree_table(f: &TreeFigures) {
    let c = f.case;
    println!(
        "\n## Tree root → {} racks × {} hosts × {} devices ({} devices), {} PGs × 3 replicas across racks",
        c.racks,
        c.hosts,
        c.devices,
        c.device_count(),
        c.pgs
    );
    println!("\n| figure | Ceph CRUSH (crush-sys) | trimtab | ours/peer |");
    println!("|---|---|---|---|");
    println!(
        "| one PG's 3 replicas from scratch | {:.0} ns (workspace init per call, as Ceph) / {:.0} ns (init once) | {:.0} ns (`compute_pg`) | {:.3} / {:.3} |",
        f.crush_ns,
        f.crush_noinit_ns,
        f.trimtab_compute_ns,
        f.trimtab_compute_ns / f.crush_ns,
        f.trimtab_compute_ns / f.crush_noinit_ns
    );
    println!(
        "| PG → 3 devices, running cluster | {:.0} ns (CRUSH recomputes) | {:.1} ns (table read) | {:.4} |",
        f.crush_ns,
        f.trimtab_read_ns,
        f.trimtab_read_ns / f.crush_ns
    );
    println!("| object name → 3 devices | — | {:.1} ns | |", f.trimtab_object_ns);
    println!(
        "| max/mean shards per device | {:.3} | {:.3} hashing only; {:.3} balanced (min/mean {:.3}) | {:.3} (balanced) |",
        f.crush_max,
        f.trimtab_base_max,
        f.trimtab_balanced_max,
        f.trimtab_balanced_min,
        f.trimtab_balanced_max / f.crush_max
    );
    println!("| balancer to convergence from hashing | — | {:.2} s, {} moves | |", f.balance_secs, f.balance_moves);
    println!(
        "| host of {} devices added to rack0: moved/optimal (optimal {:.5}) | {:.3} ({:.0}% of moves land on old devices) | {:.3} Pin + balance, every move counted; {:.3} net; {:.3} hashing only (Rehash, {:.0}% to old devices); max/mean after {:.3} | {:.3} |",
        c.devices,
        f.host_optimal,
        f.crush_host.over_optimal,
        f.crush_host.to_old_devices * 100.0,
        f.trimtab_host_all,
        f.trimtab_host_net.over_optimal,
        f.trimtab_rehash_host.over_optimal,
        f.trimtab_rehash_host.to_old_devices * 100.0,
        f.trimtab_host_max,
        f.trimtab_host_all / f.crush_host.over_optimal
    );
    println!(
        "| one device out: moved/optimal (optimal {:.6}) | {:.3} | {:.3} Pin + balance, every move counted; {:.3} net; {:.3} Rehash; max/mean after {:.3} | {:.3} |",
        f.out_optimal,
        f.crush_out.over_optimal,
        f.trimtab_out_all,
        f.trimtab_out_net.over_optimal,
        f.trimtab_rehash_out.over_optimal,
        f.trimtab_out_max,
        f.trimtab_out_all / f.crush_out.over_optimal
    );
    let shards = c.pgs as f64 * 3.0;
    let budget = 64.0 * c.device_count() as f64 + 16.0 * shards;
    println!(
        "| memory (`Placement::memory_bytes`, balanced) | — | {} B ({:.1} B per placed shard, all included) against the budget 64 B/device + 16 B/shard = {:.0} B: {:.0}% | |",
        f.memory_bytes,
        f.memory_bytes as f64 / shards,
        budget,
        100.0 * f.memory_bytes as f64 / budget
    );
}

fn flat_table(n: usize, rows: &[FlatRow]) {
    println!("\n## Flat weighted selection over {n} nodes (100 keys per node; one node added)");
    let ours = rows.iter().find(|r| r.name.starts_with("trimtab, balanced"));
    println!(
        "\n| who | ns/lookup | ours/peer ns | max/mean | ours/peer max/mean | moved/optimal | ours/peer moved | note |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if !r.name.starts_with("trimtab") => format!("{:.3}", a / b),
            _ => String::new(),
        };
        println!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.ns,
            ratio(ours.map(|o| o.ns), Some(r.ns)),
            fmt(r.max_over_mean),
            ratio(ours.and_then(|o| o.max_over_mean), r.max_over_mean),
            fmt(r.moved_over_optimal),
            ratio(ours.and_then(|o| o.moved_over_optimal), r.moved_over_optimal),
            r.note
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    println!("# trimtab placement vs peers (one core, release build)");
    let f = story::tree(TREE_1K, 200_000);
    tree_table(&f);
    if !quick {
        let f = story::tree(TREE_10K, 100_000);
        tree_table(&f);
    }
    let sizes: &[usize] = if quick { &[100, 1000] } else { &[100, 1000, 10_000] };
    for &n in sizes {
        let rows = story::flat(n);
        flat_table(n, &rows);
    }
}
