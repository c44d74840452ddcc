//! Korean business registration number (사업자등록번호).

use std::fmt;

/// A business registration number whose check digit is verified; displayed as
/// `XXX-XX-XXXXX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BusinessNumber([u8; 10]);

const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];

impl BusinessNumber {
    /// Accepts 10 digits, with or without the dashes of `XXX-XX-XXXXX`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        let dashed = trimmed.len() == 12
            && trimmed.as_bytes().get(3) == Some(&b'-')
            && trimmed.as_bytes().get(6) == Some(&b'-');
        let digits: String = if dashed {
            trimmed.chars().filter(|c| *c != '-').collect()
        } else {
            trimmed.to_owned()
        };
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "business number {input:?} must be 10 digits, written XXXXXXXXXX or XXX-XX-XXXXX"
            ));
        }
        let mut d = [0u8; 10];
        for (slot, b) in d.iter_mut().zip(digits.bytes()) {
            *slot = b - b'0';
        }
        let expected = check_digit(&d);
        if d[9] != expected {
            return Err(format!(
                "business number {input:?} has a wrong check digit (expected {expected})"
            ));
        }
        Ok(Self(d))
    }
}

impl BusinessNumber {
    /// The number whose first nine digits are `body`, with its check digit.
    pub fn with_check_digit(body: &str) -> Result<Self, String> {
        if body.len() != 9 || !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{body:?} is not the 9 digits before a check digit"));
        }
        let mut d = [0u8; 10];
        for (slot, b) in d.iter_mut().zip(body.bytes()) {
            *slot = b - b'0';
        }
        d[9] = check_digit(&d);
        Ok(Self(d))
    }
}

fn check_digit(d: &[u8; 10]) -> u8 {
    let mut sum: u32 = d
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, w)| u32::from(*digit) * w)
        .sum();
    sum += u32::from(d[8]) * 5 / 10;
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for BusinessNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `XXX-XX-XXXXX`, written at once (it is in every enterprise read).
        let mut text = [b'-'; 12];
        for (i, digit) in self.0.iter().enumerate() {
            let at = i + usize::from(i >= 3) + usize::from(i >= 5);
            text[at] = b'0' + digit % 10;
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_numbers_with_or_without_dashes() {
        for n in ["124-81-00998", "1248100998", "120-81-47521", "220-81-62517"] {
            let parsed = BusinessNumber::parse(n).unwrap();
            assert_eq!(parsed.to_string().replace('-', ""), n.replace('-', ""));
        }
        assert_eq!(
            BusinessNumber::parse("1248100998").unwrap().to_string(),
            "124-81-00998"
        );
    }

    #[test]
    fn rejects_wrong_check_digit_and_shape() {
        assert!(BusinessNumber::parse("124-81-00997").is_err());
        assert!(BusinessNumber::parse("12-481-00998").is_err());
        assert!(BusinessNumber::parse("124810099").is_err());
        assert!(BusinessNumber::parse("12481009a8").is_err());
        assert!(BusinessNumber::parse("").is_err());
    }

    #[test]
    fn check_digits_are_computed_as_parse_checks_them() {
        let made = BusinessNumber::with_check_digit("124810099").unwrap();
        assert_eq!(made.to_string(), "124-81-00998");
        assert!(BusinessNumber::with_check_digit("12481009").is_err());
        assert!(BusinessNumber::with_check_digit("12481009x").is_err());
    }
}
