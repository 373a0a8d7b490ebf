//! Hostile text made safe to show (the templates escape HTML; this removes what escaping
//! does not: control characters, bidirectional overrides, unbounded length), and numbers and
//! times per language.

use app_policy::Date;

use crate::i18n::Lang;

/// Most characters of a name, label or app id shown in a table cell.
pub const MAX_SHOWN: usize = 80;

/// Whether `c` would change how the text around it is laid out or read: C0/C1 controls
/// (CR, LF, tab ...) and the Unicode bidirectional embeddings, overrides and isolates.
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `s` for display: hostile characters each become one space (`U+FFFD` for bidi controls,
/// so a reversed name shows that it was tampered with), and at most `max` characters are
/// kept, the cut marked with an ellipsis. HTML is escaped later by the template.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4 + 3));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            return out;
        }
        if c.is_control() {
            out.push(' ');
        } else if is_hostile(c) {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    out
}

/// `clip` at [`MAX_SHOWN`].
pub fn show(s: &str) -> String {
    clip(s, MAX_SHOWN)
}

/// A count with digit groups: `1,234,567` in English, `1 234 567` (narrow no-break spaces)
/// in French.
pub fn group_digits(n: i64, lang: Lang) -> String {
    let sep = match lang {
        Lang::En => ",",
        Lang::Fr => "\u{202F}",
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(ch);
    }
    out
}

/// A Unix-ms instant as its UTC date and time: `2026-12-03 09:15 UTC` in English,
/// `2026-12-03 9 h 15 UTC` in French (the Canadian government style).
pub fn format_time(ms: i64, lang: Lang) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000) / 60_000;
    let (h, m) = (rest / 60, rest % 60);
    let day = Date::from_days_since_epoch(days);
    match lang {
        Lang::En => format!("{day} {h:02}:{m:02} UTC"),
        Lang::Fr => format!("{day} {h} h {m:02} UTC"),
    }
}

/// A `YYYY-MM-DD` day as written in either language (ISO 8601, the form both the Canadian
/// English and French styles accept for tables).
pub fn format_date(d: &str, _lang: Lang) -> String {
    clip(d, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_are_neutralised_and_cut() {
        assert_eq!(clip("a\r\nb", 10), "a  b");
        assert_eq!(clip("abc\u{202E}gpj.exe", 20), "abc\u{FFFD}gpj.exe");
        assert_eq!(clip("\u{2066}x\u{2069}", 20), "\u{FFFD}x\u{FFFD}");
        let big = "<script>".repeat(8 * 1024); // 64 KiB
        let shown = clip(&big, MAX_SHOWN);
        assert_eq!(shown.chars().count(), MAX_SHOWN + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(clip("exact", 5), "exact");
        assert_eq!(clip("", 5), "");
    }

    #[test]
    fn numbers_and_times_per_language() {
        assert_eq!(group_digits(1_234_567, Lang::En), "1,234,567");
        assert_eq!(group_digits(1_234_567, Lang::Fr), "1\u{202F}234\u{202F}567");
        assert_eq!(group_digits(999, Lang::En), "999");
        assert_eq!(group_digits(-1000, Lang::En), "-1,000");
        assert_eq!(format_time(0, Lang::En), "1970-01-01 00:00 UTC");
        assert_eq!(
            format_time(3_600_000 * 9 + 60_000 * 5, Lang::Fr),
            "1970-01-01 9 h 05 UTC"
        );
    }
}
