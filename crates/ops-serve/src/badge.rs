//! Shields-style SVG badges (`label | message`), every text escaped for XML.

use std::fmt::Write as _;

/// One badge: a grey label on the left, a coloured message on the right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// The left text (a service name, `uptime 7d`).
    pub label: String,
    /// The right text (`up`, `99.93%`).
    pub message: String,
    /// The colour behind the message.
    pub color: Color,
}

/// The colours of the message, as shields.io names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Up, or at or above the target.
    BrightGreen,
    /// Somewhat below.
    Yellow,
    /// Down, or far below.
    Red,
    /// Nothing known.
    LightGrey,
    /// Quiet on purpose (maintenance, a silence).
    Blue,
}

impl Color {
    fn hex(self) -> &'static str {
        match self {
            Self::BrightGreen => "#4c1",
            Self::Yellow => "#dfb317",
            Self::Red => "#e05d44",
            Self::LightGrey => "#9f9f9f",
            Self::Blue => "#007ec6",
        }
    }
}

/// Longest text drawn on either side, in characters; longer ones end with `…` (the title, which
/// is not drawn, keeps the whole text).
const MAX_CHARS: usize = 64;

/// `text` cut to `max` characters, with every character XML 1.0 cannot hold (control
/// characters, U+FFFE, U+FFFF) replaced by U+FFFD, and `& < > " '` escaped.
pub(crate) fn xml_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The width of `text` in Verdana 11px, in tenths of a pixel, near enough for a badge (the
/// SVG's `textLength` makes the glyphs fit it exactly).
fn width(text: &str) -> u32 {
    text.chars()
        .take(MAX_CHARS + 1)
        .map(|c| match c {
            'i' | 'l' | 'j' | '\'' | '.' | ',' | ':' | ';' | '|' | '!' => 35,
            'f' | 'r' | 't' | ' ' | '(' | ')' | '[' | ']' | 'I' | '/' | '-' => 45,
            'm' | 'w' | '%' => 100,
            'M' | 'W' | '@' => 110,
            'A'..='Z' => 75,
            c if c.is_ascii() => 65,
            // East Asian wide characters and emoji take a full em.
            c if u32::from(c) >= 0x1100 => 110,
            _ => 70,
        })
        .sum()
}

impl Badge {
    /// The badge as a standalone SVG document.
    pub fn svg(&self) -> String {
        let title = format!("{}: {}", xml_text(&self.label, usize::MAX), xml_text(&self.message, usize::MAX));
        let (label, message) = (xml_text(&self.label, MAX_CHARS), xml_text(&self.message, MAX_CHARS));
        // Widths in tenths of a pixel: text plus 5 px of padding on each side.
        let (lt, mt) = (width(&self.label), width(&self.message));
        let (lw, mw) = (lt + 100, mt + 100);
        let total = lw + mw;
        let px = |tenths: u32| format!("{}.{}", tenths / 10, tenths % 10);
        let mut s = String::with_capacity(1200 + 2 * title.len() + 4 * (label.len() + message.len()));
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{title}"><title>{title}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{color}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="11">"##,
            w = px(total),
            lw = px(lw),
            mw = px(mw),
            color = self.color.hex(),
        );
        for (text, center, length) in [(&label, lw / 2, lt), (&message, lw + mw / 2, mt)] {
            let _ = write!(
                s,
                r##"<text aria-hidden="true" x="{x}" y="15" fill="#010101" fill-opacity=".3" textLength="{l}">{text}</text><text x="{x}" y="14" textLength="{l}">{text}</text>"##,
                x = px(center),
                l = px(length.max(10)),
            );
        }
        s.push_str("</g></svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_is_escaped_and_only_xml_characters_remain() {
        assert_eq!(xml_text("a<b>&\"c'", 64), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(
            xml_text("x\u{0}\u{1b}[2J\u{7f}\u{9b}\u{fffe}", 64),
            "x\u{fffd}\u{fffd}[2J\u{fffd}\u{fffd}\u{fffd}"
        );
        assert_eq!(xml_text("tab\there", 64), "tab\u{fffd}here");
        assert_eq!(xml_text("日本語", 64), "日本語");
        let long = "x".repeat(100);
        assert_eq!(xml_text(&long, MAX_CHARS), format!("{}…", "x".repeat(64)));
        assert_eq!(xml_text(&long, usize::MAX), long);
        let b = Badge {
            label: "<script>alert(1)</script>".into(),
            message: "up".into(),
            color: Color::BrightGreen,
        };
        let svg = b.svg();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;: up"), "{svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</g></svg>"));
    }

    #[test]
    fn wider_texts_make_wider_badges() {
        let w = |label: &str| {
            let svg = Badge { label: label.into(), message: "up".into(), color: Color::Red }.svg();
            let at = svg.find("width=\"").unwrap() + 7;
            svg[at..at + svg[at..].find('"').unwrap()].parse::<f64>().unwrap()
        };
        assert!(w("API") < w("API Server"));
        assert!(w("iiii") < w("MMMM"));
        assert_eq!(w(&"x".repeat(1000)), w(&"x".repeat(65)), "bounded");
    }
}
