//! Demo data: the cooperation cases presented at the 2026-03-10 shared-growth
//! roundtable (see `shared/domain/seed-article.txt`), stored as demo records
//! (`demo = true`). Loading twice changes nothing: every record has a fixed
//! id and existing ones are left as they are.

use crate::domain::ParticipationName;
use crate::domain::{
    BusinessNumber, CorporateNumber, DisplayName, Enterprise, EnterpriseSize, KsicCode, Outcome,
    Participation, Program, ProgramKind, ProgramState, ResourceId,
};
use crate::store::{Companies, Participations, Programs, Smes, Store, StoreError};

/// What a run of [`seed_demo`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub created: usize,
    pub already_present: usize,
}

struct Company {
    id: &'static str,
    name: &'static str,
    business_number: Option<&'static str>,
    corporate_number: Option<&'static str>,
    ksic: Option<&'static str>,
}

/// The ten large companies at the roundtable. Registration numbers only
/// where public reference data gives them.
const COMPANIES: &[Company] = &[
    Company {
        id: "samsung-electronics",
        name: "삼성전자 (Samsung Electronics)",
        business_number: Some("124-81-00998"),
        corporate_number: Some("130111-0006246"),
        ksic: Some("C26"),
    },
    Company {
        id: "sk-supex-council",
        name: "SK수펙스추구협의회 (SK Supex Council)",
        business_number: None,
        corporate_number: None,
        ksic: None,
    },
    Company {
        id: "hyundai-motor",
        name: "현대자동차 (Hyundai Motor Company)",
        business_number: None,
        corporate_number: None,
        ksic: Some("C30"),
    },
    Company {
        id: "hanwha-ocean",
        name: "한화오션 (Hanwha Ocean)",
        business_number: None,
        corporate_number: None,
        ksic: Some("C31"),
    },
    Company {
        id: "naver",
        name: "네이버 (Naver)",
        business_number: None,
        corporate_number: None,
        ksic: Some("J63"),
    },
    Company {
        id: "korea-aerospace-industries",
        name: "한국항공우주산업 (Korea Aerospace Industries)",
        business_number: None,
        corporate_number: None,
        ksic: Some("C31"),
    },
    Company {
        id: "lg-electronics",
        name: "LG전자 (LG Electronics)",
        business_number: None,
        corporate_number: None,
        ksic: Some("C26"),
    },
    Company {
        id: "cj-enm",
        name: "씨제이이엔엠 (CJ ENM)",
        business_number: None,
        corporate_number: None,
        ksic: Some("J59"),
    },
    Company {
        id: "shinhan-financial-group",
        name: "신한금융그룹 (Shinhan Financial Group)",
        business_number: None,
        corporate_number: None,
        ksic: Some("K64"),
    },
    Company {
        id: "pulmuone-foods",
        name: "풀무원식품 (Pulmuone Foods)",
        business_number: None,
        corporate_number: None,
        ksic: Some("C10"),
    },
];

/// The SME partners named in the article. Their size classes are not
/// published; the demo records use SMALL as a placeholder.
const SMES: &[(&str, &str)] = &[
    ("daewon-industry", "대원산업 (Daewon Industry)"),
    ("mirae-aerospace", "미래항공 (Mirae Aerospace)"),
    ("hongseong-industry", "홍성산업 (Hongseong Industry)"),
    ("poongkang", "풍강 (Poongkang)"),
];

struct Case {
    id: &'static str,
    host: &'static str,
    kind: ProgramKind,
    name: &'static str,
    description: &'static str,
    /// The SME partner and the outcomes reported (in words: the article
    /// gives no figures).
    partner: Option<(&'static str, &'static [(&'static str, &'static str)])>,
}

const CASES: &[Case] = &[
    Case {
        id: "hanwha-ocean-profit-sharing",
        host: "hanwha-ocean",
        kind: ProgramKind::ProfitSharing,
        name: "협력사 성과공유제 (Profit sharing with suppliers)",
        description: "Hanwha Ocean applies the same bonus payment rate to employees at partner \
                      companies as to its own workers.",
        partner: Some((
            "daewon-industry",
            &[(
                "bonus payment rate of supplier employees",
                "same rate as Hanwha Ocean's own employees",
            )],
        )),
    },
    Case {
        id: "hanwha-ocean-supplier-welfare",
        host: "hanwha-ocean",
        kind: ProgramKind::JobQuality,
        name: "협력사 직원 복지 지원 (Welfare support for supplier employees)",
        description: "Welfare support such as tuition assistance for skilled supplier employees.",
        partner: Some((
            "daewon-industry",
            &[(
                "welfare support",
                "tuition assistance for skilled employees",
            )],
        )),
    },
    Case {
        id: "kai-partner-financing",
        host: "korea-aerospace-industries",
        kind: ProgramKind::FinancialSupport,
        name: "협력사 긴급 자금·설비 지원 (Emergency financing and equipment loans for partners)",
        description: "The defense contractor provides emergency financing and low-interest loans \
                      for equipment investment to smaller partners with weaker credit profiles.",
        partner: Some((
            "mirae-aerospace",
            &[(
                "access to financing",
                "emergency financing and low-interest equipment loans",
            )],
        )),
    },
    Case {
        id: "samsung-smart-factory",
        host: "samsung-electronics",
        kind: ProgramKind::SmartFactory,
        name: "스마트공장 구축 지원 (Smart-factory support)",
        description: "Samsung Electronics dispatches manufacturing experts to smaller firms for \
                      process innovation and automation.",
        partner: Some((
            "hongseong-industry",
            &[
                (
                    "production management",
                    "built a production-management system",
                ),
                ("inventory cost", "reduced"),
                ("delivery time", "shortened"),
                ("productivity", "increased"),
            ],
        )),
    },
    Case {
        id: "hyundai-motor-esg-supply-chain",
        host: "hyundai-motor",
        kind: ProgramKind::EsgSupplyChain,
        name: "ESG 공급망 상생협력 (ESG supply-chain cooperation)",
        description: "Helps suppliers adopt carbon-reduction equipment and strengthen \
                      environmental management through training and consulting.",
        partner: Some((
            "poongkang",
            &[
                (
                    "carbon-reduction equipment",
                    "adopted carbon-reduction equipment",
                ),
                (
                    "environmental management",
                    "strengthened through training and consulting",
                ),
            ],
        )),
    },
    Case {
        id: "naver-small-merchant-platform",
        host: "naver",
        kind: ProgramKind::PlatformPartnership,
        name: "소상공인 온라인 플랫폼 상생 (Online platform partnership for small merchants)",
        description: "Online platform partnerships for small merchants.",
        partner: None,
    },
];

fn invalid(what: &'static str, e: String) -> StoreError {
    StoreError::corrupt(what, format!("in the demo data: {e}"))
}

fn id(s: &str) -> Result<ResourceId, StoreError> {
    ResourceId::parse(s).map_err(|e| invalid("id", e))
}

fn name(s: &str) -> Result<DisplayName, StoreError> {
    DisplayName::parse(s).map_err(|e| invalid("name", e))
}

/// Counts a create, treating "a record with this id is already there" (or,
/// for a participation, "this SME already takes part") as success.
fn tally<T>(report: &mut SeedReport, result: Result<T, StoreError>) -> Result<(), StoreError> {
    match result {
        Ok(_) => report.created += 1,
        Err(StoreError::AlreadyExists { .. } | StoreError::AlreadyParticipates { .. }) => {
            report.already_present += 1;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Whether `result` failed because a live record already holds the
/// business number.
fn number_taken<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::BusinessNumberTaken { .. }))
}

/// Demo records have no request id, so no response is ever recorded.
fn no_response<T>(_: &T) -> Vec<u8> {
    Vec::new()
}

/// Loads the demo records that are not there yet.
pub async fn seed_demo(store: &Store) -> Result<SeedReport, StoreError> {
    let mut report = SeedReport::default();
    for c in COMPANIES {
        let data = Enterprise {
            display_name: name(c.name)?,
            business_number: c
                .business_number
                .map(BusinessNumber::parse)
                .transpose()
                .map_err(|e| invalid("business number", e))?,
            corporate_number: c
                .corporate_number
                .map(CorporateNumber::parse)
                .transpose()
                .map_err(|e| invalid("corporate number", e))?,
            size: EnterpriseSize::Large,
            ksic: c
                .ksic
                .map(KsicCode::current)
                .transpose()
                .map_err(|e| invalid("KSIC code", e))?,
            region: None,
            employee_count: None,
            annual_revenue_krw: None,
        };
        let mut r = store
            .create::<Companies>(id(c.id)?, data.clone(), true, None, no_response)
            .await;
        if number_taken(&r) {
            // A real record holds the number: the demo record goes without
            // registration numbers rather than displace it.
            tracing::warn!(
                company = c.id,
                "business number taken; demo record stored without it"
            );
            let data = Enterprise {
                business_number: None,
                corporate_number: None,
                ..data
            };
            r = store
                .create::<Companies>(id(c.id)?, data, true, None, no_response)
                .await;
        }
        tally(&mut report, r)?;
    }
    for (sme_id, sme_name) in SMES {
        let data = Enterprise {
            display_name: name(sme_name)?,
            business_number: None,
            corporate_number: None,
            size: EnterpriseSize::Small,
            ksic: None,
            region: None,
            employee_count: None,
            annual_revenue_krw: None,
        };
        let r = store
            .create::<Smes>(id(sme_id)?, data, true, None, no_response)
            .await;
        tally(&mut report, r)?;
    }
    for case in CASES {
        let data = Program {
            display_name: name(case.name)?,
            description: case.description.to_owned(),
            host_company: id(case.host)?,
            kind: case.kind,
            region: None,
            state: ProgramState::Active,
            start_date: None,
            end_date: None,
            budget_krw: None,
            // The article names no co-hosts or co-funders of these cases.
            co_hosts: Vec::new(),
            funders: Vec::new(),
        };
        let r = store
            .create::<Programs>(id(case.id)?, data, true, None, no_response)
            .await;
        tally(&mut report, r)?;
        if let Some((sme, outcomes)) = case.partner {
            let outcomes = outcomes
                .iter()
                .map(|(metric, what)| Outcome::parse(metric, None, None, "", what))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid("outcome", e))?;
            Participation::check_outcome_count(outcomes.len())
                .map_err(|e| invalid("outcomes", e))?;
            let data = Participation {
                sme: id(sme)?,
                support_amount_krw: None,
                joined_date: None,
                outcomes,
            };
            let key = ParticipationName {
                program: id(case.id)?,
                participation: id(sme)?,
            };
            let r = store
                .create::<Participations>(key, data, true, None, no_response)
                .await;
            tally(&mut report, r)?;
        }
    }
    Ok(report)
}

/// Number of records [`seed_demo`] loads into an empty database.
pub fn demo_record_count() -> usize {
    COMPANIES.len()
        + SMES.len()
        + CASES.len()
        + CASES.iter().filter(|c| c.partner.is_some()).count()
}
