//! RESP, the Redis protocol: an incremental request decoder, and encoders and a decoder for
//! replies in RESP2 and RESP3 (<https://redis.io/docs/latest/develop/reference/protocol-spec/>).
//!
//! The decoders are sans-IO: they read from a `BytesMut` the runtime fills, return `Ok(None)`
//! when a frame is not complete yet ("need more bytes" is not an error), and never allocate
//! what a peer merely declared: a length is checked against its limit as soon as its header is
//! read, and only bytes that arrived are ever held.

mod decode;
mod encode;

pub use decode::{decode_reply, DecoderLimits, ProtocolError, RequestDecoder, BULK_SLACK_BYTES};
pub use encode::{encode_reply, encode_request};

#[cfg(test)]
mod tests;
