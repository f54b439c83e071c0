//! Errors of the cluster map.

use super::DeviceId;
use thiserror::Error;

/// Why a change to the cluster map, or a snapshot of it, was rejected. The map is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The same device id appears twice.
    #[error("device {0}: duplicate device id")]
    DuplicateDevice(DeviceId),
    /// A device id that is reserved (`u32::MAX` means "no device" in tables).
    #[error("device {0}: id {0} is reserved")]
    ReservedDeviceId(DeviceId),
    /// A state change or lookup named a device that is not in the map.
    #[error("device {0}: no such device")]
    UnknownDevice(DeviceId),
    /// A device's location lacks a level of the hierarchy.
    #[error("device {device}: location has no `{level}` (the levels are {levels})")]
    MissingLevel {
        /// The device.
        device: DeviceId,
        /// The level it lacks.
        level: String,
        /// All levels, for the message.
        levels: String,
    },
    /// A device's location names a level that the hierarchy does not have.
    #[error("device {device}: location has `{level}`, which is not a level of this map (the levels are {levels})")]
    UnknownLevel {
        /// The device.
        device: DeviceId,
        /// The extra level.
        level: String,
        /// All levels, for the message.
        levels: String,
    },
    /// A location names a failure domain with an empty name.
    #[error("device {device}: empty name for level `{level}`")]
    EmptyName {
        /// The device.
        device: DeviceId,
        /// The level whose name is empty.
        level: String,
    },
    /// One failure domain appears under two different parents (a host in two racks).
    #[error("{level} `{name}` is under {parent_level} `{first}` and also under `{second}` (device {device})")]
    TwoParents {
        /// The level of the domain.
        level: String,
        /// Its name.
        name: String,
        /// The level of its parents.
        parent_level: String,
        /// The parent seen first.
        first: String,
        /// The other parent.
        second: String,
        /// The device whose location showed the second parent.
        device: DeviceId,
    },
    /// A weight that is negative, NaN, infinite or too large for the fixed-point format.
    #[error("device {device}: weight {value} is not a finite number in [0, 65535]")]
    InvalidWeight {
        /// The device.
        device: DeviceId,
        /// The rejected value, as text.
        value: String,
    },
    /// The level names are unusable (empty, duplicated, or reserved).
    #[error("invalid levels: {0}")]
    InvalidLevels(String),
    /// The map would have more devices than the library supports.
    #[error("too many devices: {0} (at most {max})", max = super::MAX_DEVICES)]
    TooManyDevices(usize),
    /// A snapshot or map file could not be read.
    #[error("snapshot rejected: {0}")]
    Snapshot(String),
}
