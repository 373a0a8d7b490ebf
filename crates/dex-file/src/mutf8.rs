//! Modified UTF-8, as used by DEX string data.
//!
//! It differs from UTF-8 in two ways: NUL is written as the two bytes `C0 80`, and characters outside the Basic Multilingual Plane are written as two three-byte surrogates.
//! Decoding is lossy: a malformed sequence becomes U+FFFD, never an error, because the strings are reported, not executed.

use std::borrow::Cow;

/// Decodes MUTF-8 bytes; borrows when the bytes are already valid UTF-8 without surrogates or `C0 80`.
pub fn decode_mutf8(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        // ASCII is valid UTF-8; this cannot fail.
        return std::str::from_utf8(bytes).map_or_else(|_| slow(bytes), Cow::Borrowed);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        // Standard UTF-8 already rejects encoded surrogates and the overlong `C0 80`,
        // so a successful parse means the MUTF-8 and UTF-8 readings agree.
        return Cow::Borrowed(s);
    }
    slow(bytes)
}

fn slow(bytes: &[u8]) -> Cow<'static, str> {
    let mut units: Vec<u16> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b0 = bytes[i];
        let cont = |k: usize| bytes.get(i + k).copied().filter(|b| b & 0xC0 == 0x80);
        if b0 < 0x80 {
            units.push(u16::from(b0));
            i += 1;
        } else if b0 & 0xE0 == 0xC0 {
            match cont(1) {
                Some(b1) => {
                    units.push((u16::from(b0 & 0x1F) << 6) | u16::from(b1 & 0x3F));
                    i += 2;
                }
                None => {
                    units.push(0xFFFD);
                    i += 1;
                }
            }
        } else if b0 & 0xF0 == 0xE0 {
            match (cont(1), cont(2)) {
                (Some(b1), Some(b2)) => {
                    units.push(
                        (u16::from(b0 & 0x0F) << 12)
                            | (u16::from(b1 & 0x3F) << 6)
                            | u16::from(b2 & 0x3F),
                    );
                    i += 3;
                }
                _ => {
                    units.push(0xFFFD);
                    i += 1;
                }
            }
        } else {
            // Four-byte forms are not MUTF-8; keep going after a replacement character.
            units.push(0xFFFD);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf16_lossy(&units))
}
