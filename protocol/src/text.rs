//! Free text from people and peers (titles, descriptions, labels): length limits and control characters.
//!
//! Every string in a bundle passes one of these checks on decode, so a peer cannot smuggle a terminal escape into an
//! operator's log, or a megabyte into a title. Rendering is still the portal's job (it treats all of it as inert text).

use crate::error::FieldError;

/// A single-line field: a name, a title, a label.
pub fn check_line(field: &'static str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    check(field, text, max_chars, false)
}

/// A multi-line field: a description, a summary, a markdown body. Newlines and tabs are allowed.
pub fn check_block(field: &'static str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    check(field, text, max_chars, true)
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
}
