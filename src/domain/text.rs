//! Names people read and amounts of money.

use std::fmt;

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
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
    fn won_is_not_negative() {
        assert_eq!(Won::parse(0).unwrap().get(), 0);
        assert!(Won::parse(-1).is_err());
    }
}
