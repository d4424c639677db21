//! LCS, the longest common subsequence of two strings
//! (<https://redis.io/docs/latest/commands/lcs/>), as Redis 7.0's `lcsCommand` computes it:
//! the textbook table of prefix LCS lengths, walked back from the end, its ties broken the
//! same way so that the subsequence and the ranges IDX lists are Redis's own.
//!
//! The table has `(len1 + 1) * (len2 + 1)` cells of 4 bytes. Redis refuses it past
//! `proto-max-bulk-len` (512 MiB, 2^27 cells); a read here runs on the node's driver, so the
//! bound is smaller, [`TABLE_CELLS_MAX`], and beyond it LCS answers an error.

use bytes::Bytes;

use crate::cmd::counter::parse_integer;
use crate::cmd::keys::TWO_KEYS;
use crate::cmd::{check_key, not_an_integer, syntax_error, CommandLimits, CommandSpec, Docs, Run};
use crate::kv::Reader;
use crate::reply::Reply;

/// The largest table LCS builds: 2^25 cells, 128 MiB, two strings of about 5.8 KiB each.
pub(crate) const TABLE_CELLS_MAX: u64 = 1 << 25;

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: a linearizable read.
pub(crate) static LCS: CommandSpec = CommandSpec {
    name: "lcs",
    arity: -3,
    flags: &["readonly"],
    keys: TWO_KEYS,
    acl_categories: &["@read", "@string", "@slow"],
    docs: Docs {
        group: "string",
        summary: "Finds the longest common substring.",
        since: "7.0.0",
        complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively",
    },
    subcommands: &[],
    run: Run::Read {
        check: check_lcs,
        read: read_lcs,
    },
};

/// What LCS answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// The subsequence itself (no option).
    Subsequence,
    /// `LEN`: its length.
    Length,
    /// `IDX`: the matching ranges and the length.
    Ranges {
        /// `MINMATCHLEN`: ranges shorter than this are left out (0: none is).
        match_len_min: u64,
        /// `WITHMATCHLEN`: each range also gives its length.
        with_match_len: bool,
    },
}

impl Answer {
    /// Parses the options after the two keys as Redis does: in order, each may repeat, and
    /// `MINMATCHLEN`'s number is read (a negative one counts as 0) before a later word can
    /// be a syntax error. IDX with LEN is refused once all are read.
    fn parse(args: &[Bytes]) -> Result<Answer, Reply> {
        let (mut len, mut idx, mut with_match_len) = (false, false, false);
        let mut match_len_min = 0;
        let mut i = 3;
        while i < args.len() {
            let has_argument = i + 1 < args.len();
            match args[i].to_ascii_uppercase().as_slice() {
                b"IDX" => idx = true,
                b"LEN" => len = true,
                b"WITHMATCHLEN" => with_match_len = true,
                b"MINMATCHLEN" if has_argument => {
                    let n = parse_integer(&args[i + 1]).ok_or_else(not_an_integer)?;
                    match_len_min = n.max(0).unsigned_abs();
                    i += 1;
                }
                _ => return Err(syntax_error()),
            }
            i += 1;
        }
        match (idx, len) {
            (true, true) => Err(Reply::error(
                "ERR If you want both the length and indexes, please just use IDX.",
            )),
            (true, false) => Ok(Answer::Ranges {
                match_len_min,
                with_match_len,
            }),
            (false, true) => Ok(Answer::Length),
            (false, false) => Ok(Answer::Subsequence),
        }
    }
}

fn check_lcs(args: &[Bytes], limits: &CommandLimits) -> Result<(), Reply> {
    check_key(&args[1], limits)?;
    check_key(&args[2], limits)?;
    Answer::parse(args).map(drop)
}

fn read_lcs(args: &[Bytes], db: &Reader<'_>) -> Reply {
    let answer = match Answer::parse(args) {
        Ok(answer) => answer,
        Err(reply) => return reply,
    };
    // A missing key is the empty string.
    let a = db.get(&args[1]).unwrap_or_default();
    let b = db.get(&args[2]).unwrap_or_default();
    lcs(&a, &b, answer)
}

/// The reply to LCS over `a` and `b`.
fn lcs(a: &[u8], b: &[u8], answer: Answer) -> Reply {
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells > TABLE_CELLS_MAX {
        return Reply::error(format!(
            "ERR Insufficient memory, transient memory for LCS exceeds this server's limit \
             of {TABLE_CELLS_MAX} table cells ((len1+1)*(len2+1) = {cells})"
        ));
    }
    let table = Table::build(a, b);
    let length = table.at(a.len(), b.len());
    if answer == Answer::Length {
        return Reply::Integer(i64::from(length));
    }
    let (subsequence, ranges) = table.walk_back(a, b);
    match answer {
        Answer::Subsequence => Reply::bulk(subsequence),
        Answer::Length => unreachable!("answered above"),
        Answer::Ranges {
            match_len_min,
            with_match_len,
        } => {
            let matches = ranges
                .iter()
                .filter(|range| range.len() >= match_len_min)
                .map(|range| range.to_reply(with_match_len))
                .collect();
            Reply::Map(vec![
                (Reply::bulk("matches"), Reply::Array(matches)),
                (Reply::bulk("len"), Reply::Integer(i64::from(length))),
            ])
        }
    }
}

/// `at(i, j)`: the LCS length of `a[..i]` and `b[..j]`.
struct Table {
    cells: Vec<u32>,
    /// `b.len() + 1`: one row per prefix of `a`.
    row_len: usize,
}

impl Table {
    fn build(a: &[u8], b: &[u8]) -> Table {
        let row_len = b.len() + 1;
        let mut cells = vec![0u32; (a.len() + 1) * row_len];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * row_len + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * row_len + j - 1] + 1
                } else {
                    cells[(i - 1) * row_len + j].max(cells[i * row_len + j - 1])
                };
            }
        }
        Table { cells, row_len }
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.row_len + j]
    }

    /// The subsequence, and its runs of contiguous matches from the end backwards, as
    /// Redis's walk finds them: on a mismatch it steps back in `a` only when that keeps a
    /// strictly longer LCS, else in `b`.
    fn walk_back(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<Range>) {
        let mut subsequence = vec![0u8; self.at(a.len(), b.len()) as usize];
        let mut left = subsequence.len();
        let mut ranges = Vec::new();
        let mut current: Option<Range> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            let mut ends = false;
            if a[i - 1] == b[j - 1] {
                subsequence[left - 1] = a[i - 1];
                match &mut current {
                    None => {
                        current = Some(Range {
                            a: (i - 1, i - 1),
                            b: (j - 1, j - 1),
                        })
                    }
                    Some(range) if range.a.0 == i && range.b.0 == j => {
                        range.a.0 -= 1;
                        range.b.0 -= 1;
                    }
                    // Unreachable in practice (a match after a match is contiguous), kept
                    // as Redis has it: the run ends without this byte.
                    Some(_) => ends = true,
                }
                let range = current.as_ref().expect("set above");
                if range.a.0 == 0 || range.b.0 == 0 {
                    ends = true;
                }
                left -= 1;
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                ends = current.is_some();
            }
            if ends {
                ranges.extend(current.take());
            }
        }
        (subsequence, ranges)
    }
}

/// A run of matching bytes: inclusive positions in `a` and in `b`, start first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    a: (usize, usize),
    b: (usize, usize),
}

impl Range {
    fn len(&self) -> u64 {
        (self.a.1 - self.a.0 + 1) as u64
    }

    /// `[[a_start, a_end], [b_start, b_end]]`, and the length with WITHMATCHLEN.
    fn to_reply(self, with_match_len: bool) -> Reply {
        let pair = |(start, end): (usize, usize)| {
            Reply::Array(vec![
                Reply::Integer(start as i64),
                Reply::Integer(end as i64),
            ])
        };
        let mut parts = vec![pair(self.a), pair(self.b)];
        if with_match_len {
            parts.push(Reply::Integer(self.len() as i64));
        }
        Reply::Array(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::{args, error};
    use proptest::prelude::*;

    fn answer(words: &[&str]) -> Result<Answer, Reply> {
        Answer::parse(&args(words))
    }

    fn ranges(a: &str, b: &str) -> Vec<Range> {
        Table::build(a.as_bytes(), b.as_bytes())
            .walk_back(a.as_bytes(), b.as_bytes())
            .1
    }

    #[test]
    fn answers_the_redis_documentation_example() {
        // The example of the LCS page: "ohmytext" and "mynewtext".
        let (a, b) = (b"ohmytext".as_slice(), b"mynewtext".as_slice());
        assert_eq!(lcs(a, b, Answer::Subsequence), Reply::bulk("mytext"));
        assert_eq!(lcs(a, b, Answer::Length), Reply::Integer(6));
        let idx = lcs(
            a,
            b,
            Answer::Ranges {
                match_len_min: 4,
                with_match_len: true,
            },
        );
        let int = Reply::Integer;
        let expected = Reply::Map(vec![
            (
                Reply::bulk("matches"),
                Reply::Array(vec![Reply::Array(vec![
                    Reply::Array(vec![int(4), int(7)]),
                    Reply::Array(vec![int(5), int(8)]),
                    int(4),
                ])]),
            ),
            (Reply::bulk("len"), int(6)),
        ]);
        assert_eq!(idx, expected);
        assert_eq!(
            ranges("ohmytext", "mynewtext"),
            [
                Range {
                    a: (4, 7),
                    b: (5, 8)
                },
                Range {
                    a: (2, 3),
                    b: (0, 1)
                }
            ]
        );
    }

    #[test]
    fn missing_or_empty_strings_have_an_empty_lcs() {
        assert_eq!(lcs(b"", b"abc", Answer::Subsequence), Reply::bulk(""));
        assert_eq!(lcs(b"abc", b"", Answer::Length), Reply::Integer(0));
        assert_eq!(lcs(b"abc", b"xyz", Answer::Subsequence), Reply::bulk(""));
    }

    #[test]
    fn options_parse_in_order_with_redis_errors() {
        assert_eq!(answer(&["LCS", "a", "b"]), Ok(Answer::Subsequence));
        assert_eq!(answer(&["LCS", "a", "b", "len", "LEN"]), Ok(Answer::Length));
        assert_eq!(
            answer(&["LCS", "a", "b", "IDX", "MINMATCHLEN", "-5", "withmatchlen"]),
            Ok(Answer::Ranges {
                match_len_min: 0,
                with_match_len: true
            })
        );
        assert_eq!(
            answer(&[
                "LCS",
                "a",
                "b",
                "MINMATCHLEN",
                "3",
                "MINMATCHLEN",
                "2",
                "IDX"
            ]),
            Ok(Answer::Ranges {
                match_len_min: 2,
                with_match_len: false
            })
        );
        assert_eq!(
            error(&["LCS", "a", "b", "IDX", "LEN"]),
            "ERR If you want both the length and indexes, please just use IDX."
        );
        assert_eq!(
            error(&["LCS", "a", "b", "MINMATCHLEN", "x", "BOGUS"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&["LCS", "a", "b", "MINMATCHLEN", "+1"]),
            "ERR value is not an integer or out of range"
        );
        for words in [
            &["LCS", "a", "b", "MINMATCHLEN"][..],
            &["LCS", "a", "b", "BOGUS", "MINMATCHLEN", "x"],
            &["LCS", "a", "b", "IDX", "LEN", "BOGUS"],
        ] {
            assert_eq!(error(words), "ERR syntax error", "{words:?}");
        }
        assert_eq!(
            error(&["LCS", "a"]),
            "ERR wrong number of arguments for 'lcs' command"
        );
    }

    #[test]
    fn refuses_a_table_over_the_bound() {
        // Goal: a client cannot make the node build a table past TABLE_CELLS_MAX. Method: the
        // largest square table within the bound is built; one byte more is refused.
        let (within, over) = (5791u64, 5792u64);
        assert!((within + 1) * (within + 1) <= TABLE_CELLS_MAX);
        assert!((over + 1) * (over + 1) > TABLE_CELLS_MAX);
        let (a, b) = (vec![b'a'; within as usize], vec![b'b'; over as usize]);
        assert_eq!(lcs(&a, &b[..1], Answer::Length), Reply::Integer(0));
        let Reply::Error(text) = lcs(&b, &b, Answer::Subsequence) else {
            panic!("a table over the bound is refused");
        };
        assert_eq!(
            text,
            "ERR Insufficient memory, transient memory for LCS exceeds this server's limit of \
             33554432 table cells ((len1+1)*(len2+1) = 33558849)"
        );
    }

    /// The LCS length by the plain recurrence, memoized over suffixes: the reference model.
    fn reference_len(a: &[u8], b: &[u8]) -> u32 {
        let mut next = vec![0u32; b.len() + 1];
        for &x in a.iter().rev() {
            let mut row = vec![0u32; b.len() + 1];
            for j in (0..b.len()).rev() {
                row[j] = if x == b[j] {
                    next[j + 1] + 1
                } else {
                    next[j].max(row[j + 1])
                };
            }
            next = row;
        }
        next[0]
    }

    fn is_subsequence(sub: &[u8], of: &[u8]) -> bool {
        let mut rest = of.iter();
        sub.iter().all(|byte| rest.any(|b| b == byte))
    }

    proptest! {
        #[test]
        fn the_subsequence_is_common_and_longest(
            a in proptest::collection::vec(0u8..4, 0..40),
            b in proptest::collection::vec(0u8..4, 0..40),
        ) {
            let table = Table::build(&a, &b);
            let (subsequence, ranges) = table.walk_back(&a, &b);
            prop_assert_eq!(subsequence.len() as u32, reference_len(&a, &b));
            prop_assert!(is_subsequence(&subsequence, &a));
            prop_assert!(is_subsequence(&subsequence, &b));
            // The ranges cover the subsequence, from the end backwards, and match.
            let covered: u64 = ranges.iter().map(Range::len).sum();
            prop_assert_eq!(covered, subsequence.len() as u64);
            for range in &ranges {
                prop_assert_eq!(&a[range.a.0..=range.a.1], &b[range.b.0..=range.b.1]);
            }
        }
    }
}
