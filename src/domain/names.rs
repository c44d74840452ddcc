//! Resource names (`companies/{company}`, …), resource ids and etags.

use std::fmt;

use sha2::{Digest, Sha256};

/// The top-level collections of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    Companies,
    Smes,
    Programs,
    Participations,
}

impl Collection {
    pub const ALL: [Collection; 4] = [
        Collection::Companies,
        Collection::Smes,
        Collection::Programs,
        Collection::Participations,
    ];

    /// The collection whose segment is `segment` (`smes`), if any.
    pub fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.segment() == segment)
    }

    /// The collection's segment in resource names.
    pub fn segment(self) -> &'static str {
        match self {
            Self::Companies => "companies",
            Self::Smes => "smes",
            Self::Programs => "programs",
            Self::Participations => "participations",
        }
    }

    /// Singular noun for messages, e.g. "company".
    pub fn singular(self) -> &'static str {
        match self {
            Self::Companies => "company",
            Self::Smes => "sme",
            Self::Programs => "program",
            Self::Participations => "participation",
        }
    }

    /// Resource type for `google.rpc.ResourceInfo`.
    pub fn resource_type(self) -> &'static str {
        match self {
            Self::Companies => "partnership.gov.kr/Company",
            Self::Smes => "partnership.gov.kr/Sme",
            Self::Programs => "partnership.gov.kr/Program",
            Self::Participations => "partnership.gov.kr/Participation",
        }
    }

    fn id_prefix(self) -> char {
        match self {
            Self::Companies => 'c',
            Self::Smes => 's',
            Self::Programs => 'p',
            Self::Participations => 'j',
        }
    }

    /// `{segment}/{id}`.
    pub fn name_of(self, id: &ResourceId) -> String {
        format!("{}/{}", self.segment(), id)
    }

    /// Parses `{segment}/{id}`.
    pub fn parse_name(self, name: &str) -> Result<ResourceId, String> {
        let expected = format!("{}/{{{}}}", self.segment(), self.singular());
        let id = name
            .strip_prefix(self.segment())
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| format!("{name:?} is not a resource name of the form {expected}"))?;
        ResourceId::parse(id).map_err(|e| format!("{name:?} is not of the form {expected}: {e}"))
    }
}

/// A resource id: `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$` (RFC-1034 label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    pub fn parse(input: &str) -> Result<Self, String> {
        let b = input.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b.last() != Some(&b'-');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(format!(
                "id {input:?} must match ^[a-z]([a-z0-9-]{{0,61}}[a-z0-9])?$"
            ))
        }
    }

    /// A new time-ordered id for `collection`: a letter and a UUIDv7 in hex.
    pub fn generate(collection: Collection) -> Self {
        Self(format!(
            "{}{}",
            collection.id_prefix(),
            uuid::Uuid::now_v7().simple()
        ))
    }

    /// Trusts a value read back from the database, where only parsed ids are
    /// ever written.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `programs/{program}/participations/{participation}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipationName {
    pub program: ResourceId,
    pub participation: ResourceId,
}

impl ParticipationName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "{name:?} is not of the form programs/{{program}}/participations/{{participation}}"
            )
        };
        let parts: Vec<&str> = name.split('/').collect();
        match parts.as_slice() {
            ["programs", program, "participations", participation] => Ok(Self {
                program: ResourceId::parse(program).map_err(|e| format!("{}: {e}", err()))?,
                participation: ResourceId::parse(participation)
                    .map_err(|e| format!("{}: {e}", err()))?,
            }),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for ParticipationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "programs/{}/participations/{}",
            self.program, self.participation
        )
    }
}

/// The etag of revision `revision` of the resource named `name`: opaque to
/// callers, recomputed by the server to check conditional writes.
pub fn etag_for(name: &str, revision: i64) -> String {
    let digest = Sha256::digest(format!("{name}#{revision}").as_bytes());
    hex::encode(&digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_rfc_1034() {
        for ok in ["a", "acme", "a-1", "samsung-electronics"] {
            assert!(ResourceId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "A", "a-", "a_b", &"a".repeat(64)] {
            assert!(ResourceId::parse(bad).is_err(), "{bad}");
        }
        let generated = ResourceId::generate(Collection::Programs);
        assert!(ResourceId::parse(generated.as_str()).is_ok());
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            Collection::Companies.parse_name("companies/acme").unwrap(),
            ResourceId::parse("acme").unwrap()
        );
        assert!(Collection::Companies.parse_name("smes/acme").is_err());
        assert!(Collection::Companies.parse_name("companies/").is_err());
        assert!(Collection::Companies.parse_name("companies/a/b").is_err());
        assert!(ParticipationName::parse("programs/p/participations/x").is_ok());
        assert!(ParticipationName::parse("programs/p/participations").is_err());
    }
}
