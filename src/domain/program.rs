//! Cooperation programs hosted by companies.

use chrono::NaiveDate;

use super::enterprise::stored_enum;
use super::{DisplayName, Lines, Region, ResourceId, Won, check_text};

/// The values of [`ProgramKind`] and the text each is stored as, handed to
/// `$then`: here the domain type, in `store` its column type, so the
/// list is written once.
macro_rules! program_kinds {
    ($then:ident) => {
        $then!(
            /// Kind of cooperation.
            ProgramKind {
                ProfitSharing => "PROFIT_SHARING",
                DefenseIndustry => "DEFENSE_INDUSTRY",
                SmartFactory => "SMART_FACTORY",
                RegionalDevelopment => "REGIONAL_DEVELOPMENT",
                EsgSupplyChain => "ESG_SUPPLY_CHAIN",
                OpenInnovation => "OPEN_INNOVATION",
                PlatformPartnership => "PLATFORM_PARTNERSHIP",
                OverseasExpansion => "OVERSEAS_EXPANSION",
                FinancialSupport => "FINANCIAL_SUPPORT",
                JobQuality => "JOB_QUALITY",
                WinWinPayment => "WIN_WIN_PAYMENT",
                TechnologyCooperation => "TECHNOLOGY_COOPERATION",
            }
        );
    };
}
pub(crate) use program_kinds;
program_kinds!(stored_enum);

impl ProgramKind {
    /// The prefix of the proto's names of these values.
    pub const PROTO_PREFIX: &'static str = "PROGRAM_KIND_";
}

/// The values of [`ProgramState`] and the text each is stored as, handed to
/// `$then`: here the domain type, in `store` its column type, so the
/// list is written once.
macro_rules! program_states {
    ($then:ident) => {
        $then!(
            /// Life-cycle state of a program.
            ProgramState {
                Planned => "PLANNED",
                Active => "ACTIVE",
                Completed => "COMPLETED",
                Suspended => "SUSPENDED",
            }
        );
    };
}
pub(crate) use program_states;
program_states!(stored_enum);

impl ProgramState {
    /// The prefix of the proto's names of these values.
    pub const PROTO_PREFIX: &'static str = "PROGRAM_STATE_";
}

/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// A valid program, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub display_name: DisplayName,
    pub description: String,
    pub host_company: ResourceId,
    pub kind: ProgramKind,
    pub region: Option<Region>,
    pub state: ProgramState,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub budget_krw: Option<Won>,
    /// Companies running the program with the host; distinct, not the host.
    pub co_hosts: Vec<ResourceId>,
    pub funders: Vec<Funder>,
}

/// A body co-funding a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funder {
    pub display_name: DisplayName,
    pub contribution_krw: Option<Won>,
}

/// Most co-hosts, and most funders, of one program.
pub const MAX_PARTNERS: usize = 20;

impl Program {
    /// Checks a description's length and characters.
    pub fn parse_description(text: &str) -> Result<String, String> {
        check_text(text, Lines::Multi)?;
        let n = text.chars().count();
        if n > MAX_DESCRIPTION_CHARS {
            Err(format!(
                "must be at most {MAX_DESCRIPTION_CHARS} characters, got {n}"
            ))
        } else {
            Ok(text.to_owned())
        }
    }

    /// Checks the co-hosts: distinct, not the host, at most
    /// [`MAX_PARTNERS`].
    pub fn check_co_hosts(host: &ResourceId, co_hosts: &[ResourceId]) -> Result<(), String> {
        if co_hosts.len() > MAX_PARTNERS {
            return Err(format!(
                "at most {MAX_PARTNERS} co-hosts, got {}",
                co_hosts.len()
            ));
        }
        for (i, c) in co_hosts.iter().enumerate() {
            if c == host {
                return Err(format!("companies/{c} is the host company"));
            }
            if co_hosts[..i].contains(c) {
                return Err(format!("companies/{c} is named twice"));
            }
        }
        Ok(())
    }

    /// Checks that a program does not end before it starts.
    pub fn check_dates(start: Option<NaiveDate>, end: Option<NaiveDate>) -> Result<(), String> {
        match (start, end) {
            (Some(s), Some(e)) if e < s => Err(format!("end date {e} is before start date {s}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_ordered() {
        use crate::domain::parse_date;
        let a = parse_date(2026, 1, 1).ok();
        let b = parse_date(2026, 12, 31).ok();
        assert!(Program::check_dates(a, b).is_ok());
        assert!(Program::check_dates(b, a).is_err());
        assert!(Program::check_dates(a, a).is_ok());
    }
}
