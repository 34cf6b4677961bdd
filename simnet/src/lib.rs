//! Many dims nodes in one process or on loopback: scenarios, faults, a leak oracle and propagation benchmarks.
//!
//! Not built yet: the simnet issue fills it once federation exists.
