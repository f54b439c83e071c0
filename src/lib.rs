//! # trimtab
//!
//! The decision core of a distributed storage cluster, as a library. A storage server links
//! it and asks: where does this placement group live, which copies must move when a rack is
//! added or a disk dies, how fast may they move, which node is dead, which side of a network
//! split may keep writing. The server owns threads, sockets, disks and clocks; trimtab owns
//! the decisions.
//!
//! ## Rules every part follows
//!
//! * **Sans-IO and deterministic.** No clock, thread, socket, file or random number is used
//!   inside the core. Time is an argument ([`Time`], monotonic nanoseconds chosen by the
//!   host); pseudo-randomness comes from seeded hashes of stable ids. The same inputs in the
//!   same order give the same outputs and the same serialized state, byte for byte.
//! * **Inputs in, outputs polled.** Inputs are method calls that take `now`; the passage of
//!   time is `tick(now)`; outputs are return values or events drained with `poll_event()`.
//!   The drain rule: *after each change, drain events until `poll_event()` returns `None`
//!   before making the next change*; events are kept in a bounded queue whose overflow is
//!   counted and reported, never silent.
//! * **A `now` older than the last one seen is treated as the last one seen**; time never
//!   runs backwards inside a part, and a repeated `tick(now)` is a no-op.
//! * **Bad input gets a typed error and changes nothing.** Every fallible call returns
//!   [`Error`] (or the part's own error, which converts into it) and leaves the state exactly
//!   as it was.
//!
//! ## Parts
//!
//! * [`topology`]: the cluster map: a tree of failure domains whose leaves are devices.
//! * [`placement`]: which devices hold each placement group, movement plans, the balancer.
//! * [`shared`]: a lock around a part for multi-threaded hosts, and an event sink that
//!   pushes a part's events to another thread.
//! * [`throttle`]: how many bytes a migration may send now (token buckets per node in/out and
//!   global, all-or-nothing, reservations, runtime rates, a load-following ceiling).
//! * [`migration`]: which move runs next (indexed heap, policies, aging, per-node caps,
//!   admission through the throttle, chunked grants, retry, cancel) and its simulation.
//! * [`partition`]: which side of a network split may serve: mutual reachability,
//!   components, quorum, viable leaders, partial partitions, recovery.
//! * [`health`]: who is alive: heartbeat failure detection (phi accrual with learned pause
//!   allowances, a hard timeout, a suspect state) and disk health from error reports.
//! * [`ffi`]: the C ABI over all of the above (header `include/trimtab.h`).
//!
//! ## Example
//!
//! ```
//! use trimtab::placement::{BalancerConfig, Placement, Rule, UpdatePolicy};
//! use trimtab::topology::regular_cluster;
//!
//! // 4 racks x 4 hosts x 6 disks of 4 TB; 3 replicas, never two in one rack.
//! let mut map = regular_cluster(&["rack", "host"], &[4, 4], 6, 4_000_000_000_000).unwrap();
//! let mut pool = Placement::compute(&map, &Rule::replicated(3, "rack"), 2048).unwrap();
//! pool.balance(&map, &BalancerConfig::default(), 100).unwrap();
//!
//! let pg = pool.object_to_pg(b"volume-7/object-42");
//! assert_eq!(pool.pg_devices(pg).unwrap().len(), 3);
//!
//! // A disk fails: only its shards move.
//! map.mark_out(5).unwrap();
//! let plan = pool.update(&map, UpdatePolicy::Pin).unwrap();
//! assert!(plan.moves.iter().all(|m| m.from == 5));
//! ```
//!
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod ffi;
pub mod hash;
pub mod health;
mod hint;
mod idindex;
pub mod migration;
pub mod partition;
pub mod placement;
pub mod shared;
pub mod throttle;
pub mod time;
pub mod topology;

pub use error::Error;
pub use time::Time;
