//! Bearer tokens: 256 random bits, shown once when made; only their
//! SHA-256 is kept. A token this random cannot be guessed from its hash, so
//! a fast hash is enough (a slow password hash such as Argon2 defends
//! low-entropy passwords and would cost milliseconds on every call).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every token starts with, so a leaked one is easy to recognise
/// (secret scanners) and to tell from other credentials.
pub const TOKEN_PREFIX: &str = "pt_";

/// A fresh token: `pt_` and 32 bytes from `rand`'s thread generator
/// (a CSPRNG seeded, and reseeded, from the operating system).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 of a token. Its `Debug` hides the digest, so no log line can
/// carry it by accident.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// `sha256:<hex>`, the form the operator's file holds.
    pub fn to_config(self) -> String {
        format!("sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl std::str::FromStr for TokenHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_digits = s.strip_prefix("sha256:").ok_or(
            "a token hash is sha256: and 64 hex digits, as `partnership token new` prints",
        )?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut out)
            .map_err(|_| "a token hash is sha256: and 64 hex digits".to_owned())?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_their_hash_round_trips() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 3 + 43);
        let hash = TokenHash::of(&a);
        assert_eq!(hash.to_config().parse::<TokenHash>(), Ok(hash));
        assert_ne!(TokenHash::of(&b), hash);
        assert_eq!(format!("{hash:?}"), "TokenHash(..)");
        assert!("sha256:zz".parse::<TokenHash>().is_err());
    }
}
