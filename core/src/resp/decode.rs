//! Decoding: client requests (multibulk arrays and inline commands) and, for clients and
//! tests, replies.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use crate::reply::Reply;

/// Room for a bulk string's framing on top of the largest value: a SET's bulk may be
/// `max_value_size_bytes` long, and anything beyond is refused while parsing.
pub const BULK_SLACK_BYTES: usize = 1024;

/// Limits checked while parsing, before anything is allocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Longest bulk string accepted.
    pub bulk_bytes_max: usize,
    /// Most elements in one request array (Redis: 1,048,576).
    pub multibulk_len_max: usize,
    /// Longest inline command line (Redis: 64 KiB).
    pub inline_bytes_max: usize,
}

impl DecoderLimits {
    /// Limits for a server whose largest value is `value_bytes_max`.
    pub fn for_value_bytes_max(value_bytes_max: usize) -> DecoderLimits {
        DecoderLimits {
            bulk_bytes_max: value_bytes_max + BULK_SLACK_BYTES,
            ..DecoderLimits::default()
        }
    }
}

impl Default for DecoderLimits {
    fn default() -> Self {
        DecoderLimits {
            bulk_bytes_max: 65_536 + BULK_SLACK_BYTES,
            multibulk_len_max: 1_048_576,
            inline_bytes_max: 64 * 1024,
        }
    }
}

/// A malformed frame. The server answers `-ERR <this>` and closes the connection, because the
/// byte stream cannot be re-synchronised after it (Redis does the same).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A bulk length that is not a number, is negative, or exceeds the limit.
    InvalidBulkLength,
    /// An array length that is not a number or exceeds the limit.
    InvalidMultibulkLength,
    /// An inline command longer than the limit without a line end.
    TooBigInline,
    /// An inline command with an unbalanced quote.
    UnbalancedQuotes,
    /// A request array element that is not a bulk string.
    ExpectedBulk(u8),
    /// A bulk string not followed by CRLF.
    MissingCrlf,
    /// A reply of a type this decoder does not know, or nested too deep.
    InvalidReply(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::InvalidBulkLength => f.write_str("Protocol error: invalid bulk length"),
            ProtocolError::InvalidMultibulkLength => {
                f.write_str("Protocol error: invalid multibulk length")
            }
            ProtocolError::TooBigInline => f.write_str("Protocol error: too big inline request"),
            ProtocolError::UnbalancedQuotes => {
                f.write_str("Protocol error: unbalanced quotes in request")
            }
            ProtocolError::ExpectedBulk(got) => {
                write!(
                    f,
                    "Protocol error: expected '$', got '{}'",
                    char::from(*got)
                )
            }
            ProtocolError::MissingCrlf => f.write_str("Protocol error: expected CRLF after bulk"),
            ProtocolError::InvalidReply(why) => write!(f, "Protocol error: {why}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Decodes client requests from a growing buffer. Holds the parse position of a half-received
/// array between calls, so a large pipelined request is not re-scanned from its start.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    limits: DecoderLimits,
    /// Arguments of the array being received, and how many it declared.
    pub(super) partial: Option<(Vec<Bytes>, usize)>,
}

impl RequestDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: DecoderLimits) -> RequestDecoder {
        RequestDecoder {
            limits,
            partial: None,
        }
    }

    /// Takes the next complete command off the front of `buf`: its arguments, or `Ok(None)`
    /// when more bytes are needed. Empty arrays and empty inline lines are skipped, as Redis
    /// skips them.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if let Some((args, declared)) = &mut self.partial {
                while args.len() < *declared {
                    match parse_bulk(buf, self.limits.bulk_bytes_max)? {
                        Some(arg) => args.push(arg),
                        None => return Ok(None),
                    }
                }
                let (args, _) = self.partial.take().expect("checked above");
                return Ok(Some(args));
            }
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first != b'*' {
                match self.decode_inline(buf)? {
                    Some(args) if args.is_empty() => continue,
                    other => return Ok(other),
                }
            }
            let Some(line) =
                take_line(buf, 1 + 20).map_err(|()| ProtocolError::InvalidMultibulkLength)?
            else {
                return Ok(None);
            };
            let declared = parse_int(&line[1..]).ok_or(ProtocolError::InvalidMultibulkLength)?;
            if declared > self.limits.multibulk_len_max as i64 {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if declared <= 0 {
                continue; // `*0` and `*-1` carry no command.
            }
            // Reserve for the arguments that fit the bytes already here, never for the count
            // a client merely declared.
            let declared = declared as usize;
            let capacity = declared.min(buf.len() / 4 + 1);
            self.partial = Some((Vec::with_capacity(capacity), declared));
        }
    }

    /// An inline command: one line of space-separated words, with Redis's quoting.
    fn decode_inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > self.limits.inline_bytes_max {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(None);
        };
        if newline > self.limits.inline_bytes_max {
            return Err(ProtocolError::TooBigInline);
        }
        let line = buf.split_to(newline + 1);
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        split_inline(line).map(Some)
    }
}

/// Splits an inline command into words: whitespace separates, `"..."` allows escapes
/// (`\n`, `\r`, `\t`, `\\`, `\"`, `\xHH`), `'...'` is literal but for `\'` (Redis's
/// `sdssplitargs`).
fn split_inline(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if line[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mut word = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    let Some(&c) = line.get(i) else {
                        return Err(ProtocolError::UnbalancedQuotes);
                    };
                    match c {
                        b'\\'
                            if line.get(i + 1) == Some(&b'x')
                                && line.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                                && line.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
                        {
                            let hex = std::str::from_utf8(&line[i + 2..i + 4]).expect("ascii");
                            word.push(u8::from_str_radix(hex, 16).expect("hex digits"));
                            i += 4;
                        }
                        b'\\' if i + 1 < line.len() => {
                            word.push(match line[i + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => other,
                            });
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                                return Err(ProtocolError::UnbalancedQuotes);
                            }
                            break;
                        }
                        _ => {
                            word.push(c);
                            i += 1;
                        }
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    let Some(&c) = line.get(i) else {
                        return Err(ProtocolError::UnbalancedQuotes);
                    };
                    match c {
                        b'\\' if line.get(i + 1) == Some(&b'\'') => {
                            word.push(b'\'');
                            i += 2;
                        }
                        b'\'' => {
                            i += 1;
                            if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                                return Err(ProtocolError::UnbalancedQuotes);
                            }
                            break;
                        }
                        _ => {
                            word.push(c);
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    word.push(line[i]);
                    i += 1;
                }
            }
        }
        words.push(Bytes::from(word));
    }
    Ok(words)
}

/// Takes one `$<len>\r\n<bytes>\r\n` off the front of `buf`, or `None` if incomplete. The
/// length is checked before anything is reserved.
fn parse_bulk(buf: &mut BytesMut, bulk_bytes_max: usize) -> Result<Option<Bytes>, ProtocolError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'$' {
        return Err(ProtocolError::ExpectedBulk(first));
    }
    let Some(header_len) = line_len(buf, 1 + 20).map_err(|()| ProtocolError::InvalidBulkLength)?
    else {
        return Ok(None);
    };
    let len = parse_int(&buf[1..header_len - 2]).ok_or(ProtocolError::InvalidBulkLength)?;
    if len < 0 || len as u64 > bulk_bytes_max as u64 {
        return Err(ProtocolError::InvalidBulkLength);
    }
    let len = len as usize;
    if buf.len() < header_len + len + 2 {
        return Ok(None);
    }
    if &buf[header_len + len..header_len + len + 2] != b"\r\n" {
        return Err(ProtocolError::MissingCrlf);
    }
    buf.advance(header_len);
    let bulk = buf.split_to(len).freeze();
    buf.advance(2);
    Ok(Some(bulk))
}

/// The length of the first line of `buf` including its CRLF, `Ok(None)` if no CRLF has arrived
/// yet, or `Err` if `line_bytes_max` bytes arrived without one.
fn line_len(buf: &[u8], line_bytes_max: usize) -> Result<Option<usize>, ()> {
    let window = &buf[..buf.len().min(line_bytes_max + 2)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(at) => Ok(Some(at + 2)),
        None if buf.len() >= line_bytes_max + 2 => Err(()),
        None => Ok(None),
    }
}

/// Splits off the first line (without its CRLF).
fn take_line(buf: &mut BytesMut, line_bytes_max: usize) -> Result<Option<BytesMut>, ()> {
    let Some(len) = line_len(buf, line_bytes_max)? else {
        return Ok(None);
    };
    let mut line = buf.split_to(len);
    line.truncate(len - 2);
    Ok(Some(line))
}

fn parse_int(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Nesting of reply aggregates accepted at most.
const REPLY_DEPTH_MAX: usize = 32;

/// Decodes one reply (RESP2 or RESP3) off the front of `buf`, or `Ok(None)` if it has not fully
/// arrived. Used by clients (the simulator's, the tests'); servers decode requests with
/// [`RequestDecoder`].
pub fn decode_reply(buf: &mut BytesMut) -> Result<Option<Reply>, ProtocolError> {
    let mut cursor = 0;
    match parse_reply(buf, &mut cursor, 0)? {
        Some(reply) => {
            buf.advance(cursor);
            Ok(Some(reply))
        }
        None => Ok(None),
    }
}

/// Parses a reply starting at `*at` without consuming; advances `*at` past it.
fn parse_reply(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Reply>, ProtocolError> {
    if depth > REPLY_DEPTH_MAX {
        return Err(ProtocolError::InvalidReply(
            "replies nested too deep".to_owned(),
        ));
    }
    let rest = &buf[*at..];
    let Some(&kind) = rest.first() else {
        return Ok(None);
    };
    let invalid = |why: &str| ProtocolError::InvalidReply(why.to_owned());
    let Some(len) = line_len(rest, 64 * 1024).map_err(|()| invalid("line too long"))? else {
        return Ok(None);
    };
    let line = &rest[1..len - 2];
    let text = || String::from_utf8_lossy(line).into_owned();
    let start = *at;
    *at += len;
    let count = |line: &[u8]| parse_int(line).ok_or_else(|| invalid("bad length"));
    let reply = match kind {
        b'+' => Reply::Simple(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Integer(count(line)?),
        b'_' => Reply::Null,
        b'#' => Reply::Integer(i64::from(line == b"t")),
        b',' | b'(' => Reply::Simple(text()),
        b'$' | b'=' => {
            let n = count(line)?;
            if n < 0 {
                return Ok(Some(Reply::Null));
            }
            let n = n as usize;
            if buf.len() < *at + n + 2 {
                *at = start;
                return Ok(None);
            }
            let bytes = &buf[*at..*at + n];
            if &buf[*at + n..*at + n + 2] != b"\r\n" {
                return Err(invalid("expected CRLF after bulk"));
            }
            *at += n + 2;
            if kind == b'=' {
                // Drop the three-letter format and its colon.
                let body = bytes.get(4..).unwrap_or_default();
                Reply::Verbatim(String::from_utf8_lossy(body).into_owned())
            } else {
                Reply::Bulk(Bytes::copy_from_slice(bytes))
            }
        }
        b'*' | b'~' | b'%' => {
            let n = count(line)?;
            if n < 0 {
                let null = if kind == b'*' {
                    Reply::NullArray
                } else {
                    Reply::Null
                };
                return Ok(Some(null));
            }
            let elements = if kind == b'%' {
                n as usize * 2
            } else {
                n as usize
            };
            // Each element takes at least three bytes: never reserve more than arrived.
            let mut items = Vec::with_capacity(elements.min((buf.len() - *at) / 3));
            for _ in 0..elements {
                match parse_reply(buf, at, depth + 1)? {
                    Some(item) => items.push(item),
                    None => {
                        *at = start;
                        return Ok(None);
                    }
                }
            }
            match kind {
                b'*' => Reply::Array(items),
                b'~' => Reply::Set(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut items = items.into_iter();
                    while let (Some(k), Some(v)) = (items.next(), items.next()) {
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
            }
        }
        other => {
            return Err(invalid(&format!(
                "unknown reply type '{}'",
                char::from(other)
            )))
        }
    };
    Ok(Some(reply))
}
