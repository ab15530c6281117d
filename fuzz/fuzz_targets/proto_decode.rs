//! The wire-protocol decoder on arbitrary datagrams (what a hostile peer can put on the
//! daemon's socket, or a hostile daemon on a client's): decoding never panics, and whatever
//! decodes re-encodes to a datagram that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loopcam_proto::{decode, encode, Request, Response, MAX_FDS};

fuzz_target!(|data: &[u8]| {
    // The fd count the kernel delivered with the datagram: 0..=MAX_FDS, taken from the
    // declared count half of the time so both agreeing and lying headers are explored.
    let nfds = match data.get(6..8) {
        Some(d) if data.len() % 2 == 0 => usize::from(u16::from_le_bytes([d[0], d[1]])),
        _ => data.len() % (MAX_FDS + 1),
    };
    if let Ok(req) = decode::<Request>(data, nfds) {
        let again = encode(&req, nfds).expect("a decoded request re-encodes");
        assert_eq!(decode::<Request>(&again, nfds).expect("round trip"), req);
    }
    if let Ok(resp) = decode::<Response>(data, nfds) {
        let again = encode(&resp, nfds).expect("a decoded response re-encodes");
        assert_eq!(decode::<Response>(&again, nfds).expect("round trip"), resp);
    }
});
