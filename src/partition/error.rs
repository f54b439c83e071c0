//! The partition detector's error type.

#![forbid(unsafe_code)]

use super::NodeId;
use thiserror::Error as ThisError;

/// Why a [`PartitionDetector`](super::PartitionDetector) call was refused. A refused call
/// leaves the detector exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum PartitionError {
    /// The configuration is unusable; the text says which field and why.
    #[error("invalid partition config: {0}")]
    InvalidConfig(&'static str),
    /// `add_node` with an id that is already registered.
    #[error("node {0} is already registered")]
    DuplicateNode(NodeId),
    /// A call named a node that is not registered.
    #[error("node {0} is not registered")]
    UnknownNode(NodeId),
    /// A report listed a peer that is not registered (the whole report is refused).
    #[error("report from node {node} lists unknown peer {peer}")]
    UnknownPeer {
        /// The reporting node.
        node: NodeId,
        /// The peer that is not registered.
        peer: NodeId,
    },
    /// Connectivity reports given as JSON could not be read.
    #[error("bad reports{}: {field}{}{reason}", entry.map(|e| format!(" (entry {e})")).unwrap_or_default(), if field.is_empty() { "" } else { ": " })]
    BadReports {
        /// The entry (from 0), when the problem is in one.
        entry: Option<usize>,
        /// The field, or empty when the problem is the whole entry or document.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Registering one more node would exceed `max_nodes`.
    #[error("too many nodes: the configured limit is {limit}")]
    TooManyNodes {
        /// The configured `max_nodes`.
        limit: usize,
    },
}
