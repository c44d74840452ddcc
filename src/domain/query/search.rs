//! The name `search` of a List request.

/// Longest accepted `search`, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// A name search: case-insensitive substring of the display name, and for
/// enterprises of the business number, with or without dashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub text: String,
    /// The digits of the text when it is only digits and dashes.
    pub digits: Option<String>,
}

/// Parses a `search`; blank is no search.
pub fn parse_search(text: &str) -> Result<Option<Search>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    crate::domain::check_text(text, crate::domain::Lines::Single)?;
    let n = text.chars().count();
    if n > MAX_SEARCH_CHARS {
        return Err(format!(
            "must be at most {MAX_SEARCH_CHARS} characters, got {n}"
        ));
    }
    let digits = (text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && text.bytes().any(|b| b.is_ascii_digit()))
    .then(|| text.chars().filter(char::is_ascii_digit).collect());
    Ok(Some(Search {
        text: text.to_owned(),
        digits,
    }))
}
