//! The health part's error.

#![forbid(unsafe_code)]

use thiserror::Error;

/// An error from the failure detector or the disk-health tracker. A call that returns one
/// has changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HealthError {
    /// A configuration value is out of range; the text names the field and the reason.
    #[error("invalid health configuration: {0}")]
    InvalidConfig(String),
    /// A heartbeat or query named a node that was never added (or was removed).
    #[error("unknown node {0}")]
    UnknownNode(u64),
    /// `add_node` for a node that is already tracked.
    #[error("node {0} is already tracked")]
    DuplicateNode(u64),
    /// A report or query named a device that was never added (or was removed).
    #[error("unknown device {0}")]
    UnknownDevice(u64),
    /// `add_device` for a device that is already tracked.
    #[error("device {0} is already tracked")]
    DuplicateDevice(u64),
    /// The node or device table is full (its capacity is set in the config).
    #[error("capacity of {0} entries reached")]
    CapacityExceeded(usize),
    /// A device report carried an impossible value; the text says which.
    #[error("invalid device report: {0}")]
    InvalidReport(String),
}
