use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::reply::{Protocol, Reply};

fn decode_all(
    decoder: &mut RequestDecoder,
    buf: &mut BytesMut,
) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
    let mut commands = Vec::new();
    while let Some(args) = decoder.decode(buf)? {
        commands.push(args);
    }
    Ok(commands)
}

fn decode_bytes(bytes: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
    decode_all(
        &mut RequestDecoder::new(DecoderLimits::default()),
        &mut BytesMut::from(bytes),
    )
}

fn words(ws: &[&str]) -> Vec<Bytes> {
    ws.iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

#[test]
fn decodes_arrays_and_inline_commands() {
    assert_eq!(
        decode_bytes(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap(),
        vec![words(&["GET", "k"])]
    );
    assert_eq!(decode_bytes(b"PING\r\n").unwrap(), vec![words(&["PING"])]);
    assert_eq!(
        decode_bytes(b"SET a \"b c\"\n").unwrap(),
        vec![words(&["SET", "a", "b c"])]
    );
    assert_eq!(
        decode_bytes(b"ECHO \"\\x41\\n\" 'it\\'s'\r\n").unwrap(),
        vec![words(&["ECHO", "A\n", "it's"])]
    );
}

#[test]
fn empty_arrays_and_blank_lines_carry_no_command() {
    assert_eq!(
        decode_bytes(b"*0\r\n*-1\r\n\r\nPING\r\n").unwrap(),
        vec![words(&["PING"])]
    );
}

#[test]
fn incomplete_input_is_not_an_error() {
    for prefix in [
        &b"*2\r\n$3\r\nGE"[..],
        b"*2",
        b"$",
        b"PIN",
        b"*1\r\n$3\r\nGET\r",
    ] {
        let mut buf = BytesMut::from(prefix);
        assert_eq!(
            RequestDecoder::new(DecoderLimits::default()).decode(&mut buf),
            Ok(None)
        );
    }
}

#[test]
fn a_declared_gigabyte_bulk_is_refused() {
    let error = decode_bytes(b"*1\r\n$1000000000\r\n").unwrap_err();
    assert_eq!(error.to_string(), "Protocol error: invalid bulk length");
}

#[test]
fn malformed_lengths_use_redis_wording() {
    let cases: [(&[u8], &str); 6] = [
        (b"*1\r\n$-7\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$x\r\n", "Protocol error: invalid bulk length"),
        (b"*x\r\n", "Protocol error: invalid multibulk length"),
        (b"*1048577\r\n", "Protocol error: invalid multibulk length"),
        (b"*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"),
        (
            b"*1\r\n$1\r\nab\r\n",
            "Protocol error: expected CRLF after bulk",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            decode_bytes(input).unwrap_err().to_string(),
            expected,
            "{input:?}"
        );
    }
    let long_line = vec![b'a'; 70 * 1024];
    assert_eq!(
        decode_bytes(&long_line).unwrap_err(),
        ProtocolError::TooBigInline
    );
    assert_eq!(
        decode_bytes(b"ECHO \"open\r\n").unwrap_err(),
        ProtocolError::UnbalancedQuotes
    );
}

#[test]
fn declared_sizes_are_never_reserved() {
    // Goal: a client cannot make the server allocate what it only declared. Method: declare
    // a million-element array and a large legal bulk, send few bytes, and check what the
    // decoder holds.
    let mut decoder = RequestDecoder::new(DecoderLimits::default());
    let mut buf = BytesMut::from(&b"*1048576\r\n$65536\r\nabc"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    let (args, declared) = decoder.partial.as_ref().expect("array in progress");
    assert_eq!(*declared, 1_048_576);
    assert!(args.capacity() < 64, "reserved {} slots", args.capacity());
    assert!(buf.capacity() < 4096, "buffer grew to {}", buf.capacity());
}

#[test]
fn replies_encode_per_protocol() {
    let encode = |reply: &Reply, protocol| {
        let mut out = BytesMut::new();
        encode_reply(reply, protocol, &mut out);
        out
    };
    assert_eq!(&encode(&Reply::Null, Protocol::Resp2)[..], b"$-1\r\n");
    assert_eq!(&encode(&Reply::Null, Protocol::Resp3)[..], b"_\r\n");
    let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Integer(1))]);
    assert_eq!(
        &encode(&map, Protocol::Resp2)[..],
        b"*2\r\n$1\r\na\r\n:1\r\n"
    );
    assert_eq!(
        &encode(&map, Protocol::Resp3)[..],
        b"%1\r\n$1\r\na\r\n:1\r\n"
    );
    assert_eq!(
        &encode(&Reply::Verbatim("x".into()), Protocol::Resp3)[..],
        b"=5\r\ntxt:x\r\n"
    );
    assert_eq!(
        &encode(&Reply::error("ERR x"), Protocol::Resp2)[..],
        b"-ERR x\r\n"
    );
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 ]{0,12}".prop_map(Reply::Simple),
        "[A-Z]{1,5} [a-z ]{0,10}".prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Reply::Bulk(Bytes::from(b))),
        Just(Reply::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Array),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Reply::Map),
            proptest::collection::vec(inner, 0..3).prop_map(Reply::Set),
        ]
    })
}

/// RESP2 has no map or set: they arrive as arrays.
fn as_resp2(reply: Reply) -> Reply {
    match reply {
        Reply::Array(items) | Reply::Set(items) => {
            Reply::Array(items.into_iter().map(as_resp2).collect())
        }
        Reply::Map(pairs) => Reply::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [as_resp2(k), as_resp2(v)])
                .collect(),
        ),
        other => other,
    }
}

proptest! {
    #[test]
    fn replies_round_trip(reply in arb_reply()) {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            let mut buf = BytesMut::new();
            encode_reply(&reply, protocol, &mut buf);
            let decoded = decode_reply(&mut buf).unwrap().expect("complete");
            let expected = if protocol == Protocol::Resp3 { reply.clone() } else { as_resp2(reply.clone()) };
            prop_assert_eq!(decoded, expected);
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn any_split_decodes_to_the_same_commands(
        commands in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from), 1..4), 1..5),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut stream = BytesMut::new();
        for args in &commands {
            encode_request(args, &mut stream);
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut decoder = RequestDecoder::new(DecoderLimits::default());
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([stream.len()]) {
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            decoded.extend(decode_all(&mut decoder, &mut buf).unwrap());
        }
        prop_assert_eq!(decoded, commands);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_bytes(&bytes);
        let _ = decode_reply(&mut BytesMut::from(&bytes[..]));
    }

    #[test]
    fn replies_split_anywhere_decode_once_complete(reply in arb_reply(), cut in any::<prop::sample::Index>()) {
        let mut full = BytesMut::new();
        encode_reply(&reply, Protocol::Resp3, &mut full);
        let cut = cut.index(full.len());
        let mut partial = BytesMut::from(&full[..cut]);
        prop_assert_eq!(decode_reply(&mut partial).unwrap(), None);
        prop_assert_eq!(partial.len(), cut, "an incomplete reply must not be consumed");
    }
}
