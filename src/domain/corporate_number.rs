//! Korean corporate registration number (법인등록번호).

use std::fmt;

/// A corporate registration number whose check digit is verified; displayed
/// as `XXXXXX-XXXXXXX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorporateNumber([u8; 13]);

impl CorporateNumber {
    /// Accepts 13 digits, with or without the dash of `XXXXXX-XXXXXXX`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        let digits: String = if trimmed.len() == 14 && trimmed.as_bytes().get(6) == Some(&b'-') {
            trimmed.chars().filter(|c| *c != '-').collect()
        } else {
            trimmed.to_owned()
        };
        if digits.len() != 13 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "corporate number {input:?} must be 13 digits, written XXXXXXXXXXXXX or XXXXXX-XXXXXXX"
            ));
        }
        let mut d = [0u8; 13];
        for (slot, b) in d.iter_mut().zip(digits.bytes()) {
            *slot = b - b'0';
        }
        let sum: u32 = d[..12]
            .iter()
            .enumerate()
            .map(|(i, digit)| u32::from(*digit) * if i % 2 == 0 { 1 } else { 2 })
            .sum();
        let expected = ((10 - sum % 10) % 10) as u8;
        if d[12] != expected {
            return Err(format!(
                "corporate number {input:?} has a wrong check digit (expected {expected})"
            ));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for CorporateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: String = self.0.iter().map(|d| char::from(b'0' + d)).collect();
        write!(f, "{}-{}", &s[0..6], &s[6..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_samsung_and_rejects_bad_check_digit() {
        assert_eq!(
            CorporateNumber::parse("1301110006246").unwrap().to_string(),
            "130111-0006246"
        );
        assert!(CorporateNumber::parse("130111-0006246").is_ok());
        assert!(CorporateNumber::parse("130111-0006247").is_err());
        assert!(CorporateNumber::parse("13011-10006246").is_err());
    }
}
