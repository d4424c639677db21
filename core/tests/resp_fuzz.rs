//! RESP fuzzing (issue 13, point 8): byte streams through the request decoder, the
//! connection's session and the command parser, as a connection feeds them. No panic, no
//! allocation beyond what the bytes that arrived justify, and well-formed streams decode to
//! exactly the commands that were encoded.
//!
//! Method: a property test. Each case is one connection: a stream made of random bytes, or of
//! frames that are valid, nearly valid or hostile (every command in [`COMMANDS`] and its
//! subcommands with random arguments, arrays of bulks with wrong or huge declared lengths,
//! inline commands with quotes and escapes, mutated encodings), cut into chunks at random
//! points and fed to a [`RequestDecoder`] chunk by chunk. Every decoded command goes through
//! [`Session::handle_args`] (which parses it with [`seshat_core::Call::parse`]); every reply
//! is encoded in the session's protocol. A protocol error or QUIT ends the connection, as in
//! the server. While the decoder runs, a counting allocator records the largest single
//! allocation; it must stay within [`ALLOCATION_FACTOR`] times the bytes fed so far, plus
//! [`ALLOCATION_SLACK_BYTES`], so a declared length never reserves memory by itself.
//!
//! Cases: `PROPTEST_CASES` (default 2000, about a second). The long run, 10M cases:
//! `PROPTEST_CASES=10000000 cargo test --release -p seshat-core --test resp_fuzz --
//! --nocapture`. Each run prints its case count, what the cases held, and its time.
#![allow(clippy::disallowed_methods)] // Reads PROPTEST_CASES and times the run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use seshat_core::cmd::{CommandLimits, COMMANDS};
use seshat_core::resp::{encode_reply, encode_request, DecoderLimits, RequestDecoder};
use seshat_core::session::{Action, Session};
use seshat_core::ClientId;

const CASES_DEFAULT: u32 = 2000;

/// The decoder's largest allocation, per byte fed: an argument handle (`Bytes`, 32 bytes) per
/// two bytes of an inline line at most, and a vector that grows by doubling.
const ALLOCATION_FACTOR: usize = 64;
/// ... plus this much, for the first small allocations.
const ALLOCATION_SLACK_BYTES: usize = 4096;

/// Records the largest single allocation made while `ARMED` is set. The test binary holds
/// this one test, and proptest runs its cases on the test's thread, so nothing else
/// allocates while it is armed.
struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn note(size: usize) {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(size, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the counters are atomics
// and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Totals over the run, printed at the end.
static CASES_RUN: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static COMMANDS_DECODED: AtomicU64 = AtomicU64::new(0);
static PROTOCOL_ERRORS: AtomicU64 = AtomicU64::new(0);
static VALID_STREAMS: AtomicU64 = AtomicU64::new(0);

/// One piece of a stream, and the command it must decode to if it is well formed.
#[derive(Clone, Debug)]
struct Frame {
    bytes: Vec<u8>,
    /// `Some(args)` for a well-formed command (`Some(vec![])` for one that carries none: an
    /// empty array, a blank line); `None` for anything else.
    expected: Option<Vec<Vec<u8>>>,
}

/// A command word in the case a client might send it.
fn cased(word: &str, style: u8) -> Vec<u8> {
    match style % 3 {
        0 => word.to_ascii_uppercase().into_bytes(),
        1 => word.as_bytes().to_vec(),
        _ => word
            .bytes()
            .enumerate()
            .map(|(i, b)| {
                if i % 2 == 0 {
                    b.to_ascii_uppercase()
                } else {
                    b
                }
            })
            .collect(),
    }
}

/// Every command and subcommand name the server knows, as the words that invoke it.
fn command_names() -> Vec<Vec<&'static str>> {
    let mut names = Vec::new();
    for spec in COMMANDS {
        names.push(vec![spec.name]);
        for sub in spec.subcommands {
            names.push(sub.name.split('|').collect());
        }
    }
    names
}

/// An argument a command might meet: numbers at their edges, option words, patterns (the
/// sixty-star one among them), binary junk, and sizes just past the limits.
fn argument() -> impl Strategy<Value = Vec<u8>> {
    let words = proptest::sample::select(vec![
        "0",
        "1",
        "-1",
        "3",
        "100",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "01",
        "+1",
        "1.5",
        "",
        " ",
        "NX",
        "XX",
        "GET",
        "EX",
        "PX",
        "EXAT",
        "PXAT",
        "KEEPTTL",
        "IDLETIME",
        "REPLACE",
        "DB",
        "COUNT",
        "MATCH",
        "TYPE",
        "WITHSCORES",
        "HELP",
        "ID",
        "SETNAME",
        "GETNAME",
        "AUTH",
        "default",
        "SETINFO",
        "LIB-NAME",
        "LIB-VER",
        "DOCS",
        "INFO",
        "LIST",
        "FILTERBY",
        "ACLCAT",
        "PATTERN",
        "MODULE",
        "*",
        "**",
        "?",
        "[",
        "[a-",
        "\\",
        "save",
        "maxmemory*",
        "2",
        "4",
        "all",
        "everything",
        "default",
        "raft",
        "server",
        "keyspace",
        "slots",
        "nodes",
        "myid",
        "shards",
        "keyslot",
        "info",
    ]);
    prop_oneof![
        80 => words.prop_map(|w| w.as_bytes().to_vec()),
        40 => proptest::collection::vec(any::<u8>(), 0..12),
        20 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        4 => Just([b"*".repeat(60), b"Z".to_vec()].concat()),
        4 => (250usize..262).prop_map(|n| vec![b'k'; n]),
        1 => (65_530usize..65_542).prop_map(|n| vec![b'v'; n]),
    ]
}

/// A command's arguments: a known name (in any case, or now and then an unknown one) and
/// random arguments.
fn command_args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let names = command_names();
    let name = prop_oneof![
        12 => (proptest::sample::select(names), any::<u8>())
            .prop_map(|(words, style)| words.iter().map(|w| cased(w, style)).collect::<Vec<_>>()),
        1 => proptest::collection::vec(any::<u8>(), 0..8).prop_map(|w| vec![w]),
    ];
    (name, proptest::collection::vec(argument(), 0..6)).prop_map(|(mut args, rest)| {
        args.extend(rest);
        args
    })
}

fn encoded(args: &[Vec<u8>]) -> Vec<u8> {
    let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    let mut out = BytesMut::new();
    encode_request(&args, &mut out);
    out.to_vec()
}

/// A well-formed array command.
fn array_command() -> impl Strategy<Value = Frame> {
    command_args().prop_map(|args| Frame {
        bytes: encoded(&args),
        expected: Some(args),
    })
}

/// A well-formed inline command: words with no whitespace or quotes, space separated (a word
/// that would break that, or a `*` that would start an array, is changed, never rejected:
/// rejections would stall a run of millions of cases).
fn inline_command() -> impl Strategy<Value = Frame> {
    let plain = |b: u8| {
        if b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'*') {
            b'x'
        } else {
            b
        }
    };
    let word = proptest::collection::vec(any::<u8>().prop_map(plain), 1..8);
    (
        command_args(),
        proptest::collection::vec(word, 0..3),
        any::<bool>(),
    )
        .prop_map(move |(args, extra, crlf)| {
            let mut words: Vec<Vec<u8>> = args
                .into_iter()
                .chain(extra)
                .filter(|w| !w.is_empty())
                .map(|w| w.into_iter().map(plain).collect())
                .collect();
            if words.is_empty() {
                words.push(b"PING".to_vec());
            }
            let mut bytes = words.join(&b' ');
            bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            Frame {
                bytes,
                expected: Some(words),
            }
        })
}

/// A length header as a hostile client writes one.
fn length() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0i64..8).prop_map(|n| n.to_string()),
        1 => Just("-1".to_owned()),
        1 => Just("-7".to_owned()),
        1 => Just("1048576".to_owned()),
        1 => Just("1048577".to_owned()),
        1 => Just("66560".to_owned()),
        1 => Just("1000000000".to_owned()),
        1 => Just("99999999999999999999999".to_owned()),
        1 => Just("+3".to_owned()),
        1 => Just(" 3".to_owned()),
        1 => Just("3 ".to_owned()),
        1 => Just("".to_owned()),
        1 => Just("x".to_owned()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// An array whose declared lengths need not match what follows.
fn lying_array() -> impl Strategy<Value = Frame> {
    let bulk = (
        length(),
        proptest::collection::vec(any::<u8>(), 0..10),
        any::<u8>(),
    );
    (length(), proptest::collection::vec(bulk, 0..4)).prop_map(|(count, bulks)| {
        let mut bytes = format!("*{count}\r\n").into_bytes();
        for (len, body, ending) in bulks {
            bytes.extend_from_slice(format!("${len}\r\n").as_bytes());
            bytes.extend_from_slice(&body);
            bytes.extend_from_slice(match ending % 4 {
                0 => &b"\r\n"[..],
                1 => b"\n",
                2 => b"",
                _ => b"\r",
            });
        }
        Frame {
            bytes,
            expected: None,
        }
    })
}

/// An inline line with quotes, escapes and control bytes, balanced or not.
fn tricky_inline() -> impl Strategy<Value = Frame> {
    let piece = proptest::sample::select(vec![
        "SET", "GET", "ECHO", "PING", " ", "\t", "\"", "'", "\\", "\\x41", "\\x4", "\\xZZ", "\\n",
        "\\'", "\"a b\"", "'c d'", "\"\"", "\"x\"y", "\r", "\0", "k", "v",
    ]);
    (proptest::collection::vec(piece, 0..10), any::<bool>()).prop_map(|(pieces, end)| {
        let mut bytes = pieces.concat().into_bytes();
        if end {
            bytes.extend_from_slice(b"\r\n");
        }
        Frame {
            bytes,
            expected: None,
        }
    })
}

/// A valid command, then damaged: a byte flipped, inserted or removed, or cut short.
fn mutated_command() -> impl Strategy<Value = Frame> {
    (
        array_command(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..4),
    )
        .prop_map(|(frame, edits)| {
            let mut bytes = frame.bytes;
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    break;
                }
                let at = at.index(bytes.len());
                match kind {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    2 => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            Frame {
                bytes,
                expected: None,
            }
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        6 => array_command(),
        2 => inline_command(),
        1 => Just(Frame { bytes: b"*0\r\n".to_vec(), expected: Some(Vec::new()) }),
        1 => Just(Frame { bytes: b"\r\n".to_vec(), expected: Some(Vec::new()) }),
        3 => lying_array(),
        2 => tricky_inline(),
        3 => mutated_command(),
        1 => proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|bytes| Frame { bytes, expected: None }),
        1 => proptest::sample::select(vec![
            &b"*1048576\r\n"[..], b"*1048576\r\n$65536\r\n", b"$1000000000\r\n",
            b"*2\r\n$1000000000\r\n", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$66560\r\n",
            b"*-1\r\n", b"*99999999999999999999\r\n",
        ])
        .prop_map(|bytes| Frame { bytes: bytes.to_vec(), expected: None }),
    ]
}

/// One connection's bytes: frames, or pure noise, and where the reads cut them.
#[derive(Clone, Debug)]
struct Stream {
    frames: Vec<Frame>,
    cuts: Vec<prop::sample::Index>,
    protocol_3: bool,
}

fn stream() -> impl Strategy<Value = Stream> {
    let frames = prop_oneof![
        6 => proptest::collection::vec(frame(), 1..6),
        1 => proptest::collection::vec(any::<u8>(), 0..512)
            .prop_map(|bytes| vec![Frame { bytes, expected: None }]),
    ];
    (
        frames,
        proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(frames, cuts, protocol_3)| Stream {
            frames,
            cuts,
            protocol_3,
        })
}

fn run_case(stream: &Stream) -> Result<(), TestCaseError> {
    let bytes: Vec<u8> = stream.frames.iter().flat_map(|f| f.bytes.clone()).collect();
    let expected: Option<Vec<Vec<Vec<u8>>>> =
        stream.frames.iter().try_fold(Vec::new(), |mut all, f| {
            let args = f.expected.as_ref()?;
            if !args.is_empty() {
                all.push(args.clone());
            }
            Some(all)
        });
    CASES_RUN.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let limits = CommandLimits::default();
    let mut session = Session::new(ClientId(1), limits.clone());
    if stream.protocol_3 {
        let hello = vec![Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")];
        let _ = session.handle_args(hello, 1);
    }
    let mut decoder =
        RequestDecoder::new(DecoderLimits::for_value_bytes_max(limits.value_bytes_max));
    let mut points: Vec<usize> = stream
        .cuts
        .iter()
        .map(|c| c.index(bytes.len() + 1))
        .collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut decoded: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut ended = false;
    let mut out = BytesMut::new();
    'reads: for end in points {
        buf.extend_from_slice(&bytes[fed..end]);
        fed = end;
        loop {
            let capacity = buf.capacity();
            LARGEST.store(0, Ordering::Relaxed);
            ARMED.store(true, Ordering::Relaxed);
            let next = decoder.decode(&mut buf);
            ARMED.store(false, Ordering::Relaxed);
            let largest = LARGEST.load(Ordering::Relaxed);
            prop_assert!(
                largest <= ALLOCATION_FACTOR * fed + ALLOCATION_SLACK_BYTES,
                "the decoder allocated {largest} bytes after {fed} bytes arrived"
            );
            prop_assert!(buf.capacity() <= capacity, "the decoder grew the buffer");
            let args = match next {
                Ok(Some(args)) => args,
                Ok(None) => break,
                Err(error) => {
                    // The server answers and closes.
                    PROTOCOL_ERRORS.fetch_add(1, Ordering::Relaxed);
                    prop_assert!(error.to_string().starts_with("Protocol error"));
                    ended = true;
                    break 'reads;
                }
            };
            prop_assert!(!args.is_empty(), "an empty command was handed out");
            COMMANDS_DECODED.fetch_add(1, Ordering::Relaxed);
            decoded.push(args.iter().map(|a| a.to_vec()).collect());
            let action = session.handle_args(args, 1);
            let protocol = session.protocol();
            match action {
                Action::Reply(reply) => encode_reply(&reply, protocol, &mut out),
                Action::Forward(_) => {}
                Action::Close(reply) => {
                    encode_reply(&reply, protocol, &mut out);
                    ended = true;
                    break 'reads;
                }
            }
            out.clear();
        }
    }
    if let Some(expected) = expected {
        VALID_STREAMS.fetch_add(1, Ordering::Relaxed);
        if ended {
            // QUIT ends the connection: what came before it decoded as sent.
            prop_assert!(decoded.len() <= expected.len());
            prop_assert_eq!(&decoded[..], &expected[..decoded.len()]);
        } else {
            prop_assert_eq!(decoded, expected);
        }
    }
    Ok(())
}

#[test]
fn resp_streams_neither_crash_nor_overallocate() {
    let cases = std::env::var("PROPTEST_CASES")
        .map(|n| n.parse().expect("PROPTEST_CASES is a number"))
        .unwrap_or(CASES_DEFAULT);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let result = runner.run(&stream(), |stream| run_case(&stream));
    println!(
        "resp_fuzz: {} cases of {cases} ({} bytes, {} commands decoded, {} protocol errors, {} \
         well-formed streams checked) in {:.1?}",
        CASES_RUN.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
        COMMANDS_DECODED.load(Ordering::Relaxed),
        PROTOCOL_ERRORS.load(Ordering::Relaxed),
        VALID_STREAMS.load(Ordering::Relaxed),
        started.elapsed()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
