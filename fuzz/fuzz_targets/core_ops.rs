//! The device model driven by arbitrary sequences of operations from up to six openers:
//! open/close, formats, REQBUFS/CREATE_BUFS with any size, mmap/munmap with any offset and
//! protection, QBUF/DQBUF, STREAMON/OFF, produce, read/write of any length, poll, events,
//! controls, time, and raw ioctls with random bytes. After every step the model's
//! invariants and the world checks hold; after everyone closes, memory is back to a bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loopcam_core::testing::ops::{Op, World};

fuzz_target!(|data: &[u8]| {
    if let Some((&flags, data)) = data.split_first() {
        if let Err(e) = World::new(World::fuzz_config(flags)).run(&Op::decode_all(data)) {
            panic!("{e}");
        }
    }
});
