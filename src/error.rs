//! The crate's error: every part has its own error enum, and each converts into this one.

#![forbid(unsafe_code)]

use thiserror::Error as ThisError;

/// Any error a trimtab call can return. Each part's error converts into it with `?`.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// The cluster map rejected a change or a snapshot.
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    /// Placement rejected a rule, a pool, a lookup or a balancer setting.
    #[error(transparent)]
    Placement(#[from] crate::placement::PlacementError),
    /// A throttle call failed.
    #[error(transparent)]
    Throttle(#[from] crate::throttle::ThrottleError),
    /// A migration scheduler call failed.
    #[error(transparent)]
    Migration(#[from] crate::migration::MigrationError),
    /// A partition detector call was refused.
    #[error(transparent)]
    Partition(#[from] crate::partition::PartitionError),
    /// From the failure detector or disk health.
    #[error(transparent)]
    Health(#[from] crate::health::HealthError),
}
