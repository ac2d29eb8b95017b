//! Validation of names people give things: asset display names, alt text, folder names.

/// Longest display name or folder name, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest alt text, in characters.
pub const MAX_ALT_TEXT_CHARS: usize = 1000;

/// Bidirectional overrides and isolates, which let text display as something it is not.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Why `text` is refused as a name of at most `max` characters, if it is.
pub fn name_problem(text: &str, max: usize) -> Option<String> {
    if text.trim().is_empty() {
        return Some("Must not be empty".to_owned());
    }
    if text.chars().count() > max {
        return Some(format!("Must be at most {max} characters"));
    }
    if text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Some("Must not contain control or text-direction characters".to_owned());
    }
    None
}

/// Characters that show as nothing and have no use inside a name, so that two names
/// differing only by them look the same. The zero-width joiner and non-joiner are not among
/// them: emoji sequences and Persian or Indic words need them (they are refused at the edges).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// Why `text` is refused as a folder name, if it is: a name's problems, and anything that lets
/// two sibling names look the same (edge whitespace, invisible characters).
pub fn folder_name_problem(text: &str) -> Option<String> {
    if let Some(problem) = name_problem(text, MAX_NAME_CHARS) {
        return Some(problem);
    }
    if text != text.trim() {
        return Some("Must not start or end with whitespace".to_owned());
    }
    if text.starts_with(is_joiner) || text.ends_with(is_joiner) {
        return Some("Must not start or end with a zero-width joiner or non-joiner".to_owned());
    }
    if text.chars().any(is_invisible) {
        return Some(
            "Must not contain invisible characters (zero-width space, joiner, BOM, soft hyphen)"
                .to_owned(),
        );
    }
    None
}

/// Why `text` is refused as alt text, if it is. Alt text may be empty; line breaks are fine.
pub fn alt_text_problem(text: &str) -> Option<String> {
    if text.chars().count() > MAX_ALT_TEXT_CHARS {
        return Some(format!("Must be at most {MAX_ALT_TEXT_CHARS} characters"));
    }
    if text
        .chars()
        .any(|c| (c.is_control() && c != '\n') || is_bidi_control(c))
    {
        return Some("Must not contain control characters".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_alt_text() {
        assert_eq!(name_problem("Logos 2026", 255), None);
        for bad in ["", "  ", "a\u{0}", "a\u{202E}b"] {
            assert!(name_problem(bad, 255).is_some(), "{bad:?}");
        }
        assert!(name_problem(&"x".repeat(256), 255).is_some());
        assert_eq!(alt_text_problem(""), None);
        assert_eq!(alt_text_problem("two\nlines"), None);
        assert!(alt_text_problem("bell\u{7}").is_some());
        assert!(alt_text_problem(&"x".repeat(1001)).is_some());
    }

    #[test]
    fn folder_names_cannot_look_like_their_siblings() {
        assert_eq!(folder_name_problem("Logos 2026"), None);
        assert_eq!(folder_name_problem("Café"), None);
        // Joiners inside a name are real text: an emoji sequence, a Persian word.
        assert_eq!(folder_name_problem("Team \u{1F468}\u{200D}\u{1F4BB}"), None);
        assert_eq!(
            folder_name_problem("\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}"),
            None
        );
        for bad in [
            " Logos",
            "Logos ",
            "Logos\u{00A0}",
            "Lo\u{200B}gos",
            "Logos\u{200D}",
            "\u{FEFF}Logos",
            "Lo\u{00AD}gos",
            "Lo\u{2060}gos",
        ] {
            assert!(folder_name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
