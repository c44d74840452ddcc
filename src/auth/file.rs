//! The operator's file of callers (TOML, or YAML when its name ends in
//! `.yaml`/`.yml`), parsed and checked whole: a file with any mistake is
//! refused as a whole, naming the mistake, and never half applied.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::scopes::{Scope, Scopes};
use super::token::TokenHash;

/// Why a file of callers was refused. It never quotes a token hash.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path} does not parse: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// How fast one caller may call: `per_second` on average, up to `burst` at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: u32,
    pub burst: Option<u32>,
}

impl Rate {
    /// The bucket size: `burst`, or one second's worth.
    pub fn burst(self) -> u32 {
        self.burst.unwrap_or(self.per_second).max(1)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// The rate of every caller that sets none of its own.
    #[serde(default)]
    default_rate_limit: Option<Rate>,
    #[serde(default)]
    callers: Vec<CallerEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerEntry {
    name: String,
    /// `sha256:<64 hex digits>` of each token this caller may present
    /// (several while a token is rotated).
    #[serde(default)]
    token_hashes: Vec<String>,
    /// Client certificate names (subject common name, or a DNS, e-mail or
    /// URI subject alternative name) that identify this caller over mutual
    /// TLS.
    #[serde(default)]
    certificate_names: Vec<String>,
    scopes: Vec<String>,
    #[serde(default)]
    rate_limit: Option<Rate>,
}

/// One caller as the file declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerSpec {
    pub name: String,
    pub token_hashes: Vec<TokenHash>,
    pub certificate_names: Vec<String>,
    pub scopes: Scopes,
    pub rate: Option<Rate>,
}

/// Most callers a file may declare: each is a metrics label value.
pub const MAX_CALLERS: usize = 1000;

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Vec<CallerSpec>, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: shown.clone(),
        error,
    })?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    parse(&text, yaml).map_err(|e| match e {
        Mistake::Parse(message) => ConfigError::Parse {
            path: shown,
            message,
        },
        Mistake::Invalid(message) => ConfigError::Invalid {
            path: shown,
            message,
        },
    })
}

#[derive(Debug)]
pub(super) enum Mistake {
    Parse(String),
    Invalid(String),
}

/// Parses and checks a file's text.
pub(super) fn parse(text: &str, yaml: bool) -> Result<Vec<CallerSpec>, Mistake> {
    let file: File = if yaml {
        serde_yaml_ng::from_str(text)
            .map_err(|e| Mistake::Parse(redact(&one_line(&e.to_string()))))?
    } else {
        toml::from_str(text).map_err(|e| Mistake::Parse(redact(&toml_error(text, &e))))?
    };
    let invalid = |m: String| Mistake::Invalid(m);
    if file.callers.len() > MAX_CALLERS {
        return Err(invalid(format!(
            "{} callers declared; at most {MAX_CALLERS}",
            file.callers.len()
        )));
    }
    let mut names = HashSet::new();
    let mut hashes = HashMap::new();
    let mut certificates = HashMap::new();
    let mut out = Vec::with_capacity(file.callers.len());
    for (i, entry) in file.callers.into_iter().enumerate() {
        let at = format!("callers[{i}]");
        check_name(&entry.name).map_err(|m| invalid(format!("{at}.name: {m}")))?;
        if !names.insert(entry.name.clone()) {
            return Err(invalid(format!(
                "{at}.name: {:?} is declared twice",
                entry.name
            )));
        }
        if entry.token_hashes.is_empty() && entry.certificate_names.is_empty() {
            return Err(invalid(format!(
                "{at} ({}): give token_hashes or certificate_names, or the caller cannot get in",
                entry.name
            )));
        }
        let mut token_hashes = Vec::new();
        for (j, text) in entry.token_hashes.iter().enumerate() {
            let hash: TokenHash = text.parse().map_err(|m: String| {
                invalid(format!("{at}.token_hashes[{j}] ({}): {m}", entry.name))
            })?;
            if let Some(other) = hashes.insert(hash, entry.name.clone()) {
                return Err(invalid(format!(
                    "{at}.token_hashes[{j}]: the same token is declared for {other:?} and {:?}",
                    entry.name
                )));
            }
            token_hashes.push(hash);
        }
        for (j, cert) in entry.certificate_names.iter().enumerate() {
            if cert.trim().is_empty() || cert.trim() != cert {
                return Err(invalid(format!(
                    "{at}.certificate_names[{j}] ({}): empty or padded with spaces",
                    entry.name
                )));
            }
            if let Some(other) = certificates.insert(cert.clone(), entry.name.clone()) {
                return Err(invalid(format!(
                    "{at}.certificate_names[{j}]: {cert:?} names both {other:?} and {:?}",
                    entry.name
                )));
            }
        }
        if entry.scopes.is_empty() {
            return Err(invalid(format!(
                "{at}.scopes ({}): give at least one of read, write, admin, audit",
                entry.name
            )));
        }
        let scopes = entry
            .scopes
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Scopes, String>>()
            .map_err(|m| invalid(format!("{at}.scopes ({}): {m}", entry.name)))?;
        let rate = entry.rate_limit.or(file.default_rate_limit);
        if let Some(rate) = rate
            && rate.per_second == 0
        {
            return Err(invalid(format!(
                "{at}.rate_limit ({}): per_second must be at least 1 (remove the caller to shut it out)",
                entry.name
            )));
        }
        out.push(CallerSpec {
            name: entry.name,
            token_hashes,
            certificate_names: entry.certificate_names,
            scopes,
            rate,
        });
    }
    Ok(out)
}

/// A caller name: it labels metrics and log lines, so it is short and plain.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a caller name: 1-63 of a-z, 0-9, '-', '_', '.', starting with a letter or digit"
        ))
    }
}

/// Parser messages quote the offending line; a line holding a token hash
/// must not reach a log, so runs of 16 or more hex digits are masked.
/// A TOML error on one line: where, and what (the crate's own text quotes
/// the line under a caret, over several lines).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    format!("{}{}", at.unwrap_or_default(), one_line(e.message()))
}

/// `text` with its lines joined by spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 16 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in message.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn toml_and_yaml_declare_the_same_callers() {
        let toml = format!(
            r#"
default_rate_limit = {{ per_second = 100 }}
[[callers]]
name = "mss-dashboard"
token_hashes = ["{HASH}"]
scopes = ["read"]
[[callers]]
name = "batch"
certificate_names = ["batch.mss.go.kr"]
scopes = ["read", "write"]
rate_limit = {{ per_second = 5, burst = 10 }}
"#
        );
        let yaml = format!(
            r#"
default_rate_limit: {{ per_second: 100 }}
callers:
  - name: mss-dashboard
    token_hashes: ["{HASH}"]
    scopes: [read]
  - name: batch
    certificate_names: [batch.mss.go.kr]
    scopes: [read, write]
    rate_limit: {{ per_second: 5, burst: 10 }}
"#
        );
        let a = parse(&toml, false).expect("toml");
        let b = parse(&yaml, true).expect("yaml");
        assert_eq!(a, b);
        assert_eq!(a[0].rate.map(Rate::burst), Some(100));
        assert_eq!(a[1].rate.map(Rate::burst), Some(10));
    }

    #[test]
    fn parse_errors_are_one_line_with_their_place() {
        let Err(Mistake::Parse(message)) =
            parse("[[callers]]\nname = \"a\"\nscopes = [read]\n", false)
        else {
            panic!("a bare word is not TOML");
        };
        assert!(!message.contains('\n'), "{message}");
        assert!(message.starts_with("line 3, column "), "{message}");
        let Err(Mistake::Parse(message)) = parse("callers:\n  - name: [\n", true) else {
            panic!("an open list is not YAML");
        };
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn mistakes_are_named_and_never_quote_hashes() {
        let cases = [
            (
                format!(
                    "[[callers]]\nname = \"a\"\ntoken_hashes = [\"{HASH}\"]\nscopes = [\"root\"]"
                ),
                "unknown scope",
            ),
            (
                format!(
                    "[[callers]]\nname = \"A b\"\ntoken_hashes = [\"{HASH}\"]\nscopes = [\"read\"]"
                ),
                "not a caller name",
            ),
            (
                "[[callers]]\nname = \"a\"\nscopes = [\"read\"]".to_owned(),
                "cannot get in",
            ),
            (
                "[[callers]]\nname = \"a\"\ntoken_hashes = [\"md5:00\"]\nscopes = [\"read\"]"
                    .to_owned(),
                "sha256:",
            ),
            (
                format!(
                    "[[callers]]\nname = \"a\"\ntoken_hashes = [\"{HASH}\"]\nscopes = [\"read\"]\n[[callers]]\nname = \"b\"\ntoken_hashes = [\"{HASH}\"]\nscopes = [\"read\"]"
                ),
                "same token",
            ),
            (
                format!(
                    "[[callers]]\nname = \"a\"\ntoken_hashes = [\"{HASH}\"]\nscopes = [\"read\"]\nrate_limit = {{ per_second = 0 }}"
                ),
                "at least 1",
            ),
            (
                format!(
                    "[[callers]]\nname = \"a\"\ntoken_hashes = [\"{HASH}\"]\nscopes = [\"read\"]\ntokn = 1"
                ),
                "unknown field",
            ),
            (
                format!(
                    "[[callers]]\nname = \"a\"\ntoken_hashes = \"{HASH}\"\nscopes = [\"read\"]"
                ),
                "invalid type",
            ),
        ];
        for (text, expected) in cases {
            let message = match parse(&text, false) {
                Err(Mistake::Parse(m) | Mistake::Invalid(m)) => m,
                Ok(_) => panic!("accepted: {text}"),
            };
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
            assert!(!message.contains(&HASH[7..]), "{message:?} quotes a hash");
        }
    }
}
