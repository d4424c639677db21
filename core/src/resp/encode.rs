//! Encoding replies (RESP2 or RESP3) and requests.

use bytes::{BufMut, Bytes, BytesMut};

use crate::reply::{Protocol, Reply};

/// Appends `reply` to `out` in `protocol`.
pub fn encode_reply(reply: &Reply, protocol: Protocol, out: &mut BytesMut) {
    match reply {
        Reply::Simple(text) => line(out, b'+', text.as_bytes()),
        Reply::Error(text) => line(out, b'-', text.as_bytes()),
        Reply::Integer(n) => line(out, b':', n.to_string().as_bytes()),
        Reply::Bulk(bytes) => bulk(out, bytes),
        Reply::Null => match protocol {
            Protocol::Resp2 => out.put_slice(b"$-1\r\n"),
            Protocol::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::NullArray => match protocol {
            Protocol::Resp2 => out.put_slice(b"*-1\r\n"),
            Protocol::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::Array(items) => {
            line(out, b'*', items.len().to_string().as_bytes());
            for item in items {
                encode_reply(item, protocol, out);
            }
        }
        Reply::Set(items) => {
            let kind = if protocol == Protocol::Resp3 {
                b'~'
            } else {
                b'*'
            };
            line(out, kind, items.len().to_string().as_bytes());
            for item in items {
                encode_reply(item, protocol, out);
            }
        }
        Reply::Map(pairs) => {
            match protocol {
                Protocol::Resp3 => line(out, b'%', pairs.len().to_string().as_bytes()),
                Protocol::Resp2 => line(out, b'*', (pairs.len() * 2).to_string().as_bytes()),
            }
            for (key, value) in pairs {
                encode_reply(key, protocol, out);
                encode_reply(value, protocol, out);
            }
        }
        Reply::Verbatim(text) => match protocol {
            Protocol::Resp2 => bulk(out, text.as_bytes()),
            Protocol::Resp3 => {
                line(out, b'=', (text.len() + 4).to_string().as_bytes());
                out.put_slice(b"txt:");
                out.put_slice(text.as_bytes());
                out.put_slice(b"\r\n");
            }
        },
    }
}

/// Appends a request (an array of bulk strings) to `out`.
pub fn encode_request(args: &[Bytes], out: &mut BytesMut) {
    line(out, b'*', args.len().to_string().as_bytes());
    for arg in args {
        bulk(out, arg);
    }
}

/// A one-line frame. CR and LF inside it would end the frame early, so they become spaces.
fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.put_u8(kind);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        debug_assert!(false, "a one-line reply contains CR or LF: {text:?}");
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    line(out, b'$', bytes.len().to_string().as_bytes());
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}
