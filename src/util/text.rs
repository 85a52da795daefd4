//! Text from outside (a provider's documents and answers, a browser's parameters) on its way
//! into a log line, a header or a page: control characters never pass, and length is bounded.

/// `text` made safe for one log line or an error message: control characters (CR, LF, ESC,
/// ...), the Unicode line and paragraph separators and the bidirectional overrides are written
/// as escapes (`\n`, `\u{1b}`), and at most `max` characters are kept (then `…`). A forged
/// line can never start inside it. Applying it twice changes nothing more (an escape is plain
/// text), so a message made of escaped values may be escaped again as a whole.
pub(crate) fn for_log(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 8);
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Keeps printable ASCII only, at most `max` characters: for values shown to users as codes
/// (an OAuth `error`, an `error_description`).
pub(crate) fn printable_ascii(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_a_log_line() {
        let forged = "https://op.example\r\n[ERROR] OpenID Connect: login via `admin` completed";
        let safe = for_log(forged, 200);
        assert!(!safe.contains('\n') && !safe.contains('\r'), "{safe}");
        assert!(safe.contains("\\r\\n"), "{safe}");
        assert_eq!(for_log("a\u{1b}[31mb", 20), "a\\u{1b}[31mb");
        assert_eq!(for_log("x\u{202e}y\u{2028}", 20), "x\\u{202e}y\\u{2028}");
        let once = for_log("a\r\nb\u{1b}", 20);
        assert_eq!(for_log(&once, 20), once, "idempotent");
        assert_eq!(for_log("é ok", 20), "é ok");
        assert_eq!(
            for_log(&"x".repeat(100), 10),
            format!("{}…", "x".repeat(10))
        );
    }

    #[test]
    fn codes_keep_printable_ascii() {
        assert_eq!(printable_ascii("a\r\nb<\u{7f}é>", 10), "ab<>");
        assert_eq!(printable_ascii(&"x".repeat(100), 64).len(), 64);
    }
}
