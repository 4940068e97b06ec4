//! Free text an operator or a miner supplies, made safe to store and show: no control characters
//! (a line break becomes a space), no bidirectional overrides or isolates (which can make a reason read
//! differently from what it says), surrounding whitespace trimmed, and a bounded length.

/// The longest a stored free-text reason may be, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Unicode's bidirectional formatting characters: embeddings, overrides, isolates and marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` as it may be stored: control characters become spaces, bidirectional controls go, the
/// result is trimmed and cut to [`MAX_REASON_CHARS`] characters.
pub fn plain(text: &str) -> String {
    let cleaned: String =
        text.chars().filter(|c| !is_bidi_control(*c)).map(|c| if c.is_control() { ' ' } else { c }).collect();
    cleaned.trim().chars().take(MAX_REASON_CHARS).collect::<String>().trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidirectional_characters_do_not_survive() {
        let table = [
            ("  maintenance  ", "maintenance"),
            ("line one\nline two\r\n", "line one line two"),
            ("bell\u{7}\u{1b}[31mred", "bell  [31mred"),
            ("refund \u{202E}DCBA\u{202C} later", "refund DCBA later"),
            ("\u{2066}isolated\u{2069} \u{200F}mark", "isolated mark"),
            ("\u{0}", ""),
            ("Grüße, 中文", "Grüße, 中文"),
        ];
        for (given, want) in table {
            assert_eq!(plain(given), want, "{given:?}");
        }
        assert_eq!(plain(&"x".repeat(2 * MAX_REASON_CHARS)).chars().count(), MAX_REASON_CHARS);
    }
}
