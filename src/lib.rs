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
//! * [`health`]: who is alive: heartbeat failure detection (phi accrual with learned pause
//!   allowances, a hard timeout, a suspect state) and disk health from error reports.
//! * [`ffi`]: the C ABI over all of the above (header `include/trimtab.h`).
//!
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod ffi;
pub mod hash;
pub mod health;
pub mod time;

pub use error::Error;
pub use time::Time;
