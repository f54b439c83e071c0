//! The failure and split steps of `trimtab simulate`: heartbeats through the failure
//! detector until a crashed host is declared dead, and connectivity reports through the
//! partition detector while one zone is cut off and then healed.

use std::collections::BTreeMap;
use trimtab::hash::mix64;
use trimtab::health::{DetectorConfig, FailureDetector, NodeEventKind};
use trimtab::partition::{Mode, NodeSpec, PartitionConfig, PartitionDetector, PartitionEvent};
use trimtab::Time;

const MS: u64 = 1_000_000;

/// Heartbeats every second (with up to ±60 ms of jitter) from every node; `victim` stops at
/// `crash_at_s`. Returns (seconds from the crash to Suspected, to Dead, false deaths).
pub fn detect_crash(nodes: &[u32], victim: u32, crash_at_s: u64) -> Result<(f64, f64, u64), String> {
    let mut d = FailureDetector::new(DetectorConfig::default()).map_err(|e| e.to_string())?;
    for &n in nodes {
        d.add_node(n as u64, Time::ZERO).map_err(|e| e.to_string())?;
    }
    let crash = crash_at_s * 1000 * MS;
    let (mut suspected, mut dead, mut false_deaths) = (None, None, 0u64);
    // Every node's next heartbeat, on a 10 ms simulation grid.
    let mut next: BTreeMap<u32, u64> = nodes.iter().map(|&n| (n, 1000 * MS + (mix64(n as u64) % 1000) * MS)).collect();
    let mut now = 0u64;
    while dead.is_none() && now < crash + 120_000 * MS {
        now += 10 * MS;
        for (&n, at) in next.iter_mut() {
            if *at <= now {
                if !(n == victim && now >= crash) {
                    d.heartbeat(n as u64, Time(now)).map_err(|e| e.to_string())?;
                }
                let jitter = mix64((n as u64) << 32 ^ now) % (120 * MS);
                *at = now + 940 * MS + jitter;
            }
        }
        d.tick(Time(now));
        while let Some(e) = d.poll_event() {
            let since = now.saturating_sub(crash) as f64 / 1e9;
            match e.kind {
                NodeEventKind::Suspected if e.node == victim as u64 && now >= crash => {
                    suspected = suspected.or(Some(since))
                }
                NodeEventKind::Dead if e.node == victim as u64 && now >= crash => dead = Some(since),
                NodeEventKind::Dead => false_deaths += 1,
                _ => {}
            }
        }
    }
    let dead = dead.ok_or("the failure detector never declared the crashed host dead")?;
    Ok((suspected.unwrap_or(dead), dead, false_deaths))
}

/// What the split step saw.
pub struct Split {
    pub components: Vec<(usize, String, Option<u64>)>,
    pub recovered: usize,
    pub longest_out_s: f64,
}

/// Every node reports the peers it reaches each second; from `cut_s` to `heal_s` the nodes
/// of `island` and the others cannot reach each other. Returns the picture during the split
/// and the recovery after it.
pub fn split(nodes: &[u32], island: &[u32], cut_s: u64, heal_s: u64) -> Result<Split, String> {
    let mut p = PartitionDetector::new(PartitionConfig::default()).map_err(|e| e.to_string())?;
    for &n in nodes {
        p.add_node(n as u64, NodeSpec::default()).map_err(|e| e.to_string())?;
    }
    let mut during = Vec::new();
    let (mut recovered, mut longest) = (0usize, 0f64);
    for s in 1..=heal_s + 30 {
        let cut = (cut_s..heal_s).contains(&s);
        for &n in nodes {
            let reach: Vec<u64> = nodes
                .iter()
                .filter(|&&m| m != n && !(cut && island.contains(&n) != island.contains(&m)))
                .map(|&m| m as u64)
                .collect();
            p.report(n as u64, &reach, Time::from_secs(s)).map_err(|e| e.to_string())?;
        }
        p.tick(Time::from_secs(s));
        while let Some(e) = p.poll_event() {
            if let PartitionEvent::Recovered { nodes, .. } = e {
                recovered += nodes.len();
                longest = nodes.iter().map(|r| r.out_for_ns as f64 / 1e9).fold(longest, f64::max);
            }
        }
        if s == heal_s - 1 {
            during = p
                .picture()
                .components
                .iter()
                .map(|c| {
                    let mode = match c.mode {
                        Mode::Serving => "serving",
                        Mode::ReadOnly => "read-only",
                        Mode::Degraded => "degraded",
                        Mode::SafeMode => "safe mode",
                    };
                    (c.members.len(), mode.to_string(), c.leader)
                })
                .collect();
        }
    }
    Ok(Split { components: during, recovered, longest_out_s: longest })
}
