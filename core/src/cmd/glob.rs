//! Redis's glob patterns, for CONFIG GET (and later KEYS and SCAN MATCH).

/// Redis's glob matching (`stringmatchlen`): `*`, `?`, `[...]` with ranges and `^`, `\`
/// escapes. Case-sensitive, as CONFIG GET lowercases nothing it does not need to.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_match(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let (negate, mut class) = match rest.split_first() {
                Some((b'^', class)) => (true, class),
                _ => (false, rest),
            };
            let mut matched = false;
            loop {
                match class {
                    [] => return false, // Unterminated class: no match.
                    [b']', tail @ ..] => {
                        class = tail;
                        break;
                    }
                    [b'\\', escaped, tail @ ..] => {
                        matched |= *escaped == c;
                        class = tail;
                    }
                    [low, b'-', high, tail @ ..] if *high != b']' => {
                        let (low, high) = if low <= high {
                            (*low, *high)
                        } else {
                            (*high, *low)
                        };
                        matched |= (low..=high).contains(&c);
                        class = tail;
                    }
                    [single, tail @ ..] => {
                        matched |= *single == c;
                        class = tail;
                    }
                }
            }
            matched != negate && glob_match(class, text_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && glob_match(&rest[1..], &text[1..])
        }
        Some((&p, rest)) => text.first() == Some(&p) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob_match(b"*", b"save"));
        assert!(glob_match(b"s?ve", b"save"));
        assert!(glob_match(b"[a-s]ave", b"save"));
        assert!(!glob_match(b"[^s]ave", b"save"));
        assert!(glob_match(b"*only", b"appendonly"));
        assert!(!glob_match(b"save?", b"save"));
    }
}
