//! Scenario tests for placement at about 100 shards per device: balance, movement on map
//! changes against the optimum, bytes balance with skewed PG sizes and mixed devices, drain,
//! the full ratio, the up set, and every kind of bad input.

use trimtab::hash::mix64;
use trimtab::placement::{BalancerConfig, Placement, PlacementError, Rule, UpdatePolicy};
use trimtab::topology::{regular_cluster, DeviceSpec, DeviceState, Topology, NO_DEVICE};

const TB: u64 = 1_000_000_000_000;

/// 1,000 devices: 10 racks x 10 hosts x 10 devices, 33,333 PGs x 3 = ~100 shards each.
fn cluster() -> (Topology, Rule, u32) {
    (regular_cluster(&["rack", "host"], &[10, 10], 10, 4 * TB).unwrap(), Rule::replicated(3, "rack"), 33_333)
}

fn balanced(t: &Topology, rule: &Rule, pgs: u32) -> Placement {
    let mut p = Placement::compute(t, rule, pgs).unwrap();
    let r = p.balance(t, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    assert!(r.moved_shards > 0);
    p
}

#[test]
fn balancer_reaches_one_pg_of_the_share() {
    let (t, rule, pgs) = cluster();
    let p0 = Placement::compute(&t, &rule, pgs).unwrap();
    let before = p0.report();
    // Hashing alone leaves devices far apart (CRUSH: 1.33 at this size).
    assert!(before.shards.max_over_mean > 1.15, "{before:?}");
    let p = balanced(&t, &rule, pgs);
    let r = p.report();
    assert!(r.shards.max_over_mean <= 1.02, "{r:?}");
    // Whole shards: at most ceil(share + 1), at least floor(share - 1).
    assert!(
        r.max_shards as f64 <= (r.mean_shards + 1.0).ceil() && r.min_shards as f64 >= (r.mean_shards - 1.0).floor(),
        "{r:?}"
    );
    assert_eq!(r.degraded_pgs, 0);
}

#[test]
fn adding_a_host_moves_near_the_optimum() {
    let (t, rule, pgs) = cluster();
    let p = balanced(&t, &rule, pgs);
    let mut t2 = t.clone();
    let specs =
        (0..10u32).map(|i| DeviceSpec::new(5000 + i, 4 * TB).at(&[("rack", "rack3"), ("host", "host-new")])).collect();
    t2.add_devices(specs).unwrap();
    let mut q = p.clone();
    let first = q.update(&t2, UpdatePolicy::Pin).unwrap();
    assert_eq!(first.moved_shards, 0, "nothing has to move when a host joins");
    q.balance(&t2, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    let plan = p.plan_to(&q).unwrap();
    assert!(plan.over_optimal() <= 1.10, "moved {} vs optimum {}", plan.moved_fraction, plan.optimal_fraction);
    assert!(q.report().shards.max_over_mean <= 1.02);
    // Every move lands on the new host.
    assert!(plan.moves.iter().all(|m| m.to >= 5000), "a move landed on an old device");
    // Rehashing the whole map (what plain CRUSH does) moves far more.
    let rehash =
        Placement::compute(&t, &rule, pgs).unwrap().plan_to(&Placement::compute(&t2, &rule, pgs).unwrap()).unwrap();
    assert!(rehash.over_optimal() > 1.3, "{}", rehash.over_optimal());
}

#[test]
fn marking_a_device_out_moves_its_shards_once() {
    let (t, rule, pgs) = cluster();
    let p = balanced(&t, &rule, pgs);
    let mut t2 = t.clone();
    t2.mark_out(437).unwrap();
    let mut q = p.clone();
    let first = q.update(&t2, UpdatePolicy::Pin).unwrap();
    assert!(first.moves.iter().all(|m| m.from == 437));
    q.balance(&t2, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    let plan = p.plan_to(&q).unwrap();
    assert!(plan.over_optimal() <= 1.02, "{} vs {}", plan.moved_fraction, plan.optimal_fraction);
    let r = q.report();
    assert!(r.shards.max_over_mean <= 1.02, "{r:?}");
    assert_eq!(r.stray_shards, 0);
}

#[test]
fn removing_a_rack_keeps_the_rule_and_the_balance() {
    let (t, rule, pgs) = cluster();
    let mut p = balanced(&t, &rule, pgs);
    let mut t2 = t.clone();
    let rack = t2.devices_in("rack", "rack7");
    t2.remove_devices(&rack).unwrap();
    let plan = p.update(&t2, UpdatePolicy::Pin).unwrap();
    assert!(plan.moves.iter().all(|m| rack.contains(&m.from)));
    p.balance(&t2, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    let r = p.report();
    assert_eq!(r.degraded_pgs, 0);
    assert!(r.shards.max_over_mean <= 1.02, "{r:?}");
    for pg in 0..pgs {
        let racks: Vec<&String> =
            p.pg_devices(pg).unwrap().iter().map(|&d| &t2.device(d).unwrap().location[0]).collect();
        assert!(racks[0] != racks[1] && racks[0] != racks[2] && racks[1] != racks[2]);
    }
}

#[test]
fn bytes_balance_with_skewed_pgs_and_mixed_devices() {
    // Devices of 2, 4 and 8 TB; PG sizes heavy-tailed (a few PGs 20x the median).
    let mut specs = Vec::new();
    for r in 0..8u32 {
        for h in 0..8u32 {
            for d in 0..4u32 {
                let id = r * 100 + h * 10 + d;
                let size = [2, 4, 8][((r + h + d) % 3) as usize] * TB;
                specs.push(DeviceSpec::new(id, size).at(&[("rack", &format!("r{r}")), ("host", &format!("h{r}-{h}"))]));
            }
        }
    }
    let t = Topology::from_devices(&["rack", "host"], specs).unwrap();
    let pgs = 8192u32;
    let mut p = Placement::compute(&t, &Rule::replicated(3, "rack"), pgs).unwrap();
    let sizes: Vec<u64> = (0..pgs)
        .map(|pg| {
            let u = (mix64(pg as u64 + 1) >> 11) as f64 / (1u64 << 53) as f64;
            // Pareto-like: median ~1 GiB, tail to ~40 GiB.
            ((1u64 << 30) as f64 / (1.0 - u * 0.975).powf(0.9)) as u64
        })
        .collect();
    p.set_pg_bytes(sizes).unwrap();
    let before = p.report().bytes.unwrap();
    let cfg = BalancerConfig { by_bytes: true, max_moves: 100_000, ..Default::default() };
    p.balance(&t, &cfg, 200).unwrap();
    let after = p.report().bytes.unwrap();
    assert!(after.max_over_mean <= 1.05, "before {before:?} after {after:?}");
    assert!(after.max_over_mean < before.max_over_mean);
}

#[test]
fn draining_moves_everything_off_and_nothing_on() {
    let (t, rule, pgs) = cluster();
    let mut p = balanced(&t, &rule, pgs);
    let mut t2 = t.clone();
    for id in t.devices_in("host", "host4-4") {
        t2.set_draining(id, true).unwrap();
    }
    let drained = t.devices_in("host", "host4-4");
    let plan = p.update(&t2, UpdatePolicy::Pin).unwrap();
    assert!(plan.moved_shards > 0);
    assert!(plan.moves.iter().all(|m| drained.contains(&m.from) && !drained.contains(&m.to)));
    p.balance(&t2, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    for pg in 0..pgs {
        assert!(p.pg_devices(pg).unwrap().iter().all(|d| !drained.contains(d)));
    }
}

#[test]
fn full_devices_receive_nothing_from_the_balancer() {
    let (mut t, rule, pgs) = cluster();
    // Half the devices of rack 0 are 95% full.
    let full: Vec<u32> = t.devices_in("rack", "rack0").into_iter().step_by(2).collect();
    for &id in &full {
        t.set_used_bytes(id, 38 * TB / 10).unwrap();
    }
    let mut p = Placement::compute(&t, &rule, pgs).unwrap();
    let plan = p.balance(&t, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    assert!(plan.moved_shards > 0);
    assert!(plan.moves.iter().all(|m| !full.contains(&m.to)), "a move landed on a full device");
}

#[test]
fn up_sets_skip_down_devices_as_the_mode_requires() {
    let mut t = regular_cluster(&["rack", "host"], &[6, 1], 1, TB).unwrap();
    let rep = Placement::compute(&t, &Rule::replicated(3, "rack"), 64).unwrap();
    let ec = Placement::compute(&t, &Rule::erasure(3, 2, "rack"), 64).unwrap();
    let victim = rep.pg_devices(0).unwrap()[0];
    t.mark_down(victim).unwrap();
    let up = rep.pg_up(0, &t).unwrap();
    assert_eq!(up.len(), 2);
    assert!(!up.contains(&victim));
    for pg in 0..64 {
        let row = ec.pg_devices(pg).unwrap();
        let up = ec.pg_up(pg, &t).unwrap();
        assert_eq!(up.len(), 5);
        for i in 0..5 {
            assert_eq!(up[i], if row[i] == victim { NO_DEVICE } else { row[i] });
        }
    }
    // Down is not out: the assignment itself does not change.
    let mut again = rep.clone();
    let plan = again.update(&t, UpdatePolicy::Pin).unwrap();
    assert_eq!(plan.moved_shards, 0);
}

#[test]
fn bad_input_is_rejected_and_changes_nothing() {
    let (t, rule, _) = cluster();
    let e = |r: Result<Placement, PlacementError>| r.err().unwrap();
    assert!(matches!(e(Placement::compute(&t, &Rule::replicated(3, "row"), 10)), PlacementError::UnknownLevel { .. }));
    assert!(matches!(e(Placement::compute(&t, &Rule::replicated(0, "rack"), 10)), PlacementError::InvalidRule(_)));
    assert!(matches!(e(Placement::compute(&t, &Rule::replicated(33, "rack"), 10)), PlacementError::InvalidRule(_)));
    assert!(matches!(e(Placement::compute(&t, &Rule::erasure(0, 2, "rack"), 10)), PlacementError::InvalidRule(_)));
    assert!(matches!(e(Placement::compute(&t, &rule, 0)), PlacementError::InvalidPgCount(0)));
    let mut p = Placement::compute(&t, &rule, 100).unwrap();
    let snapshot = p.to_snapshot();
    assert!(matches!(p.pg_devices(100), Err(PlacementError::UnknownPg { pg: 100, pgs: 100 })));
    assert!(matches!(p.set_pg_bytes(vec![1; 99]), Err(PlacementError::InvalidArgument(_))));
    for bad in [
        BalancerConfig { max_deviation: f64::NAN, ..Default::default() },
        BalancerConfig { max_deviation: -1.0, ..Default::default() },
        BalancerConfig { full_ratio: 0.0, ..Default::default() },
        BalancerConfig { full_ratio: f64::INFINITY, ..Default::default() },
    ] {
        assert!(matches!(p.balance_round(&t, &bad), Err(PlacementError::InvalidArgument(_))));
    }
    let mut t2 = t.clone();
    t2.mark_out(1).unwrap();
    assert!(matches!(p.balance_round(&t2, &BalancerConfig::default()), Err(PlacementError::StaleTopology { .. })));
    let other = Placement::compute(&t, &rule, 101).unwrap();
    assert!(matches!(p.plan_to(&other), Err(PlacementError::Mismatch(_))));
    let other = Placement::compute(&t, &Rule::replicated(2, "rack"), 100).unwrap();
    assert!(matches!(p.plan_to(&other), Err(PlacementError::Mismatch(_))));
    let wrong_level = Topology::from_devices(&["row"], vec![DeviceSpec::new(1, TB).at(&[("row", "a")])]).unwrap();
    assert!(p.update(&wrong_level, UpdatePolicy::Pin).is_err());
    // Snapshots: truncated, corrupted, other version, other map.
    assert!(matches!(Placement::from_snapshot(&snapshot[..snapshot.len() - 3], &t), Err(PlacementError::Snapshot(_))));
    let corrupted = snapshot.replacen("\"pg_count\":100", "\"pg_count\":101", 1);
    assert!(
        matches!(Placement::from_snapshot(&corrupted, &t), Err(PlacementError::Snapshot(m)) if m.contains("checksum"))
    );
    let v2 = snapshot.replacen("\"version\":1", "\"version\":2", 1);
    assert!(matches!(Placement::from_snapshot(&v2, &t), Err(PlacementError::Snapshot(_))));
    assert!(matches!(Placement::from_snapshot(&snapshot, &t2), Err(PlacementError::StaleTopology { .. })));
    // Still the same placement.
    assert_eq!(p.to_snapshot(), snapshot);
    let state = DeviceState::UP | DeviceState::IN;
    assert_eq!(t.device(1).unwrap().state, state);
}

#[test]
fn object_names_spread_over_pgs_and_growing_the_pool_moves_few() {
    let (t, rule, _) = cluster();
    let p = Placement::compute(&t, &rule, 1000).unwrap();
    let q = Placement::compute(&t, &rule, 1100).unwrap();
    let mut counts = vec![0u32; 1000];
    let mut moved = 0;
    for i in 0..100_000u32 {
        let name = format!("bucket/object-{i}");
        let a = p.object_to_pg(name.as_bytes());
        counts[a as usize] += 1;
        let b = q.object_to_pg(name.as_bytes());
        if b != a {
            assert!(b >= 1000, "{name} moved between old PGs");
            moved += 1;
        }
    }
    // Jump hash: growing 1000 -> 1100 PGs moves 1/11 of objects, and only to new PGs.
    assert!((moved as f64 / 100_000.0 - 100.0 / 1100.0).abs() < 0.01, "moved {moved}");
    assert!(*counts.iter().max().unwrap() < 160 && *counts.iter().min().unwrap() > 50);
}

#[test]
fn memory_stays_within_the_budget() {
    // At most 64 bytes per device plus 16 bytes per placed shard, balancer exceptions included.
    let (t, rule, pgs) = cluster();
    let p = balanced(&t, &rule, pgs);
    let budget = 64 * t.devices().len() + 16 * pgs as usize * 3;
    assert!(p.memory_bytes() <= budget, "{} bytes over a budget of {budget}", p.memory_bytes());
}

#[test]
fn sizes_and_counts_at_the_limits_are_rejected_not_overflowed() {
    let (t, rule, _) = cluster();
    // 2^26 PGs x 32 shards would need 16 GiB of tables.
    assert!(matches!(
        Placement::compute(&t, &Rule::replicated(32, "device"), 1 << 26),
        Err(PlacementError::InvalidPgCount(_))
    ));
    let mut p = Placement::compute(&t, &rule, 64).unwrap();
    assert!(matches!(p.set_pg_bytes(vec![u64::MAX / 2; 64]), Err(PlacementError::InvalidArgument(_))));
    // The largest accepted sizes still balance exactly.
    p.set_pg_bytes(vec![(1u64 << 62) / 64 / 3; 64]).unwrap();
    let cfg = BalancerConfig { by_bytes: true, ..Default::default() };
    p.balance(&t, &cfg, 10).unwrap();
    assert!(p.report().bytes.unwrap().max_over_mean.is_finite());
    assert!(regular_cluster(&["a", "b", "c"], &[1 << 30, 1 << 30, 1 << 30], 1 << 30, 1).is_err());
}

#[test]
fn a_whole_number_share_does_not_make_every_full_device_shed_a_shard() {
    // 1,000 devices, one per host and rack, exactly 100 shards each: after balancing every
    // device holds 99..=101. A new device moves the share to 99.9; devices at 101 are still
    // within ceil(99.9 + 1), so only the new device's share should move.
    let specs: Vec<DeviceSpec> =
        (0..1000u32).map(|i| DeviceSpec::new(i, 4 * TB).at(&[("host", &format!("h{i}"))])).collect();
    let t = Topology::from_devices(&["host"], specs).unwrap();
    let rule = Rule::replicated(1, "host");
    let mut p = Placement::compute(&t, &rule, 100_000).unwrap();
    p.balance(&t, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    let mut t2 = t.clone();
    t2.add_devices(vec![DeviceSpec::new(5000, 4 * TB).at(&[("host", "new")])]).unwrap();
    let mut q = p.clone();
    q.update(&t2, UpdatePolicy::Pin).unwrap();
    q.balance(&t2, &BalancerConfig { max_moves: 100_000, ..Default::default() }, 100).unwrap();
    let plan = p.plan_to(&q).unwrap();
    assert!(plan.over_optimal() <= 1.10, "moved {} shards, {}x the optimum", plan.moved_shards, plan.over_optimal());
}
