//! Text people write, names people read, and amounts of money.
//!
//! The text policy, one rule for every text field a caller sends: NUL is
//! always refused; single-line fields (names, metrics, units) refuse every
//! control character; multi-line fields (descriptions) allow only tab, line
//! feed and carriage return. Every backend then stores the same thing.

use std::fmt;

/// Whether a text field may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Single,
    Multi,
}

/// Applies the text policy to `text`.
pub fn check_text(text: &str, lines: Lines) -> Result<(), String> {
    if text.contains('\0') {
        return Err("must not contain NUL characters".to_owned());
    }
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\t' | '\n' | '\r');
    match text.chars().find(|c| c.is_control() && !allowed(*c)) {
        Some(c) => Err(format!(
            "must not contain control characters (found U+{:04X}){}",
            u32::from(c),
            if lines == Lines::Multi {
                "; only tab and line breaks are allowed"
            } else {
                ""
            }
        )),
        None => Ok(()),
    }
}

/// A trimmed display name of 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err("must not be empty".to_owned());
        }
        if chars > Self::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters, got {chars}",
                Self::MAX_CHARS
            ));
        }
        check_text(trimmed, Lines::Single)?;
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A non-negative amount of whole Korean won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Won(i64);

impl Won {
    pub fn parse(amount: i64) -> Result<Self, String> {
        if amount < 0 {
            Err(format!("must not be negative, got {amount}"))
        } else {
            Ok(Self(amount))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert_eq!(
            DisplayName::parse("  삼성전자 ").unwrap().as_str(),
            "삼성전자"
        );
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"가".repeat(200)).is_ok());
        assert!(DisplayName::parse(&"가".repeat(201)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn text_policy() {
        assert!(check_text("line\nnext\tcol\r\n", Lines::Multi).is_ok());
        assert!(check_text("a\u{0}b", Lines::Multi).is_err());
        assert!(check_text("a\u{7f}b", Lines::Multi).is_err());
        assert!(check_text("a\nb", Lines::Single).is_err());
        assert!(check_text("삼성 Electronics", Lines::Single).is_ok());
    }

    #[test]
    fn won_is_not_negative() {
        assert_eq!(Won::parse(0).unwrap().get(), 0);
        assert!(Won::parse(-1).is_err());
    }
}
