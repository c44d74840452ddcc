//! KSIC industry codes (Korean Standard Industrial Classification).

use std::fmt;

/// Division ranges (2-digit prefixes) of each KSIC section, revisions 10 and 11.
const SECTIONS: &[(char, u8, u8)] = &[
    ('A', 1, 3),
    ('B', 5, 8),
    ('C', 10, 34),
    ('D', 35, 35),
    ('E', 36, 39),
    ('F', 41, 42),
    ('G', 45, 47),
    ('H', 49, 52),
    ('I', 55, 56),
    ('J', 58, 63),
    ('K', 64, 66),
    ('L', 68, 68),
    ('M', 70, 73),
    ('N', 74, 76),
    ('O', 84, 84),
    ('P', 85, 85),
    ('Q', 86, 87),
    ('R', 90, 91),
    ('S', 94, 96),
    ('T', 97, 98),
    ('U', 99, 99),
];

/// A KSIC code of 2 to 5 digits whose division exists; displayed with its
/// section letter, e.g. `C26111`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KsicCode {
    section: char,
    digits: String,
}

impl KsicCode {
    /// The KSIC revision assumed when a code is given without one.
    pub const CURRENT_REVISION: i32 = 11;

    /// The revision a code is of: `given`, or the current one for 0; a
    /// revision is meaningful only with a code.
    pub fn revision(given: i32, has_code: bool) -> Result<i32, String> {
        match (given, has_code) {
            (r, _) if r < 0 => Err(format!("must not be negative, got {r}")),
            (0, _) => Ok(Self::CURRENT_REVISION),
            (r, true) => Ok(r),
            (_, false) => Err("is only meaningful with ksic_code".to_owned()),
        }
    }

    /// A code of the current revision.
    pub fn current(input: &str) -> Result<(Self, i32), String> {
        Ok((Self::parse(input)?, Self::CURRENT_REVISION))
    }

    /// Accepts `26111` or `C26111` (any case); the letter must match the
    /// division.
    pub fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        let (letter, digits) = match trimmed.chars().next() {
            Some(c) if c.is_ascii_alphabetic() => (Some(c.to_ascii_uppercase()), &trimmed[1..]),
            _ => (None, trimmed),
        };
        if !(2..=5).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "KSIC code {input:?} must be an optional section letter and 2 to 5 digits"
            ));
        }
        let division: u8 = digits[..2]
            .parse()
            .map_err(|_| format!("KSIC code {input:?} has no division"))?;
        let section = SECTIONS
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&division))
            .map(|(s, _, _)| *s)
            .ok_or_else(|| format!("KSIC code {input:?}: division {division:02} does not exist"))?;
        if let Some(l) = letter
            && l != section
        {
            return Err(format!(
                "KSIC code {input:?}: division {division:02} belongs to section {section}, not {l}"
            ));
        }
        Ok(Self {
            section,
            digits: digits.to_owned(),
        })
    }
}

impl fmt::Display for KsicCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.section, self.digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_section_letter_and_checks_it() {
        assert_eq!(KsicCode::parse("26111").unwrap().to_string(), "C26111");
        assert_eq!(KsicCode::parse("c26111").unwrap().to_string(), "C26111");
        assert!(KsicCode::parse("A26111").is_err());
        assert!(KsicCode::parse("04").is_err());
        assert!(KsicCode::parse("2").is_err());
        assert!(KsicCode::parse("261111").is_err());
    }
}
