//! Conversions between generated messages and domain types: every field of a
//! request is parsed here, with its request path for error details.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::domain::{
    BusinessNumber, Collection, CorporateNumber, DisplayName, Enterprise, EnterpriseClass,
    EnterpriseSize, Funder, KsicCode, MAX_PARTNERS, Outcome, Participation, Program, ProgramKind,
    ProgramState, Region, ResourceId, Violations, Won, parse_date,
};
use crate::pb::google::r#type::Date;
use crate::pb::{self, methods};
use crate::store::{RequestKey, Stored};

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn date(d: NaiveDate) -> Date {
    Date {
        year: d.year(),
        month: i32::try_from(d.month()).unwrap_or(0),
        day: i32::try_from(d.day()).unwrap_or(0),
    }
}

fn parse_opt_date(d: Option<&Date>) -> Result<Option<NaiveDate>, String> {
    d.map(|d| parse_date(d.year, d.month, d.day)).transpose()
}

/// Maps a proto enum value to a domain enum through their shared names
/// (`PREFIX_NAME` ↔ `NAME`); 0 is "not set".
fn enum_in<D>(
    value: i32,
    name_of: impl Fn(i32) -> Option<&'static str>,
    prefix: &str,
    from_stored: impl Fn(&str) -> Option<D>,
) -> Result<Option<D>, String> {
    if value == 0 {
        return Ok(None);
    }
    name_of(value)
        .and_then(|n| n.strip_prefix(prefix))
        .and_then(from_stored)
        .map(Some)
        .ok_or_else(|| format!("unknown enum value {value}"))
}

macro_rules! enum_codec {
    ($domain:ident, $to_pb:ident, $from_pb:ident) => {
        pub fn $to_pb(d: $domain) -> i32 {
            pb::$domain::from_str_name(&format!("{}{}", $domain::PROTO_PREFIX, d.as_str()))
                .map_or(0, |v| v as i32)
        }
        fn $from_pb(v: i32) -> Result<Option<$domain>, String> {
            enum_in(
                v,
                |v| pb::$domain::try_from(v).ok().map(|e| e.as_str_name()),
                $domain::PROTO_PREFIX,
                $domain::from_stored,
            )
        }
    };
}
enum_codec!(EnterpriseSize, size_to_pb, size_from_pb);
enum_codec!(Region, region_to_pb, region_from_pb);
enum_codec!(ProgramKind, kind_to_pb, kind_from_pb);
enum_codec!(ProgramState, state_to_pb, state_from_pb);

/// The fields of `Company` and `Sme`, which share their shape.
pub struct EnterpriseFields<'a> {
    pub display_name: &'a str,
    pub business_number: &'a str,
    pub corporate_number: &'a str,
    pub size: i32,
    pub ksic_code: &'a str,
    pub ksic_revision: i32,
    pub region: i32,
    pub employee_count: Option<i32>,
    pub annual_revenue_krw: Option<i64>,
}

/// `Company` or `Sme`.
pub trait EnterpriseMessage: Message + Default + Clone + super::mask::Masked + 'static {
    fn fields(&self) -> EnterpriseFields<'_>;
    fn from_stored(stored: &Stored<Enterprise>) -> Self {
        Self::from_owned(stored.clone())
    }

    /// The message of `stored`, its strings moved rather than copied.
    fn from_owned(stored: Stored<Enterprise>) -> Self;
}

macro_rules! enterprise_message {
    ($ty:ident) => {
        impl EnterpriseMessage for pb::$ty {
            fn fields(&self) -> EnterpriseFields<'_> {
                EnterpriseFields {
                    display_name: &self.display_name,
                    business_number: &self.business_number,
                    corporate_number: &self.corporate_number,
                    size: self.size,
                    ksic_code: &self.ksic_code,
                    ksic_revision: self.ksic_revision,
                    region: self.region,
                    employee_count: self.employee_count,
                    annual_revenue_krw: self.annual_revenue_krw,
                }
            }

            fn from_owned(s: Stored<Enterprise>) -> Self {
                let etag = s.etag();
                let d = s.data;
                Self {
                    name: s.name,
                    display_name: d.display_name.into_string(),
                    business_number: d.business_number.map(|b| b.to_string()).unwrap_or_default(),
                    corporate_number: d
                        .corporate_number
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    size: size_to_pb(d.size),
                    ksic_code: d
                        .ksic
                        .as_ref()
                        .map(|(k, _)| k.to_string())
                        .unwrap_or_default(),
                    ksic_revision: d.ksic.as_ref().map_or(0, |(_, r)| *r),
                    region: d.region.map_or(0, region_to_pb),
                    employee_count: d.employee_count,
                    annual_revenue_krw: d.annual_revenue_krw.map(Won::get),
                    create_time: Some(timestamp(s.create_time)),
                    update_time: Some(timestamp(s.update_time)),
                    delete_time: s.delete_time.map(timestamp),
                    etag,
                    demo: s.demo,
                }
            }
        }
        super::mask::masked!(pb::$ty {
            display_name,
            business_number,
            corporate_number,
            size,
            ksic_code,
            ksic_revision,
            region,
            employee_count,
            annual_revenue_krw,
        });
    };
}
enterprise_message!(Company);
enterprise_message!(Sme);

super::mask::masked!(pb::Program {
    display_name,
    description,
    host_company,
    kind,
    region,
    state,
    start_date,
    end_date,
    budget_krw,
    co_hosts,
    funders,
});
super::mask::masked!(pb::Participation {
    sme,
    support_amount_krw,
    joined_date,
    outcomes,
});

fn non_empty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

fn count(value: Option<i32>) -> Result<Option<i32>, String> {
    match value {
        Some(v) if v < 0 => Err(format!("must not be negative, got {v}")),
        other => Ok(other),
    }
}

/// The violations of one message, at its path `at` in the request.
struct Fields<'a>(Violations, &'a str);

impl<'a> Fields<'a> {
    fn at(at: &'a str) -> Self {
        Self(Violations::new(), at)
    }

    /// Records the error of `result` under `{at}.{field}`.
    fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        self.0.check(format!("{}.{field}", self.1), result)
    }

    fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.add(format!("{}.{field}", self.1), description);
    }
}

/// Parses a company or SME; `at` is its path in the request.
pub fn parse_enterprise(
    class: EnterpriseClass,
    f: EnterpriseFields<'_>,
    at: &str,
) -> Result<Enterprise, Violations> {
    let mut v = Fields::at(at);
    let display_name = v.check("display_name", DisplayName::parse(f.display_name));
    let business_number = v
        .check(
            "business_number",
            non_empty(f.business_number)
                .map(BusinessNumber::parse)
                .transpose(),
        )
        .flatten();
    let corporate_number = v
        .check(
            "corporate_number",
            non_empty(f.corporate_number)
                .map(CorporateNumber::parse)
                .transpose(),
        )
        .flatten();
    let size = v.check(
        "size",
        size_from_pb(f.size).and_then(|s| class.parse_size(s)),
    );
    let ksic_code = v
        .check(
            "ksic_code",
            non_empty(f.ksic_code).map(KsicCode::parse).transpose(),
        )
        .flatten();
    let ksic_revision = v.check(
        "ksic_revision",
        KsicCode::revision(f.ksic_revision, ksic_code.is_some()),
    );
    let region = v.check("region", region_from_pb(f.region));
    let employee_count = v.check("employee_count", count(f.employee_count));
    let annual_revenue_krw = v.check(
        "annual_revenue_krw",
        f.annual_revenue_krw.map(Won::parse).transpose(),
    );
    v.0.finish_some(|| {
        Some(Enterprise {
            display_name: display_name?,
            business_number,
            corporate_number,
            size: size?,
            ksic: match ksic_code {
                Some(code) => Some((code, ksic_revision?)),
                None => None,
            },
            region: region?,
            employee_count: employee_count?,
            annual_revenue_krw: annual_revenue_krw?,
        })
    })
}

pub fn encode_program(s: &Stored<Program>) -> pb::Program {
    let d = &s.data;
    pb::Program {
        name: s.name.clone(),
        display_name: d.display_name.to_string(),
        description: d.description.clone(),
        host_company: Collection::Companies.name_of(&d.host_company),
        kind: kind_to_pb(d.kind),
        region: d.region.map_or(0, region_to_pb),
        state: state_to_pb(d.state),
        start_date: d.start_date.map(date),
        end_date: d.end_date.map(date),
        budget_krw: d.budget_krw.map(Won::get),
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
        delete_time: s.delete_time.map(timestamp),
        etag: s.etag(),
        demo: s.demo,
        co_hosts: d
            .co_hosts
            .iter()
            .map(|c| Collection::Companies.name_of(c))
            .collect(),
        funders: d
            .funders
            .iter()
            .map(|f| pb::Funder {
                display_name: f.display_name.to_string(),
                contribution_krw: f.contribution_krw.map(Won::get),
            })
            .collect(),
    }
}

/// The co-hosts of a program: company names, distinct, not the host.
fn parse_co_hosts(names: &[String], host: Option<&ResourceId>) -> Result<Vec<ResourceId>, String> {
    let ids = names
        .iter()
        .map(|n| Collection::Companies.parse_name(n))
        .collect::<Result<Vec<_>, _>>()?;
    match host {
        Some(host) => Program::check_co_hosts(host, &ids).map(|()| ids),
        None => Ok(ids),
    }
}

/// The funders of a program, each checked at `{at}.funders[i]`.
fn parse_funders(v: &mut Fields<'_>, funders: &[pb::Funder]) -> Option<Vec<Funder>> {
    if funders.len() > MAX_PARTNERS {
        v.add(
            "funders",
            format!("at most {MAX_PARTNERS} funders, got {}", funders.len()),
        );
        return None;
    }
    let parsed: Vec<Option<Funder>> = funders
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = v.check(
                &format!("funders[{i}].display_name"),
                DisplayName::parse(&f.display_name),
            );
            let amount = v.check(
                &format!("funders[{i}].contribution_krw"),
                f.contribution_krw.map(Won::parse).transpose(),
            );
            Some(Funder {
                display_name: name?,
                contribution_krw: amount?,
            })
        })
        .collect();
    parsed.into_iter().collect()
}

pub fn parse_program(p: &pb::Program, at: &str) -> Result<Program, Violations> {
    let mut v = Fields::at(at);
    let display_name = v.check("display_name", DisplayName::parse(&p.display_name));
    let description = v.check(
        "description",
        Program::parse_description(p.description.trim()),
    );
    let host_company = v.check(
        "host_company",
        if p.host_company.is_empty() {
            Err("is required: companies/{company}".to_owned())
        } else {
            Collection::Companies.parse_name(&p.host_company)
        },
    );
    let kind = v.check(
        "kind",
        kind_from_pb(p.kind).and_then(|k| k.ok_or_else(|| "is required".to_owned())),
    );
    let region = v.check("region", region_from_pb(p.region));
    let state = v.check(
        "state",
        state_from_pb(p.state).map(|s| s.unwrap_or(ProgramState::Planned)),
    );
    let start = v.check("start_date", parse_opt_date(p.start_date.as_ref()));
    let end = v.check("end_date", parse_opt_date(p.end_date.as_ref()));
    if let (Some(s), Some(e)) = (start, end) {
        v.check("end_date", Program::check_dates(s, e));
    }
    let budget = v.check("budget_krw", p.budget_krw.map(Won::parse).transpose());
    let co_hosts = v.check(
        "co_hosts",
        parse_co_hosts(&p.co_hosts, host_company.as_ref()),
    );
    let funders = parse_funders(&mut v, &p.funders);
    v.0.finish_some(|| {
        Some(Program {
            co_hosts: co_hosts?,
            funders: funders?,
            display_name: display_name?,
            description: description?,
            host_company: host_company?,
            kind: kind?,
            region: region?,
            state: state?,
            start_date: start?,
            end_date: end?,
            budget_krw: budget?,
        })
    })
}

pub fn encode_participation(s: &Stored<Participation>) -> pb::Participation {
    let d = &s.data;
    pb::Participation {
        name: s.name.clone(),
        sme: Collection::Smes.name_of(&d.sme),
        support_amount_krw: d.support_amount_krw.map(Won::get),
        joined_date: d.joined_date.map(date),
        outcomes: d
            .outcomes
            .iter()
            .map(|o| pb::Outcome {
                metric: o.metric.clone(),
                baseline: o.baseline,
                achieved: o.achieved,
                unit: o.unit.clone(),
                description: o.description.clone(),
            })
            .collect(),
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
        delete_time: s.delete_time.map(timestamp),
        etag: s.etag(),
        demo: s.demo,
    }
}

pub fn parse_participation(p: &pb::Participation, at: &str) -> Result<Participation, Violations> {
    let mut v = Fields::at(at);
    let sme = v.check(
        "sme",
        if p.sme.is_empty() {
            Err("is required: smes/{sme}".to_owned())
        } else {
            Collection::Smes.parse_name(&p.sme)
        },
    );
    let amount = v.check(
        "support_amount_krw",
        p.support_amount_krw.map(Won::parse).transpose(),
    );
    let joined = v.check("joined_date", parse_opt_date(p.joined_date.as_ref()));
    if let Err(e) = Participation::check_outcome_count(p.outcomes.len()) {
        v.add("outcomes", e);
    }
    let outcomes: Vec<Option<Outcome>> = p
        .outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            v.check(
                &format!("outcomes[{i}]"),
                Outcome::parse(&o.metric, o.baseline, o.achieved, &o.unit, &o.description),
            )
        })
        .collect();
    v.0.finish_some(|| {
        Some(Participation {
            sme: sme?,
            support_amount_krw: amount?,
            joined_date: joined?,
            outcomes: outcomes.into_iter().collect::<Option<Vec<_>>>()?,
        })
    })
}

/// A create request that may carry a `request_id`, and the method it is
/// sent to: one table for every idempotent method.
pub trait Idempotent: Message + Clone {
    /// The RPC's full path.
    const METHOD: &'static str;
    fn request_id(&self) -> &str;
    fn clear_request_id(&mut self);
}

macro_rules! idempotent {
    ($($request:ty => $method:expr),+ $(,)?) => {$(
        impl Idempotent for $request {
            const METHOD: &'static str = $method;
            fn request_id(&self) -> &str {
                &self.request_id
            }
            fn clear_request_id(&mut self) {
                self.request_id.clear();
            }
        }
    )+};
}

idempotent!(
    pb::CreateCompanyRequest => methods::company_service::CREATE_COMPANY,
    pb::BatchCreateCompaniesRequest => methods::company_service::BATCH_CREATE_COMPANIES,
    pb::CreateSmeRequest => methods::sme_service::CREATE_SME,
    pb::BatchCreateSmesRequest => methods::sme_service::BATCH_CREATE_SMES,
    pb::CreateProgramRequest => methods::program_service::CREATE_PROGRAM,
    pb::CreateParticipationRequest => methods::program_service::CREATE_PARTICIPATION,
);

/// The key a create with a `request_id` is remembered by: the id, the
/// method, and a fingerprint of the request without its id (so a repeat
/// with other content is told apart). `None` without a `request_id`.
pub fn request_key<R: Idempotent>(request: &R) -> Result<Option<RequestKey>, Violations> {
    let request_id = request.request_id();
    if request_id.is_empty() {
        return Ok(None);
    }
    let uuid = uuid::Uuid::parse_str(request_id)
        .map_err(|_| Violations::single("request_id", format!("{request_id:?} is not a UUID")))?;
    let mut without = request.clone();
    without.clear_request_id();
    Ok(Some(RequestKey {
        request_id: uuid,
        method: R::METHOD.to_owned(),
        fingerprint: hex::encode(Sha256::digest(without.encode_to_vec())),
    }))
}
