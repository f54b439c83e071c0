//! Who is alive: heartbeat failure detection and disk health.
//!
//! This part decides, from heartbeat arrival times and per-device error reports that the
//! host feeds in, which nodes are alive, suspect or dead and which devices are healthy,
//! degraded, failed or silent. It leaves to the host everything that touches the world:
//! sending and receiving heartbeats, reading SMART data, and acting on the verdicts
//! ("mark the node down", "mark the device out and rebuild").
//!
//! * [`FailureDetector`]: an accrual (phi) failure detector over many nodes, with a pause
//!   allowance learned from each node's own pause history, a hard timeout, a suspect state
//!   that is not a conviction, flapping damping, and immunity to the host's own stalls.
//! * [`DiskHealth`]: healthy / degraded / failed / stale per device, from decaying error
//!   scores and SMART-style counters.
//! * [`trace`]: a deterministic heartbeat-trace generator and a replayer that scores any
//!   detector (false suspicions per node-hour, detection times, missed crashes).
//!
//! Both state machines follow the crate's rules: time is an argument, inputs are method
//! calls, outputs are drained with `poll_event()` (bounded queues whose overflow is
//! counted), and `next_deadline()` says when the next `tick(now)` matters.

#![forbid(unsafe_code)]

mod detector;
mod disk;
mod error;
pub mod trace;

pub use detector::{DetectorConfig, DetectorStats, FailureDetector, NodeEvent, NodeEventKind, NodeState};
pub use disk::{DeviceEvent, DeviceState, DiskConfig, DiskHealth, DiskReport};
pub use error::HealthError;
