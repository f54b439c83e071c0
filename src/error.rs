//! The crate's error: every part has its own error enum, and each converts into this one.

#![forbid(unsafe_code)]

use thiserror::Error as ThisError;

/// Any error a trimtab call can return. Each part's error converts into it with `?`.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// A partition detector call was refused.
    #[error(transparent)]
    Partition(#[from] crate::partition::PartitionError),
}
