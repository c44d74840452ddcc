//! The load driver of `scripts/bench.sh`: runs each scenario against a
//! running server over the generated tonic clients, runs `pgbench` on the
//! same database with the same SQL and client count as the anchor, and
//! prints one table. Every figure and its anchor come from the same run.
//!
//!   cargo bench --bench load -- --addr 127.0.0.1:50061 \
//!     --database-url postgres://postgres@127.0.0.1:5432/partnership_bench --server-pid PID

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use partnership::pb;
use partnership::pb::insight_service_client::InsightServiceClient;
use partnership::pb::program_service_client::ProgramServiceClient;
use partnership::pb::sme_service_client::SmeServiceClient;
use tonic::transport::Channel;

/// The driver allocates as the server does (mimalloc), so its own share of
/// the two cores stays small.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// The server under test.
    #[arg(long)]
    addr: String,
    /// Its database, for the pgbench anchors.
    #[arg(long)]
    database_url: String,
    /// The server's process id, for its peak memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds each throughput scenario runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// SMEs in the dataset (ids s0000000…).
    #[arg(long, default_value_t = 1_000_000)]
    smes: u64,
    /// Scenarios to run (comma-separated among health, get, list, filter, depth,
    /// search, summarize, export); all when empty.
    #[arg(long, default_value = "")]
    only: String,
    /// Ignored: `cargo bench` passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Latencies of one scenario, in microseconds.
struct Run {
    calls: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<u32>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        f64::from(v[i]) / 1000.0
    }
}

/// A small deterministic generator, so runs are comparable.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Runs `call` from `callers` concurrent tasks over `channels` connections
/// for `seconds`.
async fn load<F, Fut>(channels: &[Channel], callers: usize, seconds: u64, call: F) -> Run
where
    F: Fn(Channel, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..callers {
        let channel = channels[c % channels.len()].clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(c as u64 + 1);
            let (mut calls, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            while Instant::now() < end {
                let t = Instant::now();
                let ok = call(channel.clone(), rng.next(u64::MAX)).await;
                latencies.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                calls += 1;
                if !ok {
                    errors += 1;
                }
            }
            (calls, errors, latencies)
        }));
    }
    let mut run = Run {
        calls: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        if let Ok((calls, errors, latencies)) = t.await {
            run.calls += calls;
            run.errors += errors;
            run.latencies.extend(latencies);
        }
    }
    run.elapsed = start.elapsed();
    run
}

/// `pgbench` with `sql` at `clients` clients: transactions per second.
fn pgbench(url: &str, sql: &str, clients: usize, seconds: u64) -> f64 {
    let dir = std::env::temp_dir().join(format!("partnership-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let script = dir.join("script.sql");
    if std::fs::write(&script, sql).is_err() {
        return f64::NAN;
    }
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
        ])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output();
    let Ok(out) = out else { return f64::NAN };
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN)
}

fn peak_rss_mb(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return f64::NAN };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Table(Vec<[String; 4]>);
impl Table {
    fn row(&mut self, what: &str, value: String, anchor: String, target: &str) {
        self.0.push([what.into(), value, anchor, target.into()]);
    }
    fn print(&self) {
        println!("| scenario | result | anchor (same run) | target |");
        println!("|---|---|---|---|");
        for r in &self.0 {
            println!("| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
        }
    }
}

fn sme_id(n: u64) -> String {
    format!("smes/s{n:07}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let endpoint = format!("http://{}", args.addr);
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(Channel::from_shared(endpoint.clone())?.connect().await?);
    }
    let secs = args.seconds;
    let wanted = |name: &str| args.only.is_empty() || args.only.split(',').any(|o| o == name);
    let smes = args.smes;
    let mut table = Table(Vec::new());

    if wanted("health") {
        // The transport alone: Health/Check, no database.
        eprintln!("Health/Check, 32 callers…");
        let run = load(&channels, 32, secs, |ch, _| async move {
            let mut c = tonic_health::pb::health_client::HealthClient::new(ch);
            c.check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok()
        })
        .await;
        table.row(
            "Health/Check, 32 callers (transport only)",
            format!(
                "{:.0}/s, p99 {:.1} ms",
                run.per_second(),
                run.percentile(0.99)
            ),
            String::new(),
            "(calibration)",
        );
    }

    if wanted("get") {
        // GetSme at 32 callers against pgbench's primary-key SELECT.
        eprintln!("GetSme, 32 callers…");
        let run = load(&channels, 32, secs, move |ch, r| async move {
            let mut c = SmeServiceClient::new(ch);
            c.get_sme(pb::GetSmeRequest {
                name: sme_id(r % smes),
            })
            .await
            .is_ok()
        })
        .await;
        let pg = pgbench(
            &args.database_url,
            &format!(
                "\\set n random(0, {})\nSELECT * FROM smes WHERE id = 's' || lpad(:n::text, 7, '0');\n",
                smes - 1
            ),
            32,
            secs,
        );
        table.row(
            "GetSme, 32 callers",
            format!(
                "{:.0}/s, p99 {:.1} ms, {} errors",
                run.per_second(),
                run.percentile(0.99),
                run.errors
            ),
            format!("pgbench {pg:.0}/s → **{:.2}×**", run.per_second() / pg),
            "≥ 0.70× pgbench",
        );
    }

    if wanted("list") {
        // ListSmes first page of 50, no filter, 32 callers.
        eprintln!("ListSmes, 32 callers…");
        let run = load(&channels, 32, secs, |ch, _| async move {
            let mut c = SmeServiceClient::new(ch);
            c.list_smes(pb::ListSmesRequest {
                page_size: 50,
                ..Default::default()
            })
            .await
            .is_ok()
        })
        .await;
        let pg = pgbench(
            &args.database_url,
            "SELECT * FROM smes WHERE delete_time IS NULL ORDER BY create_time, id LIMIT 51;\n",
            32,
            secs,
        );
        table.row(
            "ListSmes page of 50, 32 callers",
            format!(
                "{:.0} pages/s, p99 {:.1} ms",
                run.per_second(),
                run.percentile(0.99)
            ),
            format!("pgbench {pg:.0}/s → **{:.2}×**", run.per_second() / pg),
            "≥ 0.50× pgbench",
        );
    }

    let filter = "region = GYEONGGI AND budget_krw >= 1000000000";
    if wanted("filter") {
        // ListPrograms with a two-field filter, 16 callers; and deep pages.
        eprintln!("ListPrograms filtered, 16 callers…");
        let run = load(&channels, 16, secs, move |ch, _| async move {
            let mut c = ProgramServiceClient::new(ch);
            c.list_programs(pb::ListProgramsRequest {
                page_size: 50,
                filter: filter.into(),
                ..Default::default()
            })
            .await
            .is_ok()
        })
        .await;
        table.row(
            &format!("ListPrograms `{filter}`, 50, 16 callers"),
            format!(
                "{:.0} pages/s, p50 {:.1} ms, **p99 {:.1} ms**",
                run.per_second(),
                run.percentile(0.5),
                run.percentile(0.99)
            ),
            String::new(),
            "p99 ≤ 25 ms",
        );
    }

    if wanted("depth") {
        // A token 10,000 records deep: ten pages of 1000 with the same query.
        let mut programs = ProgramServiceClient::new(channels[0].clone());
        let mut token = String::new();
        for _ in 0..10 {
            token = programs
                .list_programs(pb::ListProgramsRequest {
                    page_size: 1000,
                    page_token: token.clone(),
                    filter: filter.into(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .next_page_token;
        }
        let page = |token: String| {
            move |ch: Channel, _| {
                let token = token.clone();
                async move {
                    let mut c = ProgramServiceClient::new(ch);
                    c.list_programs(pb::ListProgramsRequest {
                        page_size: 50,
                        page_token: token,
                        filter: filter.into(),
                        ..Default::default()
                    })
                    .await
                    .is_ok()
                }
            }
        };
        let first = load(&channels, 1, secs / 2, page(String::new())).await;
        let deep = load(&channels, 1, secs / 2, page(token)).await;
        table.row(
            "ListPrograms page at depth 10,000, 1 caller",
            format!("median {:.2} ms", deep.percentile(0.5)),
            format!(
                "first page median {:.2} ms → **{:.2}×**",
                first.percentile(0.5),
                deep.percentile(0.5) / first.percentile(0.5)
            ),
            "≤ 1.5× first page",
        );
    }

    if wanted("search") {
        // Name search over the SMEs: 3-character and 2-character strings.
        for (chars, callers, target) in [
            (3usize, 1usize, "p99 ≤ 50 ms"),
            (3, 8, "p99 ≤ 50 ms"),
            (2, 1, "(shorter strings: reported)"),
        ] {
            eprintln!("Search, {chars} characters, {callers} callers…");
            let words: Vec<String> = [
                "대원정밀",
                "한일테크",
                "세진산업",
                "미래소재",
                "Hanil",
                "Precision",
                "성우부품",
            ]
            .iter()
            .flat_map(|w| {
                let c: Vec<char> = w.chars().collect();
                c.windows(chars)
                    .map(|s| s.iter().collect::<String>())
                    .collect::<Vec<_>>()
            })
            .collect();
            let words = Arc::new(words);
            let run = load(&channels, callers, secs, move |ch, r| {
                let words = words.clone();
                async move {
                    let mut c = SmeServiceClient::new(ch);
                    let search = words[(r % words.len() as u64) as usize].clone();
                    c.list_smes(pb::ListSmesRequest {
                        page_size: 50,
                        search,
                        ..Default::default()
                    })
                    .await
                    .is_ok()
                }
            })
            .await;
            table.row(
                &format!("ListSmes search, {chars} characters, {callers} callers"),
                format!(
                    "{:.0}/s, p50 {:.1} ms, **p99 {:.1} ms**",
                    run.per_second(),
                    run.percentile(0.5),
                    run.percentile(0.99)
                ),
                String::new(),
                target,
            );
        }
    }

    if wanted("summarize") {
        // SummarizePrograms by kind and start year over everything.
        eprintln!("SummarizePrograms…");
        let mut insight = InsightServiceClient::new(channels[0].clone());
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            insight
                .summarize_programs(pb::SummarizeProgramsRequest {
                    filter: String::new(),
                    group_by: vec!["kind".into(), "start_year".into()],
                })
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        table.row(
            "SummarizePrograms by kind, start_year (all), 5 calls",
            format!("**median {:.0} ms**", times[times.len() / 2]),
            String::new(),
            "≤ 500 ms",
        );
    }

    if wanted("export") {
        // ExportSmes of everything, and the server's peak memory.
        eprintln!("ExportSmes…");
        let mut c = SmeServiceClient::new(channels[0].clone());
        let t = Instant::now();
        let mut stream = c
            .export_smes(pb::ExportSmesRequest::default())
            .await?
            .into_inner();
        let mut n = 0u64;
        while let Some(batch) = stream.message().await? {
            n += batch.smes.len() as u64;
        }
        let rate = n as f64 / t.elapsed().as_secs_f64();
        table.row(
            "ExportSmes, everything",
            format!("{n} records, **{rate:.0} records/s**"),
            format!(
                "server peak RSS over the whole run **{:.0} MB**",
                peak_rss_mb(args.server_pid)
            ),
            "≥ 50,000/s, RSS < 200 MB",
        );
    }

    table.print();
    Ok(())
}
