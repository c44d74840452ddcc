//! The questions of `InsightService`: what programs are grouped by, and
//! whose partners are listed.

use super::{Collection, Position, ResourceId};

/// The totals of one group of programs; `keys` in `group_by` order, `None`
/// for an unset value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramGroup {
    pub keys: Vec<Option<String>>,
    pub program_count: i64,
    pub sme_count: i64,
    pub total_budget_krw: i64,
    pub total_support_krw: i64,
}

/// Program totals, and the journal position they reflect when they came
/// from the store's rollup (`None`: counted in the database).
#[derive(Debug, Clone)]
pub struct Summary {
    pub groups: Vec<ProgramGroup>,
    pub position: Option<Position>,
}

/// Most groups one `SummarizePrograms` answers with.
pub const MAX_GROUPS: usize = 10_000;

/// A field `SummarizePrograms` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKey {
    Kind,
    State,
    HostCompany,
    Region,
    StartYear,
}

impl GroupKey {
    const ALL: [GroupKey; 5] = [
        GroupKey::Kind,
        GroupKey::State,
        GroupKey::HostCompany,
        GroupKey::Region,
        GroupKey::StartYear,
    ];

    /// The name callers write in `group_by` and read in `keys`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::State => "state",
            Self::HostCompany => "host_company",
            Self::Region => "region",
            Self::StartYear => "start_year",
        }
    }
}

/// Parses `group_by`: known fields, each at most once.
pub fn parse_group_by(fields: &[String]) -> Result<Vec<GroupKey>, String> {
    let mut keys = Vec::with_capacity(fields.len());
    for field in fields {
        let key = GroupKey::ALL
            .into_iter()
            .find(|k| k.name() == field.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = GroupKey::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "{field:?} is not a field to group programs by; the fields are: {}",
                    names.join(", ")
                )
            })?;
        if keys.contains(&key) {
            return Err(format!("names {} twice", key.name()));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Whose partners `ListPartners` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnersOf {
    /// The SMEs in the programs a company hosts.
    Company(ResourceId),
    /// The companies hosting the programs an SME takes part in.
    Sme(ResourceId),
}

impl PartnersOf {
    /// Parses `companies/{company}` or `smes/{sme}`.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.starts_with("smes/") {
            Collection::Smes.parse_name(name).map(Self::Sme)
        } else if name.starts_with("companies/") {
            Collection::Companies.parse_name(name).map(Self::Company)
        } else {
            Err(format!(
                "{name:?} is neither companies/{{company}} nor smes/{{sme}}"
            ))
        }
    }

    /// The collection of the named record.
    pub fn collection(&self) -> Collection {
        match self {
            Self::Company(_) => Collection::Companies,
            Self::Sme(_) => Collection::Smes,
        }
    }

    /// The collection its partners are in.
    pub fn partners(&self) -> Collection {
        match self {
            Self::Company(_) => Collection::Smes,
            Self::Sme(_) => Collection::Companies,
        }
    }

    pub fn id(&self) -> &ResourceId {
        match self {
            Self::Company(id) | Self::Sme(id) => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_names_known_fields_once() {
        let keys = parse_group_by(&["kind".into(), "start_year".into()]).unwrap();
        assert_eq!(keys, vec![GroupKey::Kind, GroupKey::StartYear]);
        assert!(parse_group_by(&["kind".into(), "kind".into()]).is_err());
        assert!(parse_group_by(&["budget".into()]).is_err());
        assert_eq!(parse_group_by(&[]).unwrap(), vec![]);
    }

    #[test]
    fn partners_of_companies_and_smes() {
        assert!(matches!(
            PartnersOf::parse("smes/a1"),
            Ok(PartnersOf::Sme(_))
        ));
        assert!(matches!(
            PartnersOf::parse("companies/a1"),
            Ok(PartnersOf::Company(_))
        ));
        assert!(PartnersOf::parse("programs/a1").is_err());
        assert!(PartnersOf::parse("smes/").is_err());
    }
}
