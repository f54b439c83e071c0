//! Every partition shape Jepsen's nemeses produce, for clusters of 3 to 9 nodes, each with
//! its expected answer; plus one-way loss, three groups, flapping links, expiring reports,
//! exact-half splits and recovery.

use trimtab::partition::{
    Mode, NodeId, NodeSpec, PartitionConfig, PartitionDetector, PartitionEvent, Picture, TieBreaker,
};
use trimtab::Time;

const SEC: u64 = 1_000_000_000;

fn cfg(window_s: u64) -> PartitionConfig {
    PartitionConfig { stability_window_ns: window_s * SEC, report_timeout_ns: 5 * SEC, ..PartitionConfig::default() }
}

fn detector(n: u64, cfg: PartitionConfig) -> PartitionDetector {
    let mut d = PartitionDetector::new(cfg).unwrap();
    for id in 1..=n {
        d.add_node(id, NodeSpec::default()).unwrap();
    }
    d
}

/// Every node reports the peers `reach(a, b)` says it reaches, at `t`.
fn report_all(d: &mut PartitionDetector, n: u64, t: Time, reach: &dyn Fn(u64, u64) -> bool) {
    for a in 1..=n {
        let peers: Vec<NodeId> = (1..=n).filter(|&b| b != a && reach(a, b)).collect();
        d.report(a, &peers, t).unwrap();
    }
}

/// The published picture for a symmetric or asymmetric reach relation, no stability window.
fn shape(n: u64, tie: TieBreaker, reach: &dyn Fn(u64, u64) -> bool) -> Picture {
    let mut d = detector(n, PartitionConfig { tie_breaker: tie, ..cfg(0) });
    let t = Time::from_secs(1);
    report_all(&mut d, n, t, reach);
    d.tick(t);
    check_invariants(d.picture());
    d.picture().clone()
}

fn check_invariants(p: &Picture) {
    assert!(p.components.iter().filter(|c| c.has_quorum).count() <= 1);
    assert!(p.components.iter().filter(|c| c.mode == Mode::Serving).count() <= 1);
    let serving_nodes: Vec<_> = p.nodes.iter().filter(|n| n.mode == Mode::Serving).collect();
    if let Some(first) = serving_nodes.first() {
        assert!(serving_nodes.iter().all(|n| n.component == first.component));
    }
    for c in &p.components {
        if let Some(l) = c.leader {
            assert!(c.members.contains(&l));
        }
        assert!(c.max_clique.iter().all(|m| c.members.contains(m)));
    }
}

fn modes(p: &Picture) -> Vec<(NodeId, Mode)> {
    p.nodes.iter().map(|n| (n.id, n.mode)).collect()
}

fn groups(p: &Picture) -> Vec<Vec<NodeId>> {
    p.components.iter().map(|c| c.members.clone()).collect()
}

/// A fixed permutation of 1..=n (the "random" of Jepsen's random halves, made repeatable).
fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (1..=n).collect();
    v.sort_by_key(|&x| trimtab::hash::hash2(seed, x, n));
    v
}

// ---- halves ----------------------------------------------------------------------------

/// Jepsen's `partition-halves`: the first ceil(n/2) nodes against the rest.
#[test]
fn halves() {
    for n in 3..=9u64 {
        let first = n.div_ceil(2);
        let side = |x: u64| x <= first;
        let p = shape(n, TieBreaker::LowestId, &|a, b| side(a) == side(b));
        assert_eq!(groups(&p), vec![(1..=first).collect::<Vec<_>>(), (first + 1..=n).collect()], "n={n}");
        // Odd n: the bigger half has a strict majority. Even n: an exact half, broken by the
        // lowest id, which is in the first half too.
        for (id, m) in modes(&p) {
            assert_eq!(m, if side(id) { Mode::Serving } else { Mode::ReadOnly }, "n={n} node {id}");
        }
        assert_eq!(p.components[0].leader, Some(1));
        assert_eq!(p.components[1].leader, Some(first + 1));
        assert!(p.components.iter().all(|c| c.fully_connected && c.broken_pairs == 0));
        assert_eq!(p.max_clique(), (1..=first).collect::<Vec<_>>().as_slice());
    }
}

/// Jepsen's `partition-random-halves`, with a fixed shuffle per size.
#[test]
fn random_halves() {
    for n in 3..=9u64 {
        for seed in 0..5 {
            let order = shuffled(n, seed);
            let big: Vec<u64> = order[..n.div_ceil(2) as usize].to_vec();
            let side = |x: u64| big.contains(&x);
            let p = shape(n, TieBreaker::LowestId, &|a, b| side(a) == side(b));
            assert_eq!(p.components.len(), 2);
            let serving_side = if n % 2 == 1 { side(big[0]) } else { side(1) };
            for (id, m) in modes(&p) {
                let want = if side(id) == serving_side { Mode::Serving } else { Mode::ReadOnly };
                assert_eq!(m, want, "n={n} seed={seed} node {id}");
            }
            for c in &p.components {
                assert_eq!(c.leader, c.members.first().copied());
            }
        }
    }
}

// ---- an isolated node, a minority third, the primaries ----------------------------------

/// Jepsen's `partition-random-node`: one node cut off from everyone.
#[test]
fn isolated_node() {
    for n in 3..=9u64 {
        for lone in 1..=n {
            let p = shape(n, TieBreaker::LowestId, &|a, b| a != lone && b != lone);
            assert_eq!(p.mode(lone), Some(Mode::ReadOnly), "n={n} lone={lone}");
            let rest: Vec<u64> = (1..=n).filter(|&x| x != lone).collect();
            let main = p.component_of(rest[0]).unwrap();
            assert_eq!(main.members, rest);
            assert_eq!(main.mode, Mode::Serving);
            assert_eq!(main.leader, Some(rest[0]));
            assert_eq!(p.component_of(lone).unwrap().leader, Some(lone));
        }
    }
}

/// A minority third (Jepsen's majority/minority splits): the first floor(n/3) nodes alone.
#[test]
fn minority_third() {
    for n in 3..=9u64 {
        let third = n / 3;
        let side = |x: u64| x <= third;
        let p = shape(n, TieBreaker::LowestId, &|a, b| side(a) == side(b));
        for (id, m) in modes(&p) {
            assert_eq!(m, if side(id) { Mode::ReadOnly } else { Mode::Serving }, "n={n} node {id}");
        }
        assert_eq!(p.serving().unwrap().leader, Some(third + 1));
    }
}

/// Jepsen's "primaries" nemesis: the current leader is cut off; the majority elects the next
/// lowest id, and the host hears about it.
#[test]
fn primaries_cut_off() {
    for n in 3..=9u64 {
        let mut d = detector(n, cfg(0));
        let t1 = Time::from_secs(1);
        report_all(&mut d, n, t1, &|_, _| true);
        d.tick(t1);
        assert_eq!(d.leader_of(n).unwrap(), Some(1));
        while d.poll_event().is_some() {}
        let t2 = Time::from_secs(2);
        report_all(&mut d, n, t2, &|a, b| a != 1 && b != 1);
        d.tick(t2);
        assert_eq!(d.leader_of(n).unwrap(), Some(2));
        assert_eq!(d.mode(1).unwrap(), Mode::ReadOnly);
        assert_eq!(d.mode(2).unwrap(), Mode::Serving);
        let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
        assert!(
            events.iter().any(|e| matches!(
                e,
                PartitionEvent::LeaderChanged { component: 2, from: Some(1), to: Some(2), viable: true, .. }
            )),
            "{events:?}"
        );
        assert!(events.iter().any(|e| matches!(
            e,
            PartitionEvent::ModeChanged { node: 1, from: Mode::Serving, to: Mode::ReadOnly, .. }
        )));
    }
}

// ---- majorities ring and bridge: one component, a majority only through partial links ---

/// Circular distance on a ring of n.
fn ring_dist(n: u64, a: u64, b: u64) -> u64 {
    let d = a.abs_diff(b);
    d.min(n - d)
}

/// Jepsen's `partition-majorities-ring`: every node sees a majority (itself and its nearest
/// neighbours on a ring), no two the same. One component, no fully connected majority. The
/// lowest viable leader serves with the peers it reaches; the nodes that cannot reach it are
/// read-only; the largest fully connected group is exact and below a majority. With
/// `require_majority_clique` the component is degraded instead.
#[test]
fn majorities_ring() {
    for n in 3..=9u64 {
        let majority = n / 2 + 1;
        let r = (majority - 1).div_ceil(2);
        let linked = |a: u64, b: u64| ring_dist(n, a, b) <= r;
        let p = shape(n, TieBreaker::LowestId, &linked);
        assert_eq!(p.components.len(), 1, "n={n}");
        let c = &p.components[0];
        assert!(c.has_quorum && c.leader_viable);
        assert_eq!(c.leader, Some(1));
        assert!(c.max_clique_exact);
        let clique = if n <= 2 * r + 1 { n } else { r + 1 };
        assert_eq!(c.max_clique.len() as u64, clique, "n={n}");
        if n > 3 {
            assert!(!c.fully_connected && clique < majority, "n={n}");
            assert!(c.broken_pairs > 0);
        }
        for (id, m) in modes(&p) {
            let want = if id == 1 || linked(1, id) { Mode::Serving } else { Mode::ReadOnly };
            assert_eq!(m, want, "n={n} node {id}");
        }

        // (Without a tie-breaker, so that a clique of exactly half never counts.)
        let mut d =
            detector(n, PartitionConfig { require_majority_clique: true, tie_breaker: TieBreaker::None, ..cfg(0) });
        report_all(&mut d, n, Time::from_secs(1), &linked);
        d.tick(Time::from_secs(1));
        let want = if n == 3 { Mode::Serving } else { Mode::Degraded };
        assert!(d.picture().nodes.iter().all(|x| x.mode == want), "n={n}");
    }
}

/// A ring where every node sees only its two neighbours: connected, a majority of votes,
/// but nobody can lead a majority. Degraded, and every pair that cannot talk has a relay.
/// (No tie-breaker: at n = 6 a node and its neighbours are exactly half.)
#[test]
fn thin_ring_has_no_viable_leader() {
    for n in 6..=9u64 {
        let linked = |a: u64, b: u64| ring_dist(n, a, b) <= 1;
        let p = shape(n, TieBreaker::None, &linked);
        let c = &p.components[0];
        assert!(c.has_quorum && !c.leader_viable, "n={n}");
        assert_eq!(c.mode, Mode::Degraded);
        assert_eq!(c.leader, Some(1));
        assert!(p.nodes.iter().all(|x| x.mode == Mode::Degraded));
        assert_eq!(c.broken_pairs, n * (n - 1) / 2 - n);
        // Nodes two apart share a relay; farther ones do not.
        for bp in &c.partial_pairs {
            let want = (ring_dist(n, bp.a, bp.b) == 2)
                .then(|| (1..=n).find(|&x| linked(x, bp.a) && linked(x, bp.b) && x != bp.a && x != bp.b).unwrap());
            assert_eq!(bp.relay, want, "n={n} {bp:?}");
        }
    }
}

/// Jepsen's `bridge`: two halves cut from each other, one node in the middle reaching both.
#[test]
fn bridge() {
    for n in 3..=9u64 {
        let b = n.div_ceil(2);
        let side = |x: u64| x.cmp(&b);
        let linked = |x: u64, y: u64| x == b || y == b || side(x) == side(y);
        let p = shape(n, TieBreaker::LowestId, &linked);
        assert_eq!(p.components.len(), 1, "n={n}");
        let c = &p.components[0];
        let (left, right) = (b - 1, n - b);
        assert_eq!(c.broken_pairs, left * right);
        assert!(c.partial_pairs.iter().all(|bp| bp.relay == Some(b)));
        assert!(c.max_clique_exact);
        assert_eq!(c.max_clique.len() as u64, left.max(right) + 1, "n={n}");
        assert!(c.max_clique.contains(&b));
        // Node 1 and its side plus the bridge hold a majority (or the tie-broken half).
        assert_eq!(c.leader, Some(1));
        assert!(c.leader_viable);
        for (id, m) in modes(&p) {
            let want = if id <= b { Mode::Serving } else { Mode::ReadOnly };
            assert_eq!(m, want, "n={n} node {id}");
        }
        // Without a tie-breaker an exact half is no quorum: only the bridge can lead.
        if n % 2 == 0 {
            let p = shape(n, TieBreaker::None, &linked);
            assert_eq!(p.components[0].leader, Some(b), "n={n}");
            assert!(p.nodes.iter().all(|x| x.mode == Mode::Serving));
        }
    }
}

// ---- one-way loss, three groups ---------------------------------------------------------

/// One-way loss: a link counts only when both ends report it.
#[test]
fn one_way_loss() {
    for n in 3..=9u64 {
        // 2 no longer hears 1; 1 still hears 2.
        let p = shape(n, TieBreaker::LowestId, &|a, b| !(a == 2 && b == 1));
        let c = &p.components[0];
        assert_eq!(p.components.len(), 1);
        assert_eq!(c.broken_pairs, 1);
        assert_eq!(c.partial_pairs[0].a, 1);
        assert_eq!(c.partial_pairs[0].b, 2);
        assert_eq!(c.partial_pairs[0].relay, Some(3));
        assert_eq!(c.max_clique.len() as u64, n - 1);
        // 2 cannot follow the leader 1.
        assert_eq!(p.mode(2), Some(Mode::ReadOnly));
        assert_eq!(p.mode(1), Some(Mode::Serving));

        // Node n hears nobody, everybody hears it: isolated.
        let p = shape(n, TieBreaker::LowestId, &|a, _| a != n);
        assert_eq!(p.component_of(n).unwrap().members, vec![n]);
        assert_eq!(p.mode(n), Some(Mode::ReadOnly));
        assert_eq!(p.serving().unwrap().members, (1..n).collect::<Vec<_>>());
    }
}

/// Three groups: the middle group reaches both others, which do not reach each other.
#[test]
fn three_groups_with_a_middle() {
    for n in 3..=9u64 {
        let g = |x: u64| (x - 1) * 3 / n; // 0, 1, 2
        let linked = |a: u64, b: u64| g(a) == g(b) || g(a) == 1 || g(b) == 1;
        let p = shape(n, TieBreaker::LowestId, &linked);
        assert_eq!(p.components.len(), 1);
        let c = &p.components[0];
        let count = |k: u64| (1..=n).filter(|&x| g(x) == k).count() as u64;
        assert_eq!(c.broken_pairs, count(0) * count(2));
        let middle_first = (1..=n).find(|&x| g(x) == 1).unwrap();
        assert!(c.partial_pairs.iter().all(|bp| bp.relay == Some(middle_first)));
        assert_eq!(c.max_clique.len() as u64, count(1) + count(0).max(count(2)));
        // Group 0 with the middle holds the majority: it serves, group 2 is read-only.
        assert_eq!(c.leader, Some(1));
        for (id, m) in modes(&p) {
            assert_eq!(m, if g(id) == 2 { Mode::ReadOnly } else { Mode::Serving }, "n={n} node {id}");
        }
    }
}

// ---- exact halves -----------------------------------------------------------------------

#[test]
fn exact_half_splits_follow_the_tie_breaker() {
    for n in [4u64, 6, 8] {
        let half = n / 2;
        let side = |x: u64| x <= half;
        let split = |a: u64, b: u64| side(a) == side(b);
        // Lowest id: the half with node 1.
        let p = shape(n, TieBreaker::LowestId, &split);
        assert_eq!(p.serving().unwrap().id, 1);
        // A designated tiebreaker in the second half.
        let p = shape(n, TieBreaker::Node(n), &split);
        assert_eq!(p.serving().unwrap().id, half + 1);
        assert_eq!(p.mode(1), Some(Mode::ReadOnly));
        // None: nobody has quorum, everything is in safe mode.
        let p = shape(n, TieBreaker::None, &split);
        assert!(p.serving().is_none());
        assert!(p.nodes.iter().all(|x| x.mode == Mode::SafeMode), "n={n}");
        // A tiebreaker that is not registered breaks nothing.
        let p = shape(n, TieBreaker::Node(1000), &split);
        assert!(p.nodes.iter().all(|x| x.mode == Mode::SafeMode));
    }
}

#[test]
fn three_way_split_without_majority_is_safe_mode() {
    for n in 3..=9u64 {
        let g = |x: u64| (x - 1) * 3 / n;
        let p = shape(n, TieBreaker::LowestId, &|a, b| g(a) == g(b));
        assert_eq!(p.components.len(), 3);
        if n >= 5 {
            // No group holds half.
            assert!(p.nodes.iter().all(|x| x.mode == Mode::SafeMode), "n={n}");
            assert!(p.components.iter().all(|c| c.leader == c.members.first().copied() && !c.leader_viable));
        }
    }
}

// ---- votes, priorities, non-voters ------------------------------------------------------

#[test]
fn weights_priorities_and_non_voters() {
    let mut d = PartitionDetector::new(cfg(0)).unwrap();
    d.add_node(1, NodeSpec::with_votes(3)).unwrap();
    for id in 2..=5 {
        d.add_node(id, NodeSpec::default()).unwrap();
    }
    d.add_node(6, NodeSpec::non_voter()).unwrap();
    let t = Time::from_secs(1);
    // {1,2} (4 of 7 votes) | {3,4,5,6} (3 votes).
    let side = |x: u64| x <= 2;
    report_all(&mut d, 6, t, &|a, b| side(a) == side(b));
    d.tick(t);
    assert_eq!(d.mode(2).unwrap(), Mode::Serving);
    assert_eq!(d.mode(5).unwrap(), Mode::ReadOnly);
    assert_eq!(d.picture().total_votes, 7);
    // A higher priority wins the leadership of its side.
    d.set_priority(2, 9).unwrap();
    d.tick(t);
    assert_eq!(d.leader_of(1).unwrap(), Some(2));
    // A component of non-voters has no leader.
    let mut d = PartitionDetector::new(cfg(0)).unwrap();
    d.add_node(1, NodeSpec::default()).unwrap();
    d.add_node(2, NodeSpec::non_voter()).unwrap();
    d.add_node(3, NodeSpec::non_voter()).unwrap();
    report_all(&mut d, 3, t, &|a, b| a != 1 && b != 1);
    d.tick(t);
    assert_eq!(d.leader_of(2).unwrap(), None);
    assert_eq!(d.mode(2).unwrap(), Mode::ReadOnly);
    assert_eq!(d.mode(1).unwrap(), Mode::Serving);
    // Votes changed at runtime: 1 becomes a non-voter, nobody has votes, safe mode.
    d.set_votes(1, 0).unwrap();
    d.tick(t);
    assert!(d.picture().nodes.iter().all(|x| x.mode == Mode::SafeMode));
}

// ---- time: stability window, flapping, expiry, recovery ---------------------------------

#[test]
fn one_lost_report_does_not_flip_the_cluster() {
    let n = 5;
    let mut d = detector(n, cfg(2));
    let full = |_: u64, _: u64| true;
    for s in 0..=3 {
        report_all(&mut d, n, Time::from_secs(s), &full);
        d.tick(Time::from_secs(s));
    }
    assert!(d.picture().nodes.iter().all(|x| x.mode == Mode::Serving));
    while d.poll_event().is_some() {}
    // Node 5's reports stop; everyone else keeps reporting every second.
    for s in 4..=20u64 {
        let t = Time::from_secs(s);
        for a in 1..n {
            let peers: Vec<u64> = (1..=n).filter(|&b| b != a).collect();
            d.report(a, &peers, t).unwrap();
        }
        d.tick(t);
        // The last report from 5 was at 3 s: it expires at 8 s; the picture must then hold
        // 2 s more before it is published.
        let want = if s < 10 { Mode::Serving } else { Mode::ReadOnly };
        assert_eq!(d.mode(5).unwrap(), want, "at {s} s");
    }
    assert_eq!(d.mode(1).unwrap(), Mode::Serving);
}

#[test]
fn flapping_links_publish_nothing_until_they_settle() {
    let n = 5;
    let mut d = detector(n, cfg(2));
    let full = |_: u64, _: u64| true;
    let cut = |a: u64, b: u64| (a <= 3) == (b <= 3);
    report_all(&mut d, n, Time::ZERO, &full);
    d.tick(Time::from_secs(2));
    let epoch_pic = d.picture().clone();
    assert!(epoch_pic.nodes.iter().all(|x| x.mode == Mode::Serving));
    // The link flaps every 500 ms for 10 s.
    let mut t = 2 * SEC;
    for i in 0..20 {
        t += SEC / 2;
        report_all(&mut d, n, Time(t), if i % 2 == 0 { &cut } else { &full });
        d.tick(Time(t));
        assert_eq!(d.picture(), &epoch_pic, "flipped at {t}");
    }
    // It settles cut: published after the window.
    t += SEC / 2;
    report_all(&mut d, n, Time(t), &cut);
    d.tick(Time(t));
    d.tick(Time(t + SEC));
    assert_eq!(d.mode(4).unwrap(), Mode::Serving);
    assert_eq!(d.next_deadline(), Some(Time(t + 2 * SEC)));
    d.tick(Time(t + 2 * SEC));
    assert_eq!(d.mode(4).unwrap(), Mode::ReadOnly);
}

#[test]
fn expired_reports_isolate_their_node_and_fresh_ones_bring_it_back() {
    let n = 3;
    let mut d = detector(n, cfg(0));
    report_all(&mut d, n, Time::from_secs(0), &|_, _| true);
    d.tick(Time::from_secs(0));
    assert_eq!(d.next_deadline(), Some(Time::from_secs(5)));
    d.tick(Time::from_secs(5));
    // Every report expired: every node alone, no majority anywhere.
    assert_eq!(d.component_count(), 3);
    assert!(d.picture().nodes.iter().all(|x| x.mode == Mode::SafeMode));
    // Nodes without a report are not leader candidates.
    assert_eq!(d.leader_of(1).unwrap(), None);
    report_all(&mut d, n, Time::from_secs(6), &|_, _| true);
    d.tick(Time::from_secs(6));
    assert_eq!(d.component_count(), 1);
    assert_eq!(d.mode(3).unwrap(), Mode::Serving);
    // Time never runs backwards: an old `now` is the last one seen.
    d.tick(Time::from_secs(1));
    assert_eq!(d.now(), Time::from_secs(6));
}

#[test]
fn recovery_lists_the_nodes_that_were_out_and_for_how_long() {
    let n = 5;
    let mut d = detector(n, cfg(2));
    let full = |_: u64, _: u64| true;
    let cut = |a: u64, b: u64| (a <= 3) == (b <= 3);
    let tick_at = |d: &mut PartitionDetector, s: u64, f: &dyn Fn(u64, u64) -> bool| {
        report_all(d, n, Time::from_secs(s), f);
        d.tick(Time::from_secs(s));
    };
    for s in 0..=2 {
        tick_at(&mut d, s, &full);
    }
    while d.poll_event().is_some() {}
    for s in 10..=40 {
        tick_at(&mut d, s, &cut);
    }
    // Published at 12 s.
    let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    assert!(
        matches!(events[0], PartitionEvent::PictureChanged { components: 2, serving: Some(1), at, .. } if at == Time::from_secs(12))
    );
    for s in 41..=45 {
        tick_at(&mut d, s, &full);
    }
    let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    let rec = events
        .iter()
        .find_map(|e| match e {
            PartitionEvent::Recovered { nodes, at } => Some((nodes.clone(), *at)),
            _ => None,
        })
        .expect("a recovery event");
    assert_eq!(rec.1, Time::from_secs(43));
    assert_eq!(rec.0.iter().map(|r| r.node).collect::<Vec<_>>(), vec![4, 5]);
    assert!(rec.0.iter().all(|r| r.out_since == Time::from_secs(12) && r.out_for_ns == 31 * SEC));
    assert_eq!(d.events_dropped(), 0);
}

#[test]
fn a_full_event_queue_counts_what_it_drops() {
    let mut d = detector(9, PartitionConfig { event_capacity: 3, ..cfg(0) });
    report_all(&mut d, 9, Time::from_secs(1), &|_, _| true);
    d.tick(Time::from_secs(1));
    // PictureChanged + 9 mode changes + 1 leader change = 11 events, 3 kept.
    assert_eq!(std::iter::from_fn(|| d.poll_event()).count(), 3);
    assert_eq!(d.events_dropped(), 8);
    // The published picture is complete regardless.
    assert!(d.picture().nodes.iter().all(|x| x.mode == Mode::Serving));
}

#[test]
fn partial_partition_events_on_appearance_and_healing() {
    let n = 5;
    let mut d = detector(n, cfg(0));
    let bridge = |a: u64, b: u64| a == 3 || b == 3 || (a < 3) == (b < 3);
    report_all(&mut d, n, Time::from_secs(1), &|_, _| true);
    d.tick(Time::from_secs(1));
    while d.poll_event().is_some() {}
    report_all(&mut d, n, Time::from_secs(2), &bridge);
    d.tick(Time::from_secs(2));
    let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    assert!(
        events.contains(&PartitionEvent::PartialPartition {
            component: 1,
            broken_pairs: 4,
            max_clique: 3,
            leader_viable: true,
            at: Time::from_secs(2)
        }),
        "{events:?}"
    );
    // The host can prefer the bridge as leader: then every node follows it and serves.
    d.set_priority(3, 1).unwrap();
    d.tick(Time::from_secs(3));
    assert_eq!(d.leader_of(1).unwrap(), Some(3));
    assert!(d.picture().nodes.iter().all(|x| x.mode == Mode::Serving));
    while d.poll_event().is_some() {}
    report_all(&mut d, n, Time::from_secs(4), &|_, _| true);
    d.tick(Time::from_secs(4));
    let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(e, PartitionEvent::PartialPartition { component: 1, broken_pairs: 0, .. })));
}

#[test]
fn weighted_exact_half_is_broken_by_the_tie_breaker() {
    // Votes 2,1,1 | 2,1,1: an exact half of 8 on each side.
    let mut d = PartitionDetector::new(PartitionConfig { tie_breaker: TieBreaker::Node(5), ..cfg(0) }).unwrap();
    for id in 1..=6u64 {
        d.add_node(id, NodeSpec::with_votes(if id == 1 || id == 4 { 2 } else { 1 })).unwrap();
    }
    report_all(&mut d, 6, Time::from_secs(1), &|a, b| (a <= 3) == (b <= 3));
    d.tick(Time::from_secs(1));
    assert_eq!(d.picture().serving().unwrap().members, vec![4, 5, 6]);
    assert_eq!(d.mode(1).unwrap(), Mode::ReadOnly);
}

/// A large component with missing links, past the exact limit: the answer is a real clique
/// with an honest upper bound, and the same whatever the report order.
#[test]
fn large_partial_component_uses_bounded_heuristics_deterministically() {
    let n = 300u64;
    let reach = |a: u64, b: u64| trimtab::hash::hash2(7, a.min(b), a.max(b)) % 50 != 0;
    let run = |reverse: bool| {
        let mut d = detector(n, PartitionConfig { exact_clique_limit: 0, max_reported_pairs: 10, ..cfg(0) });
        let mut order: Vec<u64> = (1..=n).collect();
        if reverse {
            order.reverse();
        }
        for &a in &order {
            let peers: Vec<NodeId> = (1..=n).filter(|&b| b != a && reach(a, b)).collect();
            d.report(a, &peers, Time::from_secs(1)).unwrap();
        }
        d.tick(Time::from_secs(1));
        d.picture().clone()
    };
    let p = run(false);
    assert_eq!(p, run(true));
    let c = &p.components[0];
    assert_eq!(c.members.len() as u64, n);
    assert_eq!(c.partial_pairs.len(), 10);
    assert!(c.broken_pairs > 10);
    for (i, &a) in c.max_clique.iter().enumerate() {
        for &b in &c.max_clique[i + 1..] {
            assert!(reach(a, b));
        }
    }
    assert!(c.max_clique_upper_bound >= c.max_clique.len() as u64);
    assert_eq!(c.max_clique_exact, c.max_clique_upper_bound == c.max_clique.len() as u64);
}
