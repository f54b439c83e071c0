//! Unit tests of the detector's internals; scenario tests live in `tests/partition_*.rs`.

use super::*;

fn cfg0() -> PartitionConfig {
    PartitionConfig { stability_window_ns: 0, ..PartitionConfig::default() }
}

fn full_mesh(d: &mut PartitionDetector, ids: &[NodeId], t: Time) {
    for &a in ids {
        let peers: Vec<NodeId> = ids.iter().copied().filter(|&b| b != a).collect();
        d.report(a, &peers, t).unwrap();
    }
}

#[test]
fn out_of_order_registration_keeps_id_order_and_links() {
    let mut d = PartitionDetector::new(cfg0()).unwrap();
    for id in [50, 10, 30] {
        d.add_node(id, NodeSpec::default()).unwrap();
    }
    let t = Time::from_secs(1);
    full_mesh(&mut d, &[10, 30, 50], t);
    // Register one in the middle after reports exist: links must survive the relayout.
    d.add_node(20, NodeSpec::default()).unwrap();
    d.tick(t);
    let p = d.picture();
    assert_eq!(p.nodes.iter().map(|n| n.id).collect::<Vec<_>>(), vec![10, 20, 30, 50]);
    assert_eq!(p.component_of(10).unwrap().members, vec![10, 30, 50]);
    assert_eq!(p.component_of(20).unwrap().members, vec![20]);
    assert_eq!(d.leader_of(50).unwrap(), Some(10));
    // Remove a node: its links go too, the rest stays.
    d.remove_node(30).unwrap();
    d.tick(t);
    assert_eq!(d.picture().component_of(10).unwrap().members, vec![10, 50]);
    assert_eq!(d.mode(30), Err(PartitionError::UnknownNode(30)));
}

#[test]
fn incremental_matches_from_scratch() {
    let mut d = PartitionDetector::new(cfg0()).unwrap();
    let n = 150u64;
    for id in 0..n {
        d.add_node(id * 7 + 3, NodeSpec::default()).unwrap();
    }
    let mut x = 1u64;
    let t = Time::from_secs(1);
    for round in 0..4 {
        for a in 0..n {
            let peers: Vec<NodeId> = (0..n)
                .filter(|&b| {
                    x = crate::hash::mix64(x ^ (a << 20 | b) ^ round);
                    b != a && x % 10 < 8
                })
                .map(|b| b * 7 + 3)
                .collect();
            d.report(a * 7 + 3, &peers, t).unwrap();
        }
        let inc = d.observed().clone();
        let scratch = d.analyze_from_scratch().clone();
        assert_eq!(inc, scratch);
    }
}

#[test]
fn refused_calls_change_nothing() {
    let mut d = PartitionDetector::new(cfg0()).unwrap();
    d.add_node(1, NodeSpec::default()).unwrap();
    d.add_node(2, NodeSpec::default()).unwrap();
    d.report(1, &[2], Time::from_secs(1)).unwrap();
    let before = format!("{:?}", d);
    assert_eq!(d.report(1, &[2, 9], Time::from_secs(5)), Err(PartitionError::UnknownPeer { node: 1, peer: 9 }));
    assert_eq!(d.report(9, &[1], Time::from_secs(5)), Err(PartitionError::UnknownNode(9)));
    assert_eq!(d.add_node(1, NodeSpec::default()), Err(PartitionError::DuplicateNode(1)));
    assert_eq!(d.set_votes(9, 1), Err(PartitionError::UnknownNode(9)));
    assert_eq!(d.remove_node(9), Err(PartitionError::UnknownNode(9)));
    assert_eq!(format!("{:?}", d), before);
    assert_eq!(d.now(), Time::from_secs(1));
    let small = PartitionConfig { max_nodes: 2, ..cfg0() };
    let mut d = PartitionDetector::new(small).unwrap();
    d.add_node(1, NodeSpec::default()).unwrap();
    d.add_node(2, NodeSpec::default()).unwrap();
    assert_eq!(d.add_node(3, NodeSpec::default()), Err(PartitionError::TooManyNodes { limit: 2 }));
}

#[test]
fn bad_configs_are_refused() {
    for cfg in [
        PartitionConfig { report_timeout_ns: 0, ..cfg0() },
        PartitionConfig { max_nodes: 0, ..cfg0() },
        PartitionConfig { max_nodes: MAX_NODES_LIMIT + 1, ..cfg0() },
        PartitionConfig { event_capacity: 0, ..cfg0() },
    ] {
        assert!(matches!(PartitionDetector::new(cfg), Err(PartitionError::InvalidConfig(_))));
    }
}

#[test]
fn growing_past_a_row_stride_keeps_links() {
    let mut d = PartitionDetector::new(cfg0()).unwrap();
    let t = Time::from_secs(1);
    for id in 0..60 {
        d.add_node(id, NodeSpec::default()).unwrap();
    }
    full_mesh(&mut d, &(0..60).collect::<Vec<_>>(), t);
    for id in 60..200 {
        d.add_node(id, NodeSpec::default()).unwrap();
        d.tick(t); // one re-stride per word boundary, appended in id order
    }
    full_mesh(&mut d, &(60..200).collect::<Vec<_>>(), t);
    d.tick(t);
    let p = d.picture();
    assert_eq!(p.components.len(), 2);
    assert_eq!(p.components[0].members.len(), 60);
    assert_eq!(p.components[1].members.len(), 140);
    assert_eq!(p.serving().unwrap().id, 60);
    assert_eq!(d.analyze_from_scratch().clone(), d.picture().clone());
}

#[test]
fn weighted_votes_with_many_classes_use_the_slow_path_consistently() {
    let mut d = PartitionDetector::new(cfg0()).unwrap();
    for id in 0..40u64 {
        d.add_node(id, NodeSpec::with_votes(id as u32 + 1)).unwrap();
    }
    let t = Time::from_secs(1);
    // A star around 39: only 39 reaches everyone.
    for a in 0..39u64 {
        d.report(a, &[39], t).unwrap();
    }
    d.report(39, &(0..39).collect::<Vec<_>>(), t).unwrap();
    d.tick(t);
    let c = d.picture().component_of(0).unwrap().clone();
    assert_eq!(c.leader, Some(39));
    assert!(c.leader_viable);
    assert_eq!(c.mode, Mode::Serving);
    assert_eq!(c.max_clique.len(), 2);
}

#[test]
fn a_one_way_change_does_not_recompute() {
    let mut d = PartitionDetector::new(cfg0()).unwrap();
    for id in 1..=3 {
        d.add_node(id, NodeSpec::default()).unwrap();
    }
    let t = Time::from_secs(1);
    d.report(1, &[3], t).unwrap();
    d.report(2, &[3], t).unwrap();
    d.report(3, &[1, 2], t).unwrap();
    d.tick(t);
    assert_eq!(d.next_deadline(), Some(Time::from_secs(6)));
    // 1 starts to hear 2, but 2 does not report 1: no mutual link, nothing to recompute.
    d.report(1, &[2, 3], t).unwrap();
    assert_eq!(d.next_deadline(), Some(Time::from_secs(6)));
    // 2 reports 1 back: a mutual link appears, the picture is due now.
    d.report(2, &[1, 3], t).unwrap();
    assert_eq!(d.next_deadline(), Some(t));
    d.tick(t);
    assert!(d.picture().components[0].fully_connected);
}
