//! The numbers of INCRBYFLOAT: C's `long double` as Redis uses it on x86-64, the x87 80-bit
//! extended format (64-bit significand with an explicit integer bit, 15-bit exponent).
//!
//! Redis parses with `strtold` (through `string2ld` in `util.c`), adds in `long double`, and
//! prints with `%.17Lf` before trimming zeros (`ld2string`, `LD_STR_HUMAN`). The result is
//! stored as text, so every replica must reproduce those three steps bit for bit: the
//! arithmetic and the correctly rounded decimal conversion are LLVM's APFloat
//! (`rustc_apfloat`), and printing is an exact big-integer expansion rounded as glibc rounds
//! it (to nearest, ties to even). No step touches the host's floating point.

use std::fmt;

use num_bigint::BigUint;
use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, Round, Status};

/// A finite or infinite x87 `long double` (never NaN: nothing here produces one).
#[derive(Clone, Copy, PartialEq)]
pub struct LongDouble(X87DoubleExtended);

/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` copies into a buffer of this size with its NUL,
/// so a text of this length or longer is not a number.
const TEXT_BYTES_MAX: usize = 5 * 1024;

/// Digits after the point in `%.17Lf`.
const FRACTION_DIGITS: u32 = 17;

/// The x87 format's exponent bias, and its significand width (the integer bit included).
const EXPONENT_BIAS: i64 = 16383;
const SIGNIFICAND_BITS: i64 = 64;

impl LongDouble {
    /// Zero: what a missing key counts as.
    pub const ZERO: LongDouble = LongDouble(X87DoubleExtended::ZERO);

    /// Parses `bytes` as Redis's `string2ld` does: `strtold` must read the whole text as one
    /// number, so an empty or too long text, a leading space, anything left after the number
    /// (a NUL included: strtold stops there), NaN, and a value that overflows or underflows to
    /// zero are refused. A subnormal result is kept (glibc sets `ERANGE` for it, but Redis
    /// keeps any nonzero finite value). Accepted: decimal (`1.5`, `.5`, `5.`, `1e-3`),
    /// hexadecimal (`0x1.8p3`, `0x10`), `inf` and `infinity` in any case, each with an
    /// optional sign.
    pub fn parse(bytes: &[u8]) -> Option<LongDouble> {
        if bytes.is_empty() || bytes.len() >= TEXT_BYTES_MAX {
            return None;
        }
        let (negative, unsigned) = match bytes[0] {
            b'-' => (true, &bytes[1..]),
            b'+' => (false, &bytes[1..]),
            _ => (false, bytes),
        };
        let magnitude = if unsigned.eq_ignore_ascii_case(b"inf")
            || unsigned.eq_ignore_ascii_case(b"infinity")
        {
            X87DoubleExtended::INFINITY
        } else {
            let subject = Subject::read(unsigned)?;
            let parsed = X87DoubleExtended::from_str_r(&subject, Round::NearestTiesToEven)
                .expect("the subject was checked to be well formed");
            // ERANGE with HUGE_VALL (overflow) or with zero (a nonzero value lost) is refused.
            let lost = parsed.value.is_zero() && parsed.status != Status::OK;
            if parsed.value.is_infinite() || lost {
                return None;
            }
            parsed.value
        };
        Some(LongDouble(if negative { -magnitude } else { magnitude }))
    }

    /// `self + other`, rounded to nearest as the x87 unit rounds at full precision; `None` if
    /// the sum is NaN or infinite (Redis: `increment would produce NaN or Infinity`).
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let sum = self.0.add_r(other.0, Round::NearestTiesToEven).value;
        (!sum.is_nan() && !sum.is_infinite()).then_some(LongDouble(sum))
    }

    /// The text Redis stores and answers, `ld2string(..., LD_STR_HUMAN)`: `%.17Lf`, then the
    /// trailing zeros of the fraction and a bare trailing point removed; `-0` becomes `0`.
    ///
    /// # Panics
    ///
    /// If the value is infinite: Redis formats no infinite sum (`checked_add` refuses it).
    pub fn to_human(self) -> String {
        assert!(
            !self.0.is_infinite(),
            "an infinite value has no %.17Lf form"
        );
        let scaled = self.scaled_by_10_pow_17();
        let digits = scaled.to_str_radix(10);
        // At least one digit before the point.
        let padded = format!("{digits:0>width$}", width = FRACTION_DIGITS as usize + 1);
        let (integer, fraction) = padded.split_at(padded.len() - FRACTION_DIGITS as usize);
        let fraction = fraction.trim_end_matches('0');
        let mut text = String::with_capacity(padded.len() + 2);
        if self.0.is_negative() && scaled != BigUint::ZERO {
            text.push('-');
        }
        text.push_str(integer);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        text
    }

    /// `|self| * 10^17`, rounded to an integer to nearest, ties to even: glibc's `printf`
    /// rounding of the exact binary value at the 17th decimal.
    fn scaled_by_10_pow_17(self) -> BigUint {
        let bits = self.0.to_bits();
        let significand = BigUint::from(bits as u64);
        let biased_exponent = ((bits >> 64) & 0x7fff) as i64;
        // A subnormal (biased exponent 0) has the smallest normal exponent.
        let exponent = biased_exponent.max(1) - EXPONENT_BIAS - (SIGNIFICAND_BITS - 1);
        let numerator = significand * BigUint::from(10u32).pow(FRACTION_DIGITS);
        if exponent >= 0 {
            return numerator << exponent as u64;
        }
        let shift = exponent.unsigned_abs();
        let quotient = &numerator >> shift;
        let remainder = &numerator - (&quotient << shift);
        let half = BigUint::from(1u32) << (shift - 1);
        let rounds_up = remainder > half || (remainder == half && quotient.bit(0));
        if rounds_up {
            quotient + 1u32
        } else {
            quotient
        }
    }
}

impl fmt::Debug for LongDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_infinite() {
            let sign = if self.0.is_negative() { "-" } else { "" };
            return write!(f, "LongDouble({sign}inf)");
        }
        write!(f, "LongDouble({})", self.to_human())
    }
}

/// The number part `strtold` would read, checked to span the whole text and rewritten in the
/// form APFloat's parser takes (it insists on a binary exponent in hexadecimal).
struct Subject;

impl Subject {
    /// The unsigned text as APFloat input, if `strtold` reads all of it as one number:
    /// `digits [. digits] [e [sign] digits]` with a digit somewhere before the exponent, or
    /// `0x hexdigits [. hexdigits] [p [sign] digits]` likewise.
    fn read(unsigned: &[u8]) -> Option<String> {
        let hex = unsigned
            .strip_prefix(b"0x")
            .or_else(|| unsigned.strip_prefix(b"0X"));
        let (digits, exponent_marks, radix_prefix) = match hex {
            Some(rest) => (rest, [b'p', b'P'], "0x"),
            None => (unsigned, [b'e', b'E'], ""),
        };
        let is_digit = |byte: &u8| {
            if hex.is_some() {
                byte.is_ascii_hexdigit()
            } else {
                byte.is_ascii_digit()
            }
        };
        let mantissa_len = digits
            .iter()
            .position(|byte| exponent_marks.contains(byte))
            .unwrap_or(digits.len());
        let (mantissa, exponent) = digits.split_at(mantissa_len);
        let (whole, fraction) = match mantissa.iter().position(|&byte| byte == b'.') {
            Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
            None => (mantissa, &[][..]),
        };
        let well_formed_mantissa = (!whole.is_empty() || !fraction.is_empty())
            && whole.iter().all(is_digit)
            && fraction.iter().all(is_digit);
        if !well_formed_mantissa {
            return None;
        }
        let exponent_text = match exponent.split_first() {
            None => "0",
            Some((_, signed)) => {
                let unsigned_exponent = signed
                    .strip_prefix(b"-")
                    .or_else(|| signed.strip_prefix(b"+"))
                    .unwrap_or(signed);
                if unsigned_exponent.is_empty() || !unsigned_exponent.iter().all(u8::is_ascii_digit)
                {
                    return None;
                }
                std::str::from_utf8(signed).ok()?
            }
        };
        let mantissa = std::str::from_utf8(mantissa).ok()?;
        let mark = if hex.is_some() { 'p' } else { 'e' };
        Some(format!("{radix_prefix}{mantissa}{mark}{exponent_text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn human(text: &str) -> Option<String> {
        LongDouble::parse(text.as_bytes()).map(LongDouble::to_human)
    }

    fn sum(a: &str, b: &str) -> Option<String> {
        let a = LongDouble::parse(a.as_bytes())?;
        let b = LongDouble::parse(b.as_bytes())?;
        a.checked_add(b).map(LongDouble::to_human)
    }

    #[test]
    fn parses_what_strtold_reads_whole() {
        // Goal: the accepted syntax is strtold's, with string2ld's refusals. Method: texts
        // on each side of every rule, and the value Redis stores for them.
        for (text, value) in [
            ("1", Some("1")),
            ("+.5", Some("0.5")),
            ("5.", Some("5")),
            ("-1.25e2", Some("-125")),
            ("1E+2", Some("100")),
            ("0x1p3", Some("8")),
            ("0X1.8P1", Some("3")),
            ("0x10", Some("16")),
            ("-0x.8", Some("-0.5")),
            ("0e99999999999999999999", Some("0")),
            ("0x0p-99999999999", Some("0")),
            ("00012.5000", Some("12.5")),
            ("-0", Some("0")),
            ("\0", None),
            ("2.5\0junk", None),
            ("2.5\0", None),
            ("", None),
            (" 1", None),
            ("1 ", None),
            ("\t1", None),
            ("+", None),
            ("-", None),
            (".", None),
            ("e5", None),
            ("1e", None),
            ("1e+", None),
            ("1.2.3", None),
            ("0x", None),
            ("0x.", None),
            ("0x1p", None),
            ("0xg", None),
            ("1_000", None),
            ("+-1", None),
            ("nan", None),
            ("NaN", None),
            ("-nan(123)", None),
            ("infinit", None),
            ("1e4933", None),
            ("-1e99999", None),
            ("1e-5000", None),
            ("0x1p-16446", None),
            ("1 \0", None),
        ] {
            assert_eq!(human(text), value.map(str::to_owned), "{text:?}");
        }
        for text in ["inf", "-INF", "Infinity", "+iNfInItY"] {
            assert!(LongDouble::parse(text.as_bytes()).is_some(), "{text:?}");
        }
    }

    #[test]
    fn refuses_texts_of_max_long_double_chars_or_more() {
        let longest = format!("{}1", "0".repeat(TEXT_BYTES_MAX - 2));
        assert_eq!(longest.len(), 5119);
        assert_eq!(
            LongDouble::parse(longest.as_bytes())
                .map(LongDouble::to_human)
                .as_deref(),
            Some("1")
        );
        let too_long = format!("0{longest}");
        assert_eq!(LongDouble::parse(too_long.as_bytes()), None);
    }

    #[test]
    fn keeps_subnormals_and_their_extremes() {
        // The smallest x87 subnormal is 2^-16445; half of it rounds to zero (refused), a bit
        // more than half rounds up to it (kept).
        let smallest = LongDouble::parse(b"0x1p-16445").unwrap();
        assert_eq!(
            LongDouble::parse(b"3.6451995318824746025e-4951"),
            Some(smallest)
        );
        assert_eq!(LongDouble::parse(b"0x1p-16446"), None);
        assert_eq!(
            LongDouble::parse(b"0x1.0000000000000001p-16446"),
            Some(smallest)
        );
        assert_eq!(smallest.to_human(), "0");
        let largest = LongDouble::parse(b"0x1.fffffffffffffffep16383").unwrap();
        assert!(largest.to_human().starts_with("118973149535723176502"));
        assert_eq!(largest.to_human().len(), 4933);
        assert_eq!(LongDouble::parse(b"0x1p16384"), None);
    }

    #[test]
    fn adds_with_64_bits_of_precision() {
        // Goal: sums round as the x87 unit's. Method: sums whose double result would differ.
        assert_eq!(sum("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(sum("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(sum("3.0e3", "200").as_deref(), Some("3200"));
        assert_eq!(sum("5.0e3", "2.0e2").as_deref(), Some("5200"));
        // 2^64 + 1 needs 65 bits: the 1 is lost to the tie, which goes to even.
        assert_eq!(
            sum("18446744073709551616", "1").as_deref(),
            Some("18446744073709551616")
        );
        assert_eq!(
            sum("18446744073709551616", "3").as_deref(),
            Some("18446744073709551620")
        );
        assert_eq!(
            sum("9007199254740993", "0").as_deref(),
            Some("9007199254740993")
        );
        assert_eq!(sum("1.1", "-1.1").as_deref(), Some("0"));
        assert_eq!(sum("-1e-18", "0").as_deref(), Some("0"));
        assert_eq!(sum("inf", "1"), None);
        assert_eq!(sum("inf", "-inf"), None);
        assert_eq!(sum("0x1.fffffffffffffffep16383", "0x1p16320"), None);
    }

    #[test]
    fn prints_seventeen_decimals_rounded_half_to_even() {
        // Goal: %.17Lf's rounding of an exact tie at the 18th decimal. Method: m / 2^18 has
        // exactly 18 decimals, the last one a 5.
        assert_eq!(human("0x1p-18").as_deref(), Some("0.00000381469726562")); // ...625 down
        assert_eq!(human("0x3p-18").as_deref(), Some("0.00001144409179688")); // ...875 up
        assert_eq!(human("0x1p-57").as_deref(), Some("0.00000000000000001"));
        assert_eq!(human("0x1p-58").as_deref(), Some("0"));
        assert_eq!(human("-0x1p-58").as_deref(), Some("0"));
        assert_eq!(human("0.1").as_deref(), Some("0.1"));
        assert_eq!(human("1e20").as_deref(), Some("100000000000000000000"));
        assert_eq!(human("1e25").as_deref(), Some("10000000000000000000000000"));
        // 10^30 needs 70 significant bits: the nearest long double prints as Redis prints it.
        assert_eq!(
            human("1e30").as_deref(),
            Some("1000000000000000000024696061952")
        );
        assert_eq!(human("1.5e-10").as_deref(), Some("0.00000000015"));
    }

    proptest! {
        #[test]
        fn integers_below_2_pow_64_are_exact(n in any::<u64>(), negative in any::<bool>()) {
            let text = if negative && n != 0 { format!("-{n}") } else { n.to_string() };
            prop_assert_eq!(human(&text), Some(text.clone()));
        }

        #[test]
        fn seventeen_decimals_below_64_print_back_as_written(
            whole in 0u64..64, fraction in 0u64..100_000_000_000_000_000,
        ) {
            // Below 64 the significand's half ulp (2^-59) is under half of 10^-17, so the
            // nearest long double prints back to the same 17 decimals, trailing zeros gone.
            let fraction = format!("{fraction:017}");
            let fraction = fraction.trim_end_matches('0');
            let expected = if fraction.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{fraction}")
            };
            prop_assert_eq!(human(&format!("{whole}.{fraction}")), Some(expected));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = LongDouble::parse(&bytes).map(LongDouble::to_human);
        }
    }
}
