//! Messages without `core::fmt`: `format!` and `to_string` pull the formatting
//! machinery into the browser SDK's wasm (bench/SIZE.md), and `[..].concat()` a
//! generic join of its own.

use crate::prelude::*;
/// Appends `n` in decimal to `out`.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// The parts one after the other (a message).
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Appends the low `digits` hex digits of `n`, most significant first (lowercase).
pub fn push_hex(out: &mut String, n: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(char::from(
            b"0123456789abcdef"[(n >> (i * 4)) as usize & 0xf],
        ));
    }
}

/// `n` in decimal.
pub fn decimal(n: u64) -> String {
    let mut out = String::new();
    push_decimal(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::{cat, decimal, push_hex};

    #[test]
    fn cat_puts_the_parts_one_after_the_other() {
        assert_eq!(cat(&["a", "", "bc"]), "abc");
        assert_eq!(cat(&[]), "");
    }

    #[test]
    fn hex_digits_are_the_low_nibbles_most_significant_first() {
        let mut out = String::from("k");
        push_hex(&mut out, 0xcbf2_9ce4_8422_2325, 16);
        push_hex(&mut out, 0xabc, 2);
        assert_eq!(out, "kcbf29ce484222325bc");
    }

    #[test]
    fn writes_like_to_string() {
        for n in [0, 7, 10, 4401, 65535, 1_000_000_007, u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }
}
