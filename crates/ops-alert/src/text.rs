//! What an alert looks like: the Python kit's layout (`[ERROR] Agent Ops Alert`, a blank line, the
//! message) as Telegram HTML with every interpolated value escaped, as plain text, and split
//! into numbered parts when it is longer than Telegram allows.

use crate::Alert;

/// Telegram's limit on a message's text after entity parsing, in UTF-16 code units.
pub const TELEGRAM_MAX_LEN: usize = 4096;

/// The bold title of every alert, as the Python kit writes it.
pub const TITLE: &str = "Agent Ops Alert";

/// One Telegram message: the HTML to send, and the same text without markup for the
/// plain-text fallback. Both display identically except for the bold title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The text for `parse_mode: "HTML"`.
    pub html: String,
    /// The text as it is displayed, sent without a parse mode.
    pub plain: String,
}

/// Escapes text for Telegram's HTML parse mode: `&`, `<` and `>` are the only characters
/// that need it outside attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `[ERROR] Agent Ops Alert`: the level prefix and the title.
pub fn title(alert: &Alert) -> String {
    format!("{} {TITLE}", alert.level.prefix())
}

/// The whole alert as plain text: title, a blank line, the message.
pub fn plain_text(alert: &Alert) -> String {
    format!("{}\n\n{}", title(alert), alert.message)
}

/// The alert as Telegram messages: one when it fits in [`TELEGRAM_MAX_LEN`], otherwise the
/// message split on line boundaries (a longer line is cut, at a space when there is one) into
/// parts titled `Agent Ops Alert (1/3)` ..., each within the limit.
pub fn telegram_parts(alert: &Alert) -> Vec<Part> {
    let prefix = alert.level.prefix();
    let make = |numbering: &str, chunk: &str| Part {
        html: format!("{prefix} <b>{TITLE}{numbering}</b>\n\n{}", escape_html(chunk)),
        plain: format!("{prefix} {TITLE}{numbering}\n\n{chunk}"),
    };
    let whole = make("", &alert.message);
    if utf16_len(&whole.plain) <= TELEGRAM_MAX_LEN {
        return vec![whole];
    }
    let mut digits = 1u32;
    loop {
        let widest = 10usize.pow(digits) - 1;
        let header = utf16_len(&make(&format!(" ({widest}/{widest})"), "").plain);
        let chunks = split_lines(&alert.message, TELEGRAM_MAX_LEN - header);
        if chunks.len() <= widest {
            let n = chunks.len();
            return chunks.iter().enumerate().map(|(i, c)| make(&format!(" ({}/{n})", i + 1), c)).collect();
        }
        digits += 1;
    }
}

/// Length in UTF-16 code units, the unit of Telegram's limits.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits `text` into chunks of at most `budget` UTF-16 units, on line boundaries where
/// possible. Joining the chunks with newlines gives back `text`, except where a line longer
/// than `budget` had to be cut.
fn split_lines(text: &str, budget: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current: Option<(String, usize)> = None;
    for line in text.split('\n') {
        let len = utf16_len(line);
        if let Some((chunk, used)) = &mut current {
            if *used + 1 + len <= budget {
                chunk.push('\n');
                chunk.push_str(line);
                *used += 1 + len;
                continue;
            }
            chunks.extend(current.take().map(|(c, _)| c));
        }
        let mut rest = line;
        while utf16_len(rest) > budget {
            let (head, tail) = cut(rest, budget);
            chunks.push(head.to_owned());
            rest = tail;
        }
        current = Some((rest.to_owned(), utf16_len(rest)));
    }
    chunks.extend(current.map(|(c, _)| c));
    chunks
}

/// Cuts a too-long line after at most `budget` UTF-16 units: after the last space in the
/// second half of that span if there is one, otherwise at the last character that fits.
fn cut(line: &str, budget: usize) -> (&str, &str) {
    let mut used = 0;
    let mut end = 0;
    let mut last_space = None;
    for (i, c) in line.char_indices() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        end = i + c.len_utf8();
        if c == ' ' && used > budget / 2 {
            last_space = Some(end);
        }
    }
    let at = last_space.unwrap_or(end).max(line.chars().next().map_or(0, char::len_utf8));
    line.split_at(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn alert(message: &str) -> Alert {
        Alert { level: Level::Error, topic: None, message: message.into() }
    }

    #[test]
    fn escapes_only_what_html_mode_needs() {
        assert_eq!(escape_html("a_b *c* [d](e) `f` <g> & h"), "a_b *c* [d](e) `f` &lt;g&gt; &amp; h");
    }

    #[test]
    fn the_seed_layout_in_html_and_plain() {
        let parts = telegram_parts(&alert("my_service <down> & out"));
        assert_eq!(
            parts,
            [Part {
                html: "[ERROR] <b>Agent Ops Alert</b>\n\nmy_service &lt;down&gt; &amp; out".into(),
                plain: "[ERROR] Agent Ops Alert\n\nmy_service <down> & out".into(),
            }]
        );
        assert_eq!(plain_text(&alert("x")), "[ERROR] Agent Ops Alert\n\nx");
    }

    #[test]
    fn exactly_the_limit_is_one_part_one_more_is_two() {
        let header = utf16_len("[ERROR] Agent Ops Alert\n\n");
        let fits = "x".repeat(TELEGRAM_MAX_LEN - header);
        assert_eq!(telegram_parts(&alert(&fits)).len(), 1);
        let over = format!("{fits}\ny");
        let parts = telegram_parts(&alert(&over));
        assert_eq!(parts.len(), 2);
        assert!(parts[0].plain.starts_with("[ERROR] Agent Ops Alert (1/2)\n\n"));
        assert!(parts[1].plain.starts_with("[ERROR] Agent Ops Alert (2/2)\n\nx"), "{:?}", &parts[1].plain);
        assert!(parts[1].plain.ends_with("x\ny"), "the numbered title takes room: the long line is cut");
        let total: usize = parts.iter().map(|p| p.plain.matches('x').count()).sum();
        assert_eq!(total, fits.len());
    }

    #[test]
    fn long_text_splits_on_lines_within_the_limit_and_loses_nothing() {
        let lines: Vec<String> =
            (0..400).map(|i| format!("service-{i} <down> & {}", "z".repeat(i % 37))).collect();
        let message = lines.join("\n");
        let parts = telegram_parts(&alert(&message));
        assert!(parts.len() > 2);
        let mut body = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(utf16_len(&p.plain) <= TELEGRAM_MAX_LEN);
            let head = format!("[ERROR] Agent Ops Alert ({}/{})\n\n", i + 1, parts.len());
            body.push(p.plain.strip_prefix(&head).unwrap().to_owned());
            assert!(p.html.contains("&lt;down&gt; &amp;"));
        }
        assert_eq!(body.join("\n"), message, "split on line boundaries only");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut_at_spaces_or_characters() {
        let words = "word ".repeat(3000);
        let parts = telegram_parts(&alert(&words));
        assert_eq!(parts.len(), 4);
        assert!(parts.iter().all(|p| utf16_len(&p.plain) <= TELEGRAM_MAX_LEN));
        assert!(parts[0].plain.ends_with("word "), "cut after a space");
        let emoji = "🚨".repeat(5000); // 2 UTF-16 units each: 10,000 units
        let parts = telegram_parts(&alert(&emoji));
        assert_eq!(parts.len(), 3);
        let total: usize = parts.iter().map(|p| p.plain.matches('🚨').count()).sum();
        assert_eq!(total, 5000);
        assert!(parts.iter().all(|p| utf16_len(&p.plain) <= TELEGRAM_MAX_LEN));
    }

    #[test]
    fn numbering_widens_past_nine_parts() {
        let parts = telegram_parts(&alert(&"line of text\n".repeat(4000)));
        assert!(parts.len() >= 10, "{}", parts.len());
        assert!(parts[9].plain.starts_with(&format!("[ERROR] Agent Ops Alert (10/{})", parts.len())));
        assert!(parts.iter().all(|p| utf16_len(&p.plain) <= TELEGRAM_MAX_LEN));
    }
}
