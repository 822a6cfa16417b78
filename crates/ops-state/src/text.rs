//! Text from outside (service names, server answers, command output) made safe to put in a
//! terminal or a log line: control characters are shown, never obeyed.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is a control character that a terminal or a line-based log would act on: C0
/// (but tab), DEL, and C1 (U+0080 to U+009F, where `U+009B` is a CSI of its own).
fn is_control(c: char) -> bool {
    c != '\t' && (c.is_ascii_control() || ('\u{80}'..='\u{9f}').contains(&c))
}

/// `text` with every control character but tab written as an escape: `\n`, `\r`, `\x1b` for
/// ESC, `\u{9b}` for a C1 CSI. ESC and OSC sequences, carriage returns that overwrite a line, and newlines
/// that forge one are shown as text. Borrowed when there is nothing to escape (the usual case).
///
/// ```
/// assert_eq!(ops_state::printable("API"), "API");
/// assert_eq!(ops_state::printable("a\u{1b}[31mred\nline\tok"), "a\\x1b[31mred\\nline\tok");
/// assert_eq!(ops_state::printable("csi \u{9b}2J"), "csi \\u{9b}2J");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push('\t'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`printable`] for each line of `text`: the newlines between lines are kept, everything else
/// is escaped. For output that is lines already (a report), where only what is inside a line
/// must not drive the terminal.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_control(c)) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(printable).collect();
    Cow::Owned(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_is_escaped_and_nothing_else() {
        for c in (0u32..=0x0010_ffff).filter_map(char::from_u32) {
            let text = c.to_string();
            let shown = printable(&text);
            if is_control(c) {
                assert!(shown.starts_with('\\') && shown.len() > 1, "{c:?} -> {shown:?}");
                assert!(!shown.chars().any(is_control), "{c:?} -> {shown:?}");
            } else {
                assert_eq!(shown, text, "{c:?} is not a control");
            }
        }
    }

    #[test]
    fn lines_keep_their_newlines() {
        assert_eq!(
            printable_lines("[OK] A\n[FAIL] B\u{1b}]0;title\u{7}\n"),
            "[OK] A\n[FAIL] B\\x1b]0;title\\x07\n"
        );
        assert!(matches!(printable_lines("plain\nlines\ttab\n"), Cow::Borrowed(_)));
        assert_eq!(printable("\u{7f}"), "\\x7f");
        assert_eq!(printable("tab\tstays\rbut\u{0}not"), "tab\tstays\\rbut\\x00not");
    }
}
