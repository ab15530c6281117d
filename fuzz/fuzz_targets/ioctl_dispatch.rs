//! The raw ioctl boundary: every request number the dispatcher knows (plus the TIME32 forms
//! and arbitrary numbers) with arbitrary argument bytes, sizes and EXT_CTRLS arrays, sent by
//! any of four openers of a device that is already streaming (a producer, a consumer and
//! two idle openers). After every call the model's invariants and the world checks hold
//! (no held frame changes, poll readiness matches DQBUF, mappings are backed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loopcam_core::testing::ops::{Op, World};

fuzz_target!(|data: &[u8]| {
    if let Some((&flags, data)) = data.split_first() {
        let world = World::streaming(World::fuzz_config(flags));
        if let Err(e) = world.run(&Op::decode_raw_all(data)) {
            panic!("{e}");
        }
    }
});
