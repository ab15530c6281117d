//! Time as an input: core never reads a clock. The host passes CLOCK_MONOTONIC nanoseconds to
//! every call that can stamp a frame or an event, and drives timers through `Device::tick`.

/// CLOCK_MONOTONIC time in nanoseconds.
pub type Nanos = u64;

/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
