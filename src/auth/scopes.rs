//! The one table of what each RPC needs: a scope, or nothing (health and
//! reflection stay open). A unit test holds it against the service
//! descriptors, so a new RPC without an entry fails the build's tests.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Get, List, BatchGet, Export, the insight RPCs and the change feed.
    Read,
    /// Create, Update, Delete and BatchCreate.
    Write,
    /// Undelete: bringing back what another system deleted.
    Admin,
    /// The audit trail: who changed what (`admin` does not imply it).
    Audit,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Admin, Scope::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
            Scope::Audit => "audit",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
            Scope::Audit => 8,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| {
                format!("unknown scope {s:?}: the scopes are read, write, admin and audit")
            })
    }
}

/// A set of scopes. Scopes do not imply one another: a token that may
/// write and read lists both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(Scope::as_str)
            .collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// What calling a method takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches the port: health and reflection.
    Open,
    /// An authenticated caller holding this scope.
    Needs(Scope),
}

use crate::pb::methods;
use Access::{Needs, Open};
use Scope::{Admin, Audit, Read, Write};

/// Every method this server serves, by gRPC path, and what it takes.
pub const METHODS: &[(&str, Access)] = &[
    ("/grpc.health.v1.Health/Check", Open),
    ("/grpc.health.v1.Health/Watch", Open),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Open,
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        Open,
    ),
    (methods::company_service::CREATE_COMPANY, Needs(Write)),
    (methods::company_service::GET_COMPANY, Needs(Read)),
    (methods::company_service::LIST_COMPANIES, Needs(Read)),
    (methods::company_service::UPDATE_COMPANY, Needs(Write)),
    (methods::company_service::DELETE_COMPANY, Needs(Write)),
    (methods::company_service::UNDELETE_COMPANY, Needs(Admin)),
    (methods::company_service::BATCH_GET_COMPANIES, Needs(Read)),
    (
        methods::company_service::BATCH_CREATE_COMPANIES,
        Needs(Write),
    ),
    (methods::company_service::EXPORT_COMPANIES, Needs(Read)),
    (methods::sme_service::CREATE_SME, Needs(Write)),
    (methods::sme_service::GET_SME, Needs(Read)),
    (methods::sme_service::LIST_SMES, Needs(Read)),
    (methods::sme_service::UPDATE_SME, Needs(Write)),
    (methods::sme_service::DELETE_SME, Needs(Write)),
    (methods::sme_service::UNDELETE_SME, Needs(Admin)),
    (methods::sme_service::BATCH_GET_SMES, Needs(Read)),
    (methods::sme_service::BATCH_CREATE_SMES, Needs(Write)),
    (methods::sme_service::EXPORT_SMES, Needs(Read)),
    (methods::program_service::CREATE_PROGRAM, Needs(Write)),
    (methods::program_service::GET_PROGRAM, Needs(Read)),
    (methods::program_service::LIST_PROGRAMS, Needs(Read)),
    (methods::program_service::UPDATE_PROGRAM, Needs(Write)),
    (methods::program_service::DELETE_PROGRAM, Needs(Write)),
    (methods::program_service::UNDELETE_PROGRAM, Needs(Admin)),
    (methods::program_service::CREATE_PARTICIPATION, Needs(Write)),
    (methods::program_service::GET_PARTICIPATION, Needs(Read)),
    (methods::program_service::LIST_PARTICIPATIONS, Needs(Read)),
    (methods::program_service::UPDATE_PARTICIPATION, Needs(Write)),
    (methods::program_service::DELETE_PARTICIPATION, Needs(Write)),
    (
        methods::program_service::UNDELETE_PARTICIPATION,
        Needs(Admin),
    ),
    (methods::program_service::EXPORT_PROGRAMS, Needs(Read)),
    (methods::insight_service::SUMMARIZE_PROGRAMS, Needs(Read)),
    (methods::insight_service::LIST_PARTNERS, Needs(Read)),
    (methods::audit_service::LIST_AUDIT_EVENTS, Needs(Audit)),
    (methods::change_feed_service::WATCH_CHANGES, Needs(Read)),
];

/// What calling `path` takes; `None` for a path this server does not
/// serve (an authenticated caller then hears UNIMPLEMENTED).
pub fn access_of(path: &str) -> Option<Access> {
    METHODS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, access)| *access)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method of every service this server serves has exactly one
    /// entry, and every entry is a served method.
    #[test]
    fn the_table_covers_every_served_method_once() {
        let served: Vec<String> = crate::metrics::methods_of(&crate::pb::DESCRIPTOR_SETS)
            .expect("descriptor sets decode")
            .into_iter()
            .map(|(service, method)| format!("/{service}/{method}"))
            .collect();
        for path in &served {
            let entries = METHODS.iter().filter(|(p, _)| p == path).count();
            assert_eq!(entries, 1, "{path} needs exactly one entry in METHODS");
        }
        for (path, _) in METHODS {
            assert!(
                served.iter().any(|s| s == path),
                "{path} is in METHODS but not served"
            );
        }
        // Only health and reflection are open.
        for (path, access) in METHODS {
            let open = path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.");
            assert_eq!(*access == Open, open, "{path}");
        }
    }

    #[test]
    fn scopes_parse_and_do_not_imply_each_other() {
        let scopes: Scopes = ["read", "admin"]
            .iter()
            .map(|s| s.parse::<Scope>().expect("scope"))
            .collect();
        assert!(scopes.contains(Read) && scopes.contains(Admin) && !scopes.contains(Write));
        assert!(!scopes.contains(Audit), "admin does not imply audit");
        assert_eq!("audit".parse::<Scope>(), Ok(Audit));
        assert!("owner".parse::<Scope>().is_err());
    }
}
