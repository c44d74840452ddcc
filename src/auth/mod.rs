//! Who is calling, and what they may do. Callers are declared in an
//! operator's file (`--auth-config`): each has a name, the hashes of its
//! bearer tokens and/or the names its client certificates carry, its
//! scopes and its rate limit. The file is read again on SIGHUP; a file that
//! does not parse leaves the callers in force unchanged.

mod file;
mod scopes;
mod token;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub use file::{ConfigError, MAX_CALLERS, Rate, check_name};
pub use scopes::{Access, METHODS, Scope, Scopes, access_of};
pub use token::{TOKEN_PREFIX, TokenHash, new_token};

/// Why a call was refused before it reached its service.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// No credentials, or ones that name no caller.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A known caller without the scope the method needs.
    #[error("caller {caller:?} lacks the {scope} scope that {method} needs")]
    MissingScope {
        caller: Arc<str>,
        scope: Scope,
        method: String,
    },
    /// A caller over its rate limit.
    #[error("caller {caller:?} is over its rate limit of {per_second} calls/s")]
    RateLimited {
        caller: Arc<str>,
        per_second: u32,
        retry_after: Duration,
    },
    /// The server is handling as many calls as it may.
    #[error("the server is handling its limit of {max} calls; retry shortly")]
    Overloaded { max: usize, retry_after: Duration },
}

/// A caller as the server knows it.
pub struct Caller {
    pub name: Arc<str>,
    pub scopes: Scopes,
    rate: Option<(Rate, Arc<DefaultDirectRateLimiter>)>,
}

impl Caller {
    /// Takes one call from the caller's bucket; `Err` when it is empty.
    pub fn take_call(&self) -> Result<(), Refusal> {
        let Some((rate, limiter)) = &self.rate else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| Refusal::RateLimited {
            caller: self.name.clone(),
            per_second: rate.per_second,
            retry_after: not_until.wait_time_from(limiter.clock().now()),
        })
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.name)
            .field("scopes", &self.scopes.names())
            .finish_non_exhaustive()
    }
}

/// The callers of one version of the file.
#[derive(Default)]
struct Callers {
    all: Vec<Arc<Caller>>,
    by_token: HashMap<TokenHash, Arc<Caller>>,
    by_certificate: HashMap<String, Arc<Caller>>,
}

impl Callers {
    /// Builds the callers of `specs`, keeping the rate buckets of callers
    /// whose rate is unchanged since `old`, so a reload is no way around a
    /// limit.
    fn build(specs: Vec<file::CallerSpec>, old: &Callers) -> Self {
        let old_by_name: HashMap<&str, &Arc<Caller>> =
            old.all.iter().map(|c| (&*c.name, c)).collect();
        let mut out = Callers::default();
        for spec in specs {
            let rate = spec.rate.map(|rate| {
                let kept = old_by_name
                    .get(spec.name.as_str())
                    .and_then(|c| c.rate.as_ref())
                    .filter(|(r, _)| *r == rate)
                    .map(|(_, limiter)| limiter.clone());
                let limiter = kept.unwrap_or_else(|| Arc::new(limiter_for(rate)));
                (rate, limiter)
            });
            let caller = Arc::new(Caller {
                name: spec.name.into(),
                scopes: spec.scopes,
                rate,
            });
            out.all.push(caller.clone());
            for hash in spec.token_hashes {
                out.by_token.insert(hash, caller.clone());
            }
            for name in spec.certificate_names {
                out.by_certificate.insert(name, caller.clone());
            }
        }
        out
    }
}

fn limiter_for(rate: Rate) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst()).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}

/// The callers in force, and where they come from. Its `Debug` shows the
/// file's path only.
pub struct Auth {
    path: PathBuf,
    current: RwLock<Arc<Callers>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let specs = file::load(path)?;
        Ok(Self {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(Callers::build(specs, &Callers::default()))),
        })
    }

    /// Reads the file again. On any error the callers in force stay.
    /// Returns the number of callers now declared.
    pub fn reload(&self) -> Result<usize, ConfigError> {
        let specs = file::load(&self.path)?;
        let old = self.callers();
        let new = Callers::build(specs, &old);
        let n = new.all.len();
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(new),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(new),
        }
        Ok(n)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn callers(&self) -> Arc<Callers> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The names of the callers in force.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.callers().all.iter().map(|c| c.name.clone()).collect()
    }

    /// The caller an `authorization` header value names, or else the caller
    /// a client certificate names. A token that is present decides: a bad
    /// one is refused even when a certificate would name a caller.
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        certificate_names: impl FnOnce() -> Vec<String>,
    ) -> Result<Arc<Caller>, Refusal> {
        let callers = self.callers();
        if let Some(value) = authorization {
            let token = bearer(value).ok_or(Refusal::Unauthenticated(
                "the authorization metadata is not `Bearer <token>`",
            ))?;
            return callers.by_token.get(&TokenHash::of(token)).cloned().ok_or(
                Refusal::Unauthenticated(
                    "the bearer token is not one this server knows (wrong, or revoked)",
                ),
            );
        }
        let names = certificate_names();
        if names.is_empty() {
            return Err(Refusal::Unauthenticated(
                "no credentials: send `authorization: Bearer <token>` metadata, or a client certificate the server maps to a caller",
            ));
        }
        names
            .iter()
            .find_map(|n| callers.by_certificate.get(n))
            .cloned()
            .ok_or(Refusal::Unauthenticated(
                "the client certificate names no caller this server knows",
            ))
    }
}

/// The token of `Bearer <token>` (the scheme in any case).
fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The names a client certificate (DER) carries: its subject's common
/// names and its DNS, e-mail and URI subject alternative names. A
/// certificate that does not parse carries none.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) | GeneralName::RFC822Name(n) | GeneralName::URI(n) => {
                    names.push((*n).to_owned());
                }
                _ => {}
            }
        }
    }
    names
}

/// The text of `partnership token new`: the token, once, and the entry to
/// paste into the file.
pub fn token_entry(name: &str, scopes: &[Scope]) -> Result<(String, String), String> {
    check_name(name)?;
    if scopes.is_empty() {
        return Err("give at least one scope: --scopes read,write,admin".to_owned());
    }
    let token = new_token();
    let hash = TokenHash::of(&token).to_config();
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let quoted: Vec<String> = names.iter().map(|s| format!("\"{s}\"")).collect();
    let entry = format!(
        "[[callers]]\nname = \"{name}\"\ntoken_hashes = [\"{hash}\"]\nscopes = [{}]\n",
        quoted.join(", ")
    );
    Ok((token, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(text: &str) -> Auth {
        let specs = file::parse(text, false).expect("valid");
        Auth {
            path: PathBuf::new(),
            current: RwLock::new(Arc::new(Callers::build(specs, &Callers::default()))),
        }
    }

    #[test]
    fn tokens_and_certificates_name_callers() {
        let (token, entry) = token_entry("dash", &[Scope::Read]).expect("entry");
        let a = auth(&format!(
            "{entry}\n[[callers]]\nname = \"batch\"\ncertificate_names = [\"batch.example\"]\nscopes = [\"write\"]\n"
        ));
        let header = format!("Bearer {token}");
        let caller = a
            .authenticate(Some(header.as_bytes()), Vec::new)
            .expect("known token");
        assert_eq!(&*caller.name, "dash");
        assert!(caller.scopes.contains(Scope::Read) && !caller.scopes.contains(Scope::Write));
        let lower = format!("bearer {token}");
        assert!(a.authenticate(Some(lower.as_bytes()), Vec::new).is_ok());
        for bad in ["Bearer pt_nope", "Basic abc", "Bearer ", &token] {
            assert!(matches!(
                a.authenticate(Some(bad.as_bytes()), || vec!["batch.example".into()]),
                Err(Refusal::Unauthenticated(_))
            ));
        }
        let batch = a
            .authenticate(None, || vec!["x".into(), "batch.example".into()])
            .expect("certificate");
        assert_eq!(&*batch.name, "batch");
        assert!(a.authenticate(None, Vec::new).is_err());
        assert!(a.authenticate(None, || vec!["other".into()]).is_err());
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_says_when_to_retry() {
        let (_, entry) = token_entry("slow", &[Scope::Read]).expect("entry");
        let a = auth(&format!(
            "{entry}rate_limit = {{ per_second = 1, burst = 2 }}\n"
        ));
        let callers = a.callers();
        let caller = callers.all.first().expect("one caller");
        assert!(caller.take_call().is_ok());
        assert!(caller.take_call().is_ok());
        match caller.take_call() {
            Err(Refusal::RateLimited { retry_after, .. }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
