//! Redis's glob patterns, for CONFIG GET (and later KEYS and SCAN MATCH).
//!
//! The semantics are Redis's `stringmatchlen` (`util.c`), quirks included, but the time is
//! linear in the pattern plus at most pattern × text: Redis's own matcher recurses once per
//! `*` and, before 7.0.9, took exponential time on a pattern such as sixty `*` and a `Z`
//! (CVE-2022-36021), which froze the node that received it. Here the pattern is read once into
//! [`Token`]s (one per text byte it consumes, or a star), then matched with the classic
//! greedy loop that, on a mismatch, only ever moves the last star it passed on by one byte.
//! That suffices because every token but a star consumes exactly one byte: a later star can
//! absorb whatever an earlier one would have, so retrying the earlier stars never finds a
//! match the last one missed.

/// One element of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `*` (a run of them is one): any run of bytes.
    Star,
    /// `?`: any one byte.
    Any,
    /// A literal byte (`\x` is the literal `x`).
    Byte(u8),
    /// `[...]`: one byte in the set (or, `negated`, not in it).
    Class {
        /// The bytes the brackets name, as a bitmap over the 256 byte values.
        set: [u64; 4],
        negated: bool,
    },
}

impl Token {
    /// Whether this single-byte token (not a star) matches `c`.
    fn matches(&self, c: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(b) => *b == c,
            Token::Class { set, negated } => {
                let inside = set[usize::from(c >> 6)] & (1 << (c & 63)) != 0;
                inside != *negated
            }
        }
    }
}

/// Adds the bytes `low..=high` to a class's bitmap.
fn add_range(set: &mut [u64; 4], low: u8, high: u8) {
    for c in low..=high {
        set[usize::from(c >> 6)] |= 1 << (c & 63);
    }
}

/// Reads a pattern the way `stringmatchlen` does:
/// - `*` is any run (consecutive stars are one), `?` any byte, `\x` the literal `x` (a
///   trailing `\` is itself);
/// - `[` opens a class; a leading `^` negates it; inside, `\x` is `x`, `a-z` is a range
///   (either order; the end may be `]`, as in `[a-]`), other bytes stand for themselves, and
///   the first `]` not taken by one of those closes it. An unterminated class takes the rest
///   of the pattern (`[abc` is `[abc]`; `[` alone matches nothing, `[^` any byte).
fn compile(pattern: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
                i += 1;
            }
            b'?' => {
                tokens.push(Token::Any);
                i += 1;
            }
            b'\\' if i + 1 < pattern.len() => {
                tokens.push(Token::Byte(pattern[i + 1]));
                i += 2;
            }
            b'[' => {
                let (token, next) = compile_class(pattern, i + 1);
                tokens.push(token);
                i = next;
            }
            literal => {
                tokens.push(Token::Byte(literal));
                i += 1;
            }
        }
    }
    tokens
}

/// Reads the class whose body starts at `pattern[start]` (just after `[`). Returns it and the
/// index just past its `]` (or the end of the pattern if it has none).
fn compile_class(pattern: &[u8], start: usize) -> (Token, usize) {
    let mut set = [0u64; 4];
    let mut i = start;
    let negated = pattern.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    loop {
        let rest = &pattern[i.min(pattern.len())..];
        match rest {
            [] => return (Token::Class { set, negated }, pattern.len()),
            [b'\\', escaped, ..] => {
                add_range(&mut set, *escaped, *escaped);
                i += 2;
            }
            [b']', ..] => return (Token::Class { set, negated }, i + 1),
            [low, b'-', high, ..] => {
                add_range(&mut set, (*low).min(*high), (*low).max(*high));
                i += 3;
            }
            [single, ..] => {
                add_range(&mut set, *single, *single);
                i += 1;
            }
        }
    }
}

/// Redis's glob matching (`stringmatchlen`, case-sensitive) in O(pattern × text) time at
/// worst. As in Redis, an empty text matches only the empty pattern (not even `*`: Redis's
/// callers treat a lone `*` apart).
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    let tokens = compile(pattern);
    // `star`: the last star passed, and the text position its match currently ends at.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(token) if token.matches(text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last star take one more byte, and retry the tokens after it.
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: Redis 7.2's `stringmatchlen_impl` (`util.c`, case-sensitive), read line
    /// by line into Rust, recursion and all. Exponential on some patterns: small inputs only.
    /// `skip_longer` is Redis's `skipLongerMatches`, which prunes without changing answers.
    fn redis_stringmatchlen(pattern: &[u8], text: &[u8], skip_longer: &mut bool) -> bool {
        // C reads one byte past the end of its NUL-terminated buffers; so does this.
        let at = |bytes: &[u8], i: usize| bytes.get(i).copied().unwrap_or(0);
        let (mut p, mut s) = (0usize, 0usize);
        let (mut plen, mut slen) = (pattern.len(), text.len());
        while plen > 0 && slen > 0 {
            match at(pattern, p) {
                b'*' => {
                    while plen > 0 && at(pattern, p + 1) == b'*' {
                        p += 1;
                        plen -= 1;
                    }
                    if plen == 1 {
                        return true;
                    }
                    while slen > 0 {
                        if redis_stringmatchlen(&pattern[p + 1..], &text[s..], skip_longer) {
                            return true;
                        }
                        if *skip_longer {
                            return false;
                        }
                        s += 1;
                        slen -= 1;
                    }
                    *skip_longer = true;
                    return false;
                }
                b'?' => {
                    s += 1;
                    slen -= 1;
                }
                b'[' => {
                    p += 1;
                    plen -= 1;
                    let not = at(pattern, p) == b'^';
                    if not {
                        p += 1;
                        plen -= 1;
                    }
                    let mut matched = false;
                    loop {
                        if at(pattern, p) == b'\\' && plen >= 2 {
                            p += 1;
                            plen -= 1;
                            if at(pattern, p) == text[s] {
                                matched = true;
                            }
                        } else if at(pattern, p) == b']' {
                            break;
                        } else if plen == 0 {
                            p -= 1;
                            plen += 1;
                            break;
                        } else if plen >= 3 && at(pattern, p + 1) == b'-' {
                            let (mut start, mut end) = (at(pattern, p), at(pattern, p + 2));
                            if start > end {
                                std::mem::swap(&mut start, &mut end);
                            }
                            p += 2;
                            plen -= 2;
                            if (start..=end).contains(&text[s]) {
                                matched = true;
                            }
                        } else if at(pattern, p) == text[s] {
                            matched = true;
                        }
                        p += 1;
                        plen -= 1;
                    }
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    s += 1;
                    slen -= 1;
                }
                first => {
                    let literal = if first == b'\\' && plen >= 2 {
                        p += 1;
                        plen -= 1;
                        at(pattern, p)
                    } else {
                        first
                    };
                    if literal != text[s] {
                        return false;
                    }
                    s += 1;
                    slen -= 1;
                }
            }
            p += 1;
            plen -= 1;
            if slen == 0 {
                while at(pattern, p) == b'*' {
                    p += 1;
                    plen -= 1;
                }
                break;
            }
        }
        plen == 0 && slen == 0
    }

    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        redis_stringmatchlen(pattern, text, &mut false)
    }

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob_match(b"*", b"save"));
        assert!(glob_match(b"s?ve", b"save"));
        assert!(glob_match(b"[a-s]ave", b"save"));
        assert!(!glob_match(b"[^s]ave", b"save"));
        assert!(glob_match(b"*only", b"appendonly"));
        assert!(!glob_match(b"save?", b"save"));
    }

    #[test]
    fn redis_quirks_hold() {
        // Goal: the corners where Redis's `stringmatchlen` differs from a textbook glob (each
        // checked with KEYS against redis-server 7.0.15, whose matcher is 7.2's; the old
        // recursive matcher got `[abc`, `[^` and `[a-]` wrong). Method: pattern, text, answer.
        for (pattern, text, expected) in [
            // An empty text matches only the empty pattern.
            (&b""[..], &b""[..], true),
            (b"**", b"", false),
            // (KEYS and SCAN treat a lone `*` apart, so Redis never asks this one.)
            (b"*", b"", false),
            (b"a*", b"a", true),
            // An unterminated class takes the rest of the pattern.
            (b"[abc", b"b", true),
            (b"[abc", b"d", false),
            (b"x[", b"x[", false),
            (b"[^", b"q", true),
            (b"[a-", b"-", true),
            // A range may end with `]`, which then closes nothing.
            (b"[a-]", b"^", true),
            (b"[a-]", b"]", true),
            (b"[a-]", b"-", false),
            (b"[a-]x", b"bx", false),
            // Ranges go either way; escapes work inside classes; `[]` is empty.
            (b"[z-a]", b"m", true),
            (b"[\\]]", b"]", true),
            (b"[\\a-z]", b"m", false),
            (b"[\\a-z]", b"-", true),
            (b"[]]", b"]", false),
            (b"[^]", b"]", true),
            // Escapes outside a class; a trailing backslash is itself.
            (b"\\*", b"*", true),
            (b"\\*", b"x", false),
            (b"a\\", b"a\\", true),
            (b"**a**", b"ba", true),
        ] {
            assert_eq!(
                glob_match(pattern, text),
                expected,
                "{:?} on {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(text)
            );
            assert_eq!(reference(pattern, text), expected, "reference disagrees");
        }
    }

    #[test]
    fn sixty_stars_and_a_z_answer_at_once() {
        // Goal: CVE-2022-36021. The old recursive matcher did not finish this in 60 s; only
        // the answer is asserted (the test must simply terminate). Method: the attack against
        // CONFIG GET's names, and the same shape against a long text.
        let mut pattern = vec![b'*'; 60];
        pattern.push(b'Z');
        for text in [&b"appendonly"[..], &[b'a'; 10_000][..]] {
            assert!(!glob_match(&pattern, text));
        }
        let alternating: Vec<u8> = b"*a".repeat(30).into_iter().chain(*b"Z").collect();
        assert!(!glob_match(&alternating, &[b'a'; 10_000]));
        assert!(glob_match(
            &alternating,
            &[b"a".repeat(5_000), b"Z".to_vec()].concat()
        ));
    }

    /// Small patterns over a small alphabet, so that stars, classes and escapes meet.
    fn pattern_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => proptest::sample::select(b"ab-]^\\*?[".to_vec()),
            1 => any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..12)
    }

    fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => proptest::sample::select(b"ab-]^\\*?[".to_vec()),
            1 => any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..12)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn agrees_with_redis(pattern in pattern_bytes(), text in text_bytes()) {
            prop_assert_eq!(glob_match(&pattern, &text), reference(&pattern, &text));
        }

        #[test]
        fn agrees_with_redis_on_texts_the_pattern_was_built_from(
            text in text_bytes(),
            edits in proptest::collection::vec((0usize..12, proptest::sample::select(b"*?[]\\-^".to_vec())), 0..4),
        ) {
            // Patterns derived from the text, so that matches are common, not rare.
            let mut pattern = text.clone();
            for (at, byte) in edits {
                let at = at.min(pattern.len());
                pattern.insert(at, byte);
            }
            prop_assert_eq!(glob_match(&pattern, &text), reference(&pattern, &text));
        }
    }
}
