//! The crate's error: every part has its own error enum, and each converts into this one.

#![forbid(unsafe_code)]

use thiserror::Error as ThisError;

/// Any error a trimtab call can return. Each part's error converts into it with `?`.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// From the failure detector or disk health.
    #[error(transparent)]
    Health(#[from] crate::health::HealthError),
}
