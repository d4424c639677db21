//! What the server answers: a RESP value that encodes as RESP2 or RESP3 depending on the
//! protocol the connection chose with `HELLO`.

use bytes::Bytes;

/// The protocol a connection speaks. Every connection starts in RESP2; `HELLO 3` switches it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2: nulls are `$-1`, maps are flat arrays.
    #[default]
    Resp2,
    /// RESP3: typed nulls (`_`), maps (`%`), sets (`~`), ...
    Resp3,
}

/// A reply value. Encoding (in [`crate::resp`]) maps each variant to the connection's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+<text>`: a status such as `OK` or `PONG`. Must not contain CR or LF.
    Simple(String),
    /// `-<text>`: an error; the text starts with its code (`ERR`, `MOVED`, `NOQUORUM`, ...).
    /// Must not contain CR or LF.
    Error(String),
    /// `:<n>`.
    Integer(i64),
    /// `$<len>` and the bytes.
    Bulk(Bytes),
    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array, `*-1` in RESP2 (`_` in RESP3): EXEC's reply when a watched key changed.
    NullArray,
    /// `*<n>` and the elements.
    Array(Vec<Reply>),
    /// RESP3 `%<n>` map; a flat array of keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~<n>` set; an array in RESP2.
    Set(Vec<Reply>),
    /// RESP3 `=<len>` verbatim string with a three-letter format (`txt`); a bulk string in RESP2.
    Verbatim(String),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_owned())
    }

    /// An error reply. `text` starts with the error code, e.g. `ERR syntax error`.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string from anything that converts to bytes.
    pub fn bulk(bytes: impl Into<Bytes>) -> Reply {
        Reply::Bulk(bytes.into())
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
