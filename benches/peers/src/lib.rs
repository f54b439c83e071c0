//! Shared helpers for the peer benchmarks (workload generators used by several benches).
