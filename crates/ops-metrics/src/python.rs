//! Numbers as the Python kit's prints them: `round(x, n)` and `repr(float)`.
//!
//! Python's `round(x, n)` rounds the exact binary value of `x` to `n` decimals, ties to even,
//! and returns the nearest double; Rust's `{:.n}` formatting rounds the same exact value the
//! same way, so formatting and parsing back gives Python's result. `repr` is the shortest
//! string that reads back to the same double (Rust's `{:e}` finds those digits), laid out by
//! Python's rules: plain notation for exponents -5 < e < 16 with at least one decimal
//! (`100.0`), scientific with a signed two-digit exponent otherwise (`1e+16`, `1.5e-05`).

/// Python's `round(x, ndigits)` for a float.
pub fn round(x: f64, ndigits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.ndigits$}").parse().unwrap_or(x)
}

/// Python's `repr(x)` (and `str(x)`, and `f"{x}"`) for a float.
pub fn repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-5 < exp) && (exp < 16) {
        let point = exp + 1; // digits before the decimal point
        let (int, frac) = if point <= 0 {
            let zeros = usize::try_from(-point).unwrap_or(0);
            ("0".to_owned(), format!("{}{digits}", "0".repeat(zeros)))
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() <= point {
                (format!("{digits}{}", "0".repeat(point - digits.len())), String::new())
            } else {
                (digits[..point].to_owned(), digits[point..].to_owned())
            }
        };
        let frac = if frac.is_empty() { "0".to_owned() } else { frac };
        format!("{sign}{int}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{rest}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_is_half_even_on_the_exact_value() {
        assert!((round(0.125, 2) - 0.12).abs() < f64::EPSILON);
        assert!((round(0.375, 2) - 0.38).abs() < f64::EPSILON);
        assert!((round(2.5, 0) - 2.0).abs() < f64::EPSILON);
        // 1.005 is 1.00499999999999989... in binary.
        assert!((round(1.005, 2) - 1.0).abs() < f64::EPSILON);
        assert!((round(99.995, 2) - 100.0).abs() < f64::EPSILON);
        assert!(round(f64::INFINITY, 1).is_infinite());
    }

    #[test]
    fn repr_like_python() {
        for (x, want) in [
            (100.0, "100.0"),
            (145.0, "145.0"),
            (99.5, "99.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (99.93, "99.93"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000_015, "1.5e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123_456_789.1, "123456789.1"),
            (-12.5, "-12.5"),
            (1e300, "1e+300"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(repr(x), want, "{x:e}");
        }
    }
}
