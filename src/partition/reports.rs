//! Connectivity reports as JSON, the format of `trimtab partition --reports FILE` and of
//! `trimtab_partition_report_json`: a list of `{"node": id, "reaches": [ids], "votes": n,
//! "priority": p}` (`votes` defaults to 1, `priority` to 0).

#![forbid(unsafe_code)]

use super::{NodeId, NodeSpec, PartitionConfig, PartitionDetector, PartitionError};
use crate::time::Time;
use serde_json::Value;
use std::collections::BTreeMap;

/// One node's report as read from JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEntry {
    /// The reporting node.
    pub node: NodeId,
    /// The peers it reaches.
    pub reaches: Vec<NodeId>,
    /// Its votes, when given.
    pub votes: Option<u32>,
    /// Its leader priority, when given.
    pub priority: Option<u32>,
}

fn bad(entry: Option<usize>, field: &str, reason: impl Into<String>) -> PartitionError {
    PartitionError::BadReports { entry, field: field.to_string(), reason: reason.into() }
}

fn uint(v: &Value, entry: usize, field: &str, max: u64) -> Result<u64, PartitionError> {
    match v.as_u64() {
        Some(x) if x <= max => Ok(x),
        Some(x) => Err(bad(Some(entry), field, format!("{x} is larger than {max}"))),
        None => Err(bad(Some(entry), field, format!("expected a non-negative integer, found {v}"))),
    }
}

/// Parses the JSON text. Errors name the entry (from 0), the field and the reason; a node
/// may appear only once.
pub fn parse_reports_json(text: &str) -> Result<Vec<ReportEntry>, PartitionError> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad(None, "", format!("not valid JSON: {e}")))?;
    let Value::Array(items) = v else {
        return Err(bad(None, "", "expected a JSON list of reports"));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut seen = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(bad(Some(i), "", "expected an object"));
        };
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "node" | "reaches" | "votes" | "priority")) {
            return Err(bad(Some(i), k, "unknown field (expected node, reaches, votes, priority)"));
        }
        let node = uint(obj.get("node").ok_or_else(|| bad(Some(i), "node", "missing"))?, i, "node", u64::MAX)?;
        if let Some(first) = seen.insert(node, i) {
            return Err(bad(Some(i), "node", format!("node {node} already reported by entry {first}")));
        }
        let Some(Value::Array(peers)) = obj.get("reaches") else {
            return Err(bad(Some(i), "reaches", "missing or not a list of node ids"));
        };
        let reaches = peers.iter().map(|p| uint(p, i, "reaches", u64::MAX)).collect::<Result<Vec<_>, _>>()?;
        let votes = obj.get("votes").map(|v| uint(v, i, "votes", u64::from(u32::MAX))).transpose()?.map(|x| x as u32);
        let priority =
            obj.get("priority").map(|v| uint(v, i, "priority", u64::from(u32::MAX))).transpose()?.map(|x| x as u32);
        out.push(ReportEntry { node, reaches, votes, priority });
    }
    Ok(out)
}

impl PartitionDetector {
    /// A detector holding exactly these reports, made at `now`: every reporting node is
    /// registered with its votes (default 1) and priority, and every peer named only in
    /// `reaches` is registered as a one-vote member that sent no report (a silent node
    /// still counts in the quorum total). The picture is published at once (the stability
    /// window does not apply to a snapshot).
    pub fn from_reports(cfg: PartitionConfig, entries: &[ReportEntry], now: Time) -> Result<Self, PartitionError> {
        let mut d = PartitionDetector::new(cfg)?;
        let mut specs: BTreeMap<NodeId, NodeSpec> = BTreeMap::new();
        for e in entries {
            specs.insert(e.node, NodeSpec { votes: e.votes.unwrap_or(1), priority: e.priority.unwrap_or(0) });
        }
        for e in entries {
            for &p in &e.reaches {
                specs.entry(p).or_default();
            }
        }
        for (id, spec) in specs {
            d.add_node(id, spec)?;
        }
        for e in entries {
            d.report(e.node, &e.reaches, now)?;
        }
        let window = std::mem::replace(&mut d.cfg.stability_window_ns, 0);
        d.tick(now);
        d.cfg.stability_window_ns = window;
        Ok(d)
    }

    /// Applies a batch of reports made at `now`, all or nothing: every node and peer must be
    /// registered; `votes` and `priority`, when given, update the node.
    pub fn report_batch(&mut self, entries: &[ReportEntry], now: Time) -> Result<(), PartitionError> {
        for e in entries {
            if !self.is_registered(e.node) {
                return Err(PartitionError::UnknownNode(e.node));
            }
            if let Some(&peer) = e.reaches.iter().find(|&&p| !self.is_registered(p)) {
                return Err(PartitionError::UnknownPeer { node: e.node, peer });
            }
        }
        for e in entries {
            if let Some(v) = e.votes {
                self.set_votes(e.node, v)?;
            }
            if let Some(p) = e.priority {
                self.set_priority(e.node, p)?;
            }
            self.report(e.node, &e.reaches, now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_entry_field_and_reason() {
        let cases = [
            ("{", None, ""),
            ("{}", None, ""),
            ("[1]", Some(0), ""),
            (r#"[{"reaches":[]}]"#, Some(0), "node"),
            (r#"[{"node":-1,"reaches":[]}]"#, Some(0), "node"),
            (r#"[{"node":1}]"#, Some(0), "reaches"),
            (r#"[{"node":1,"reaches":[2.5]}]"#, Some(0), "reaches"),
            (r#"[{"node":1,"reaches":[],"votes":4294967296}]"#, Some(0), "votes"),
            (r#"[{"node":1,"reaches":[]},{"node":1,"reaches":[]}]"#, Some(1), "node"),
            (r#"[{"node":1,"reaches":[],"vote":1}]"#, Some(0), "vote"),
        ];
        for (text, entry, field) in cases {
            match parse_reports_json(text) {
                Err(PartitionError::BadReports { entry: e, field: f, reason }) => {
                    assert_eq!((e, f.as_str()), (entry, field), "{text}: {reason}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn silent_peers_count_in_the_total() {
        let e = parse_reports_json(r#"[{"node":1,"reaches":[2,3]},{"node":2,"reaches":[1,3],"votes":2}]"#).unwrap();
        let d = PartitionDetector::from_reports(PartitionConfig::default(), &e, Time::from_secs(1)).unwrap();
        // 3 never reported: {1,2} hold 3 of 4 votes.
        assert_eq!(d.picture().total_votes, 4);
        assert_eq!(d.mode(1).unwrap(), super::super::Mode::Serving);
        assert_eq!(d.mode(3).unwrap(), super::super::Mode::ReadOnly);
    }

    #[test]
    fn batches_are_all_or_nothing() {
        let mut d = PartitionDetector::new(PartitionConfig::default()).unwrap();
        d.add_node(1, NodeSpec::default()).unwrap();
        d.add_node(2, NodeSpec::default()).unwrap();
        let before = format!("{d:?}");
        let e = parse_reports_json(r#"[{"node":1,"reaches":[2],"votes":5},{"node":2,"reaches":[7]}]"#).unwrap();
        assert_eq!(d.report_batch(&e, Time::from_secs(1)), Err(PartitionError::UnknownPeer { node: 2, peer: 7 }));
        assert_eq!(format!("{d:?}"), before);
    }
}
