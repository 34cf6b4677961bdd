//! Free text from people and peers (titles, descriptions, labels): length limits, control characters and invisible
//! characters.
//!
//! Every string in a bundle passes one of these checks on decode, so a peer cannot smuggle a terminal escape into an
//! operator's log, or a megabyte into a title. Rendering is still the portal's job (it treats all of it as inert text).
//!
//! Characters that change how text *reads* without being seen are refused like control characters: the bidirectional
//! controls (an override makes `invoice\u{202E}fdp.exe` display as `invoiceexe.pdf`), zero-width characters that
//! make two labels look equal while they differ, the byte-order mark, and the other format characters that render
//! as nothing ([`INVISIBLE`]). They are refused rather than removed, so that what was signed is what is shown; a
//! right-to-left script needs none of them to display correctly.

use crate::error::FieldError;

/// A single-line field: a name, a title, a label.
pub fn check_line(field: &'static str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    check(field, text, max_chars, false)
}

/// A multi-line field: a description, a summary, a markdown body. Newlines and tabs are allowed.
pub fn check_block(field: &'static str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    check(field, text, max_chars, true)
}

/// Characters that are invisible or reorder the text around them, as inclusive ranges. This is Unicode's format
/// category (Cf) with the line and paragraph separators and the Mongolian vowel separator, minus the few format
/// characters that are visible (Arabic number signs U+0600–U+0605, U+06DD, U+070F, U+08E2, U+110BD, U+110CD),
/// which script text uses.
pub const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark (bidirectional)
    ('\u{180E}', '\u{180E}'),   // Mongolian vowel separator
    ('\u{200B}', '\u{200F}'),   // zero width space, non-joiner, joiner; left-to-right and right-to-left marks
    ('\u{2028}', '\u{2029}'),   // line and paragraph separators
    ('\u{202A}', '\u{202E}'),   // bidirectional embeddings and overrides
    ('\u{2060}', '\u{2064}'),   // word joiner, invisible operators
    ('\u{2066}', '\u{206F}'),   // bidirectional isolates; deprecated format characters
    ('\u{FEFF}', '\u{FEFF}'),   // byte-order mark, zero width no-break space
    ('\u{FFF9}', '\u{FFFB}'),   // interlinear annotation
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical format controls
    ('\u{E0000}', '\u{E007F}'), // tag characters (invisible ASCII)
];

/// Whether `c` is one of the [`INVISIBLE`] characters.
pub fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|&(first, last)| (first..=last).contains(&c))
}

fn check(field: &'static str, text: &str, max_chars: usize, multiline: bool) -> Result<(), FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(
            field,
            text,
            "a non-empty text (leave the field out instead)",
        ));
    }
    // Byte length bounds character count from above, so the cheap test settles almost every case.
    if text.len() > max_chars && text.chars().count() > max_chars {
        return Err(FieldError::new(field, text, format!("at most {max_chars} characters")));
    }
    let allowed_control = |c: char| multiline && matches!(c, '\n' | '\t');
    if let Some(bad) = text.chars().find(|&c| c.is_control() && !allowed_control(c)) {
        return Err(FieldError::new(
            field,
            text,
            format!(
                "no control characters (found U+{:04X}{})",
                u32::from(bad),
                if multiline { "" } else { "; one line only" }
            ),
        ));
    }
    if let Some(bad) = text.chars().find(|&c| is_invisible(c)) {
        return Err(FieldError::new(
            field,
            text,
            format!(
                "no invisible or bidirectional control characters (found U+{:04X}): remove it",
                u32::from(bad)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_blocks() {
        assert!(check_line("title", "Phishing wave", 10).is_err());
        assert!(check_line("title", "Phishing", 10).is_ok());
        assert!(check_line("title", "two\nlines", 100).is_err());
        assert!(check_block("body", "two\nlines\tand a tab", 100).is_ok());
        assert!(check_block("body", "escape \u{1b}[31m", 100).is_err());
        assert!(check_line("title", "", 100).is_err());
        assert!(check_line("title", "ééé", 3).is_ok());
    }

    /// Bidirectional controls and invisible characters make a label read differently from what it is
    /// ("invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf"), so they are refused like control characters, in lines
    /// and blocks alike, naming the field and the code point.
    #[test]
    fn bidi_controls_and_invisible_characters_are_refused() {
        let refused = [
            ('\u{202A}', "U+202A"),
            ('\u{202B}', "U+202B"),
            ('\u{202C}', "U+202C"),
            ('\u{202D}', "U+202D"),
            ('\u{202E}', "U+202E"),
            ('\u{2066}', "U+2066"),
            ('\u{2067}', "U+2067"),
            ('\u{2068}', "U+2068"),
            ('\u{2069}', "U+2069"),
            ('\u{200E}', "U+200E"),
            ('\u{200F}', "U+200F"),
            ('\u{061C}', "U+061C"),
            ('\u{200B}', "U+200B"),
            ('\u{200C}', "U+200C"),
            ('\u{200D}', "U+200D"),
            ('\u{2060}', "U+2060"),
            ('\u{2064}', "U+2064"),
            ('\u{FEFF}', "U+FEFF"),
            ('\u{00AD}', "U+00AD"),
            ('\u{180E}', "U+180E"),
            ('\u{2028}', "U+2028"),
            ('\u{2029}', "U+2029"),
            ('\u{FFF9}', "U+FFF9"),
            ('\u{E0041}', "U+E0041"),
        ];
        for (c, code) in refused {
            let text = format!("invoice{c}fdp.exe");
            for error in [
                check_line("label", &text, 128).expect_err(code),
                check_block("description", &text, 128).expect_err(code),
            ] {
                let shown = error.to_string();
                assert!(shown.contains(code), "{code}: {shown}");
                assert!(
                    shown.starts_with("invalid label") || shown.starts_with("invalid description"),
                    "{shown}"
                );
            }
        }
        for fine in ["Ελληνικά", "עברית", "العربية", "日本語", "naïve café", "emoji 🛡"] {
            assert!(check_line("label", fine, 128).is_ok(), "{fine}");
        }
    }
}
