//! The sync frame decoder: bytes off a peer's stream through the codec (length prefix,
//! size limit, frame budget), then decoded as a request or a response. Nothing may panic;
//! whatever decodes must encode back to the same message.
#![no_main]

use std::sync::LazyLock;

use guild_daemon::net::limits;
use guild_daemon::net::wire::{self, Request, Response};
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec as _;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
});

fn round_trips<T>(bytes: &[u8]) -> Option<T>
where
    T: serde::Serialize + for<'a> serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    let message: T = wire::decode(bytes).ok()?;
    let again = wire::encode(&message).expect("a decoded message encodes");
    assert_eq!(wire::decode::<T>(&again).ok().as_ref(), Some(&message));
    Some(message)
}

fuzz_target!(|data: &[u8]| {
    let mut reader = futures::io::Cursor::new(data);
    let read = RUNTIME.block_on(wire::Codec::default().read_request(&wire::PROTOCOL, &mut reader));
    if let Ok(frame) = read {
        assert!(frame.bytes.len() <= wire::MAX_FRAME);
        if frame.refused.is_none() {
            assert_eq!(frame.bytes.len() + 4, reader.position() as usize);
            if let Some(request) = round_trips::<Request>(&frame.bytes) {
                let _ = limits::check_request(&request);
            }
            if let Some(response) = round_trips::<Response>(&frame.bytes) {
                let _ = limits::check_response(&response);
            }
        }
    }
});
