//! Property tests: random interleavings of operations from several openers (producers,
//! consumers, file I/O, format changes, timers). After every step the model's invariants must
//! hold (`Device::check_invariants`), a frame a consumer holds must never change, poll
//! readiness must equal "the next DQBUF/read/DQEVENT would succeed", and memory must return
//! to a small bound once everybody is gone.

use loopcam_core::testing::ops::{Op, World};
use loopcam_core::DeviceConfig;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let k = 0usize..6;
    prop_oneof![
        2 => Just(Op::Open),
        1 => k.clone().prop_map(Op::Close),
        2 => (k.clone(), any::<bool>(), 0u8..3).prop_map(|(k, d, s)| Op::SFmt(k, d, s)),
        3 => (k.clone(), any::<bool>(), 0u32..5).prop_map(|(k, d, c)| Op::Reqbufs(k, d, c)),
        2 => (k.clone(), 0u32..5).prop_map(|(k, i)| Op::Mmap(k, i)),
        6 => (k.clone(), any::<bool>(), 0u32..5).prop_map(|(k, d, i)| Op::Qbuf(k, d, i)),
        6 => (k.clone(), any::<bool>()).prop_map(|(k, d)| Op::Dqbuf(k, d)),
        3 => (k.clone(), any::<bool>()).prop_map(|(k, d)| Op::StreamOn(k, d)),
        1 => (k.clone(), any::<bool>()).prop_map(|(k, d)| Op::StreamOff(k, d)),
        6 => (k.clone(), 0u32..5).prop_map(|(k, i)| Op::Produce(k, i)),
        2 => k.clone().prop_map(Op::Write),
        2 => (k.clone(), 1u32..700_000).prop_map(|(k, n)| Op::Read(k, n)),
        2 => (k.clone(), 0u32..8).prop_map(|(k, e)| Op::Poll(k, e)),
        1 => (k.clone(), 0u8..3).prop_map(|(k, t)| Op::Subscribe(k, t)),
        1 => k.clone().prop_map(Op::DqEvent),
        1 => (0u8..3, 0i32..300).prop_map(|(c, v)| Op::Ctrl(c, v)),
        2 => (0u32..100).prop_map(Op::Advance),
        1 => (k.clone(), 0usize..8).prop_map(|(k, j)| Op::Munmap(k + j)),
        1 => (k.clone(), any::<bool>(), 0u32..4, 0u32..40_000).prop_map(|(k, d, c, s)| Op::CreateBufs(k, d, c, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_keep_every_invariant(ops in proptest::collection::vec(op(), 1..120), excl in any::<bool>(), strict in any::<bool>()) {
        let cfg = DeviceConfig { exclusive_caps: excl, strict_single_reader: strict, max_buffers: 4, ..DeviceConfig::default() };
        let mut w = World::new(cfg);
        for op in &ops {
            w.apply(op);
            w.check().map_err(TestCaseError::fail)?;
        }
        w.finish().map_err(TestCaseError::fail)?;
    }
}
