//! `partnership generate`: a realistic, deterministic dataset of companies,
//! SMEs, programs and participations, loaded straight into the tables (for
//! benchmarks and trials at national scale). The same seed and counts give
//! the same records. Every record is a validated domain value: business
//! numbers carry a correct check digit, KSIC codes name real divisions.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::{
    BusinessNumber, DisplayName, Enterprise, EnterpriseSize, KsicCode, Participation,
    ParticipationName, Program, ProgramKind, ProgramState, Region, ResourceId, Won,
};
use crate::store::{Companies, Participations, Programs, Smes, Store, StoreError};

/// How many records of each kind to make.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub companies: u64,
    pub smes: u64,
    pub programs: u64,
    pub participations: u64,
}

/// What was loaded, and how fast.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub rows: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Rows per INSERT statement: under every backend's parameter limit.
const CHUNK: u64 = 1000;

const COMPANY_PREFIXES: &[&str] = &[
    "삼성",
    "현대",
    "LG",
    "SK",
    "한화",
    "롯데",
    "포스코",
    "두산",
    "효성",
    "코오롱",
    "한진",
    "GS",
    "CJ",
    "LS",
    "HD",
    "대한",
    "한국",
    "동원",
    "농심",
    "Hanwha",
];
const COMPANY_SUFFIXES: &[&str] = &[
    "전자",
    "중공업",
    "화학",
    "정밀",
    "모비스",
    "에너지",
    "물산",
    "건설",
    "바이오",
    "디스플레이",
    "오션",
    "스틸",
    "Systems",
    "Motors",
    "Materials",
];
/// Syllables SME names are made of, two at a time (as 대원, 한일, 세진…),
/// so names are as varied as real ones and a search matches few.
const SME_SYLLABLES: &[&str] = &[
    "대", "원", "한", "일", "세", "진", "동", "양", "우", "신", "성", "태", "광", "미", "래", "빛",
    "새", "정", "영", "삼", "화", "금", "강", "남", "서", "천", "보", "경", "명", "선", "용", "재",
    "중", "승", "현", "도", "유", "창", "준", "혜",
];
/// Latin names, for the SMEs that trade under one.
const SME_LATIN: &[&str] = &[
    "Hanil", "Daewon", "Sejin", "Mirae", "Nexus", "Core", "Apex", "Vertex", "Orion", "Nova",
    "Zenith", "Atlas", "Helix", "Quanta", "Stellar", "Prime",
];
const SME_TRADES: &[&str] = &[
    "정밀",
    "테크",
    "산업",
    "기계",
    "전자",
    "소재",
    "금속",
    "부품",
    "솔루션",
    "시스템",
    "Precision",
    "Tech",
    "Parts",
    "Materials",
];
/// Plausible KSIC codes (manufacturing, ICT, wholesale).
const KSIC: &[&str] = &[
    "26111", "26121", "26299", "29199", "29271", "30121", "30320", "20111", "20202", "24111",
    "24222", "25911", "25934", "28111", "28422", "27212", "22211", "22251", "31111", "31311",
    "10712", "21210", "58221", "62010", "63112", "46900", "71531",
];
/// Regions weighted by where Korea's enterprises are.
const REGIONS: &[(Region, u32)] = &[
    (Region::Gyeonggi, 26),
    (Region::Seoul, 19),
    (Region::Gyeongnam, 8),
    (Region::Incheon, 6),
    (Region::Busan, 6),
    (Region::Gyeongbuk, 5),
    (Region::Chungnam, 5),
    (Region::Daegu, 5),
    (Region::Chungbuk, 4),
    (Region::Jeonbuk, 3),
    (Region::Jeonnam, 3),
    (Region::Gwangju, 2),
    (Region::Daejeon, 2),
    (Region::Ulsan, 2),
    (Region::Gangwon, 2),
    (Region::Jeju, 1),
    (Region::Sejong, 1),
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn region(rng: &mut StdRng) -> Region {
    let total: u32 = REGIONS.iter().map(|(_, w)| w).sum();
    let mut n = rng.random_range(0..total);
    for (r, w) in REGIONS {
        if n < *w {
            return *r;
        }
        n -= w;
    }
    Region::Seoul
}

/// A business number from a serial: a 9-digit body and its check digit.
fn business_number(serial: u64) -> Result<BusinessNumber, String> {
    // Tax office codes 101–899, a corporate type code 81–87, a serial.
    let body = format!(
        "{:03}{:02}{:04}",
        101 + serial % 799,
        81 + (serial / 799) % 7,
        (serial / 5593) % 10_000
    );
    BusinessNumber::with_check_digit(&body)
}

fn id(prefix: char, n: u64) -> Result<ResourceId, String> {
    ResourceId::parse(&format!("{prefix}{n:07}"))
}

fn invalid(what: &'static str, e: String) -> StoreError {
    StoreError::corrupt(what, format!("generated an invalid value: {e}"))
}

fn start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::UNIX_EPOCH, |t| t.and_utc())
}

fn enterprise(rng: &mut StdRng, n: u64, company: bool) -> Result<Enterprise, StoreError> {
    let name = if company {
        format!(
            "{}{} {}",
            pick(rng, COMPANY_PREFIXES),
            pick(rng, COMPANY_SUFFIXES),
            n
        )
    } else {
        let stem = if rng.random_bool(0.1) {
            (*pick(rng, SME_LATIN)).to_owned()
        } else {
            format!("{}{}", pick(rng, SME_SYLLABLES), pick(rng, SME_SYLLABLES))
        };
        format!("{stem}{} {}", pick(rng, SME_TRADES), n)
    };
    let (size, employees): (EnterpriseSize, i32) = if company {
        if rng.random_bool(0.6) {
            (EnterpriseSize::Large, rng.random_range(1_000..120_000))
        } else {
            (EnterpriseSize::MiddleStanding, rng.random_range(300..3_000))
        }
    } else {
        match rng.random_range(0..10) {
            0 => (EnterpriseSize::Medium, rng.random_range(50..300)),
            1..=4 => (EnterpriseSize::Small, rng.random_range(10..50)),
            _ => (EnterpriseSize::Micro, rng.random_range(1..10)),
        }
    };
    let code: &&str = pick(rng, KSIC);
    let ksic = KsicCode::current(code).map_err(|e| invalid("ksic_code", e))?;
    // Companies and SMEs draw from separate ranges of serials.
    let serial = if company { n } else { 1_000_000 + n };
    Ok(Enterprise {
        display_name: DisplayName::parse(&name).map_err(|e| invalid("display_name", e))?,
        business_number: Some(business_number(serial).map_err(|e| invalid("business_number", e))?),
        corporate_number: None,
        size,
        ksic: Some(ksic),
        region: Some(region(rng)),
        employee_count: Some(employees),
        annual_revenue_krw: Some(
            Won::parse(i64::from(employees) * rng.random_range(80_000_000..400_000_000))
                .map_err(|e| invalid("annual_revenue_krw", e))?,
        ),
    })
}

/// A program of `n`, hosted by one of `companies` (a few host many).
fn program(rng: &mut StdRng, n: u64, companies: u64) -> Result<Program, StoreError> {
    let kind = *pick(rng, ProgramKind::ALL);
    let u: f64 = rng.random();
    let host = ((u * u) * companies as f64) as u64 % companies.max(1);
    let year = rng.random_range(2018..=2026);
    let start = NaiveDate::from_ymd_opt(year, rng.random_range(1..=12), 1)
        .ok_or_else(|| invalid("start_date", "no such date".into()))?;
    let end = NaiveDate::from_ymd_opt(year + rng.random_range(1..=3), start.month0() + 1, 1)
        .and_then(|d| d.pred_opt());
    let state = match year {
        2026 => *pick(rng, &[ProgramState::Planned, ProgramState::Active]),
        2024 | 2025 => *pick(rng, &[ProgramState::Active, ProgramState::Completed]),
        _ => ProgramState::Completed,
    };
    let name = format!(
        "{} {} {year} #{n}",
        kind.as_str().to_lowercase().replace('_', " "),
        host
    );
    Ok(Program {
        display_name: DisplayName::parse(&name).map_err(|e| invalid("display_name", e))?,
        description: String::new(),
        host_company: id('c', host).map_err(|e| invalid("host_company", e))?,
        kind,
        region: rng.random_bool(0.7).then(|| region(rng)),
        state,
        start_date: Some(start),
        end_date: end,
        budget_krw: Some(
            Won::parse(rng.random_range(1..=500) * 100_000_000)
                .map_err(|e| invalid("budget_krw", e))?,
        ),
        co_hosts: Vec::new(),
        funders: Vec::new(),
    })
}

use chrono::Datelike;

fn bar(len: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    // The template is a constant: it always parses.
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>15} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// Inserts in flight at once: the database works on one chunk while the
/// next is generated and sent.
const IN_FLIGHT: usize = 3;

/// Loads chunks with up to [`IN_FLIGHT`] inserts running.
struct Loader {
    store: Store,
    running: tokio::task::JoinSet<Result<u64, StoreError>>,
    rows: u64,
}

impl Loader {
    fn new(store: &Store) -> Self {
        Self {
            store: store.clone(),
            running: tokio::task::JoinSet::new(),
            rows: 0,
        }
    }

    async fn wait_one(&mut self) -> Result<(), StoreError> {
        if let Some(done) = self.running.join_next().await {
            self.rows += done.map_err(|e| StoreError::corrupt("loader", e.to_string()))??;
        }
        Ok(())
    }

    async fn load<T: crate::store::Table>(
        &mut self,
        rows: Vec<(T::Key, T::Data, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        while self.running.len() >= IN_FLIGHT {
            self.wait_one().await?;
        }
        let store = self.store.clone();
        self.running
            .spawn(async move { store.load::<T>(rows).await });
        Ok(())
    }

    /// Waits for every insert; the rows loaded so far.
    async fn finish(&mut self) -> Result<u64, StoreError> {
        while !self.running.is_empty() {
            self.wait_one().await?;
        }
        Ok(self.rows)
    }
}

/// Makes `count` records of `T` with `make` and loads them, `CHUNK` rows per
/// statement, with a progress bar; returns when all are stored.
async fn load_table<T: crate::store::Table>(
    loader: &mut Loader,
    count: u64,
    what: &'static str,
    at: impl Fn(u64) -> DateTime<Utc>,
    mut make: impl FnMut(u64) -> Result<(T::Key, T::Data), StoreError>,
) -> Result<(), StoreError> {
    let b = bar(count, what);
    for chunk in (0..count).step_by(CHUNK as usize) {
        let end = (chunk + CHUNK).min(count);
        let batch = (chunk..end)
            .map(|n| make(n).map(|(key, data)| (key, data, at(n))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        loader.load::<T>(batch).await?;
        b.set_position(end);
    }
    loader.finish().await?;
    b.finish();
    Ok(())
}

/// Generates and loads `counts` records from `seed`. The progress bars
/// draw only on a terminal.
pub async fn generate(store: &Store, counts: Counts, seed: u64) -> Result<Report, StoreError> {
    let began = Instant::now();
    let mut loader = Loader::new(store);
    let t0 = start();
    let at = |i: u64| t0 + TimeDelta::milliseconds(i64::try_from(i).unwrap_or(i64::MAX) * 7);

    let mut rng = StdRng::seed_from_u64(seed);
    load_table::<Companies>(&mut loader, counts.companies, "companies", at, |n| {
        Ok((
            id('c', n).map_err(|e| invalid("id", e))?,
            enterprise(&mut rng, n, true)?,
        ))
    })
    .await?;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
    load_table::<Smes>(&mut loader, counts.smes, "smes", at, |n| {
        Ok((
            id('s', n).map_err(|e| invalid("id", e))?,
            enterprise(&mut rng, n, false)?,
        ))
    })
    .await?;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(2));
    // Each program's start date and budget, for its participations.
    let mut programs: Vec<(NaiveDate, i64)> = Vec::new();
    load_table::<Programs>(&mut loader, counts.programs, "programs", at, |n| {
        let p = program(&mut rng, n, counts.companies)?;
        programs.push((
            p.start_date.unwrap_or(t0.date_naive()),
            p.budget_krw.map_or(0, Won::get),
        ));
        Ok((id('p', n).map_err(|e| invalid("id", e))?, p))
    })
    .await?;

    // Participations: spread over the programs, distinct SMEs per program.
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(3));
    let b = bar(counts.participations, "participations");
    let per_program = if counts.programs == 0 {
        0
    } else {
        counts.participations.div_ceil(counts.programs)
    };
    let mut made = 0;
    let mut batch = Vec::with_capacity(CHUNK as usize);
    'programs: for (p, (start_date, budget)) in programs.iter().enumerate() {
        let mut chosen: Vec<u64> = Vec::with_capacity(per_program as usize);
        for j in 0..per_program {
            if made == counts.participations || counts.smes <= j {
                break 'programs;
            }
            let sme = loop {
                let s = rng.random_range(0..counts.smes);
                if !chosen.contains(&s) {
                    break s;
                }
            };
            chosen.push(sme);
            let key = ParticipationName {
                program: id('p', p as u64).map_err(|e| invalid("program", e))?,
                participation: ResourceId::parse(&format!("j{j:03}"))
                    .map_err(|e| invalid("id", e))?,
            };
            let share = (budget / per_program.max(1) as i64).max(1_000_000);
            let data = Participation {
                sme: id('s', sme).map_err(|e| invalid("sme", e))?,
                support_amount_krw: Some(
                    Won::parse(rng.random_range(share / 4..=share) / 10_000 * 10_000)
                        .map_err(|e| invalid("support_amount_krw", e))?,
                ),
                joined_date: start_date
                    .checked_add_days(chrono::Days::new(rng.random_range(0..180))),
                outcomes: Vec::new(),
            };
            batch.push((key, data, at(made)));
            made += 1;
            if batch.len() as u64 == CHUNK {
                loader
                    .load::<Participations>(std::mem::take(&mut batch))
                    .await?;
                b.set_position(made);
            }
        }
    }
    loader.load::<Participations>(batch).await?;
    let rows = loader.finish().await?;
    b.set_position(made);
    b.finish();
    Ok(Report {
        rows,
        elapsed: began.elapsed(),
    })
}
