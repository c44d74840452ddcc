//! The load driver of `scripts/bench.sh`: runs each scenario against a
//! running server over the generated tonic clients, runs `pgbench` on the
//! same database with the same SQL and client count as the anchor, and
//! prints one table. Every figure and its anchor come from the same run.
//!
//!   cargo bench --bench load -- --addr 127.0.0.1:50061 \
//!     --database-url postgres://postgres@127.0.0.1:5432/partnership_bench --server-pid PID

mod common;

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// search, summarize, export, soak); all but soak when empty.
    #[arg(long, default_value = "")]
    only: String,
    /// Seconds the soak runs (scenario `soak`, only when named in --only).
    #[arg(long, default_value_t = 600)]
    soak_seconds: u64,
    /// Calls per second the soak's callers make together (on two cores
    /// this mix tops out near 130/s with the database on the same
    /// machine; the soak runs below that, at a steady rate).
    #[arg(long, default_value_t = 100)]
    soak_rate: u64,
    /// Writes each scenario's per-call cost (median ms) here, one
    /// `key value` per line, for `bench.sh`'s comparison of two sizes.
    #[arg(long)]
    figures: Option<std::path::PathBuf>,
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

/// Whether the server's summary rollup answers (its summaries carry a
/// resume token) within `limit`.
async fn rollup_built(
    insight: &mut InsightServiceClient<Channel>,
    limit: Duration,
) -> Result<bool, tonic::Status> {
    let waited = Instant::now();
    loop {
        let summary = insight
            .summarize_programs(pb::SummarizeProgramsRequest::default())
            .await?;
        if !summary.into_inner().resume_token.is_empty() {
            return Ok(true);
        }
        if waited.elapsed() > limit {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    common::memory_mb(pid, "VmHWM")
}

/// What a figure must be.
#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
    /// Reported, no target.
    Report,
}

impl Goal {
    fn verdict(self, figure: f64) -> &'static str {
        let hit = match self {
            Goal::AtLeast(t) => figure >= t,
            Goal::AtMost(t) => figure <= t,
            Goal::Report => return "",
        };
        match (figure.is_nan(), hit) {
            (true, _) => "— not measured",
            (false, true) => "— **hit**",
            (false, false) => "— **miss**",
        }
    }
}

/// The printed table, and the figures `--figures` writes for bench.sh's
/// comparison of two dataset sizes.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
    figures: Vec<(String, f64)>,
}

impl Table {
    /// A row; `goal` judges `figure` against the target.
    fn row(
        &mut self,
        what: &str,
        value: String,
        anchor: String,
        target: &str,
        figure: f64,
        goal: Goal,
    ) {
        let verdict = goal.verdict(figure);
        let target = if verdict.is_empty() {
            target.to_owned()
        } else {
            format!("{target} {verdict}")
        };
        self.rows.push([what.into(), value, anchor, target]);
    }
    /// A figure for the comparison across sizes (a per-call cost in ms).
    fn figure(&mut self, key: &str, value: f64) {
        self.figures.push((key.to_owned(), value));
    }
    fn print(&self) {
        println!("| scenario | result | anchor (same run) | target |");
        println!("|---|---|---|---|");
        for r in &self.rows {
            println!("| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
        }
    }
    fn write_figures(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text: String = self
            .figures
            .iter()
            .map(|(k, v)| format!("{k} {v}\n"))
            .collect();
        std::fs::write(path, text)
    }
}

/// An h2load row beside a Rust-driver scenario of `SmeService`.
struct H2loadRow {
    method: &'static str,
    what: &'static str,
    unit: &'static str,
    /// pgbench's rate on the same SQL, the anchor.
    pgbench: f64,
    /// The target, as a share of pgbench's rate.
    at_least: f64,
}

/// Runs h2load on `request` (32 connections) and adds its row; nothing
/// without h2load.
fn h2load_row(
    table: &mut Table,
    addr: &str,
    secs: u64,
    request: &impl prost::Message,
    row: H2loadRow,
) {
    let method = format!("partnership.v1.SmeService/{}", row.method);
    let Some(rate) =
        grpc_body(request, row.method).and_then(|body| h2load(addr, &method, &body, 32, secs))
    else {
        return;
    };
    let pg = row.pgbench;
    table.row(
        row.what,
        format!("{rate:.0}{}", row.unit),
        format!("pgbench {pg:.0}/s → **{:.2}×**", rate / pg),
        &format!("≥ {:.2}× pgbench", row.at_least),
        rate / pg,
        Goal::AtLeast(row.at_least),
    );
}

/// A gRPC request as h2load sends it: one uncompressed length-prefixed
/// message in a file.
fn grpc_body(message: &impl prost::Message, name: &str) -> Option<std::path::PathBuf> {
    let bytes = message.encode_to_vec();
    let mut body = vec![0u8];
    body.extend(u32::try_from(bytes.len()).ok()?.to_be_bytes());
    body.extend(bytes);
    let path = std::env::temp_dir().join(format!(
        "partnership-bench-{}-{name}.bin",
        std::process::id()
    ));
    std::fs::write(&path, body).ok()?;
    Some(path)
}

/// Calls per second h2load (nghttp2) reaches on `method` with `body` from
/// `clients` connections for `seconds`, or `None` without h2load. h2load
/// counts HTTP statuses only: one call's `grpc-status` is checked first.
fn h2load(
    addr: &str,
    method: &str,
    body: &std::path::Path,
    clients: usize,
    seconds: u64,
) -> Option<f64> {
    let url = format!("http://{addr}/{method}");
    let headers = [
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-H",
        "grpc-timeout: 10S",
    ];
    let check = Command::new("h2load")
        .args(["-n", "1", "-c", "1", "-v", "-d"])
        .arg(body)
        .args(headers)
        .arg(&url)
        .output()
        .ok()?;
    // A call that fails is answered "trailers-only": its grpc-status is
    // in the headers h2load prints (a success's comes in trailers, which
    // it does not print).
    let shown = String::from_utf8_lossy(&check.stdout).into_owned();
    let refused = shown
        .lines()
        .any(|l| l.contains("] grpc-status: ") && !l.ends_with("grpc-status: 0"));
    if !shown.contains(":status: 200") || refused {
        eprintln!("h2load: the call failed; not measured:\n{shown}");
        return Some(f64::NAN);
    }
    let mut args = load_args(clients, seconds);
    args.extend(["-d".into(), body.display().to_string()]);
    args.extend(headers.iter().map(|h| (*h).to_owned()));
    args.push(url);
    h2load_rate(&args)
}

/// h2load's arguments for a load of `clients` connections, one call in
/// flight each, for `seconds`.
fn load_args(clients: usize, seconds: u64) -> Vec<String> {
    [
        "-t",
        "1",
        "-m",
        "1",
        "-c",
        &clients.to_string(),
        "-D",
        &seconds.to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs h2load with `args`: its calls per second, NaN when any answer was
/// not a 2xx, `None` without h2load.
fn h2load_rate(args: &[String]) -> Option<f64> {
    let out = Command::new("h2load").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let failed = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .is_some_and(|l| !l.contains(" 0 failed, 0 errored"));
    // "status codes: 1000 2xx, 0 3xx, 0 4xx, 0 5xx"
    let not_2xx = text
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .is_some_and(|l| !(l.contains(" 0 4xx") && l.contains(" 0 5xx")));
    if failed || not_2xx {
        eprintln!("h2load: some calls failed:\n{text}");
    }
    if not_2xx {
        return Some(f64::NAN);
    }
    text.lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The median of `rates` (NaN if any is).
fn median(mut rates: Vec<f64>) -> f64 {
    if rates.is_empty() || rates.iter().any(|r| r.is_nan()) {
        return f64::NAN;
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
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
    let mut table = Table::default();

    // The server builds its summary rollup at start (about 45 s at 10M
    // SMEs) on the same two cores: a scenario run meanwhile measures the
    // build (at 10M, Health/Check 19,217/s during it, 35,679/s after). A
    // server without the rollup never answers with a resume token, so the
    // wait is bounded and not an error.
    let waited = Instant::now();
    let mut insight = InsightServiceClient::new(channels[0].clone());
    let _ = rollup_built(&mut insight, Duration::from_secs(120)).await;
    eprintln!(
        "summary rollup: waited {:.1} s",
        waited.elapsed().as_secs_f64()
    );

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
            f64::NAN,
            Goal::Report,
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
            "GetSme, 32 callers (Rust driver, random ids)",
            format!(
                "{:.0}/s, p99 {:.1} ms, {} errors",
                run.per_second(),
                run.percentile(0.99),
                run.errors
            ),
            format!("pgbench {pg:.0}/s → **{:.2}×**", run.per_second() / pg),
            "≥ 0.80× pgbench",
            run.per_second() / pg,
            Goal::AtLeast(0.80),
        );
        table.figure("get", run.percentile(0.5));
        let request = pb::GetSmeRequest {
            name: sme_id(smes / 2),
        };
        h2load_row(
            &mut table,
            &args.addr,
            secs,
            &request,
            H2loadRow {
                method: "GetSme",
                what: "GetSme, 32 connections (h2load, one id)",
                unit: "/s",
                pgbench: pg,
                at_least: 0.80,
            },
        );
    }

    if wanted("rest") {
        // GetSme as JSON over HTTP (the transcoder) against the same call
        // over gRPC: h2load for both, 32 connections, the same record,
        // alternating three rounds of each; HTTP/1.1 (what most REST
        // clients speak) reported beside.
        eprintln!("GetSme over HTTP/JSON and over gRPC, h2load…");
        let name = sme_id(smes / 2);
        let json_url = format!("http://{}/v1/{name}", args.addr);
        let body = grpc_body(&pb::GetSmeRequest { name }, "GetSme-rest");
        let (mut grpc, mut json, mut json_h1) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            let Some(body) = &body else { break };
            let rate = h2load(
                &args.addr,
                "partnership.v1.SmeService/GetSme",
                body,
                32,
                secs,
            );
            grpc.extend(rate);
            let mut h2 = load_args(32, secs);
            h2.push(json_url.clone());
            json.extend(h2load_rate(&h2));
            let mut h1 = load_args(32, secs);
            h1.extend(["--h1".to_owned(), json_url.clone()]);
            json_h1.extend(h2load_rate(&h1));
        }
        if !grpc.is_empty() {
            let (g, j, j1) = (median(grpc), median(json), median(json_h1));
            table.row(
                "GetSme as HTTP/JSON, 32 connections (h2load, HTTP/2; medians of 3 alternating rounds)",
                format!("{j:.0}/s"),
                format!("gRPC {g:.0}/s (h2load, same record) → **{:.2}×**", j / g),
                "≥ 0.70× gRPC",
                j / g,
                Goal::AtLeast(0.70),
            );
            table.row(
                "GetSme as HTTP/1.1 JSON, 32 connections (h2load --h1)",
                format!("{j1:.0}/s"),
                format!("gRPC {g:.0}/s → {:.2}×", j1 / g),
                "reported",
                j1 / g,
                Goal::Report,
            );
        }
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
            "ListSmes page of 50, 32 callers (Rust driver)",
            format!(
                "{:.0} pages/s, p99 {:.1} ms",
                run.per_second(),
                run.percentile(0.99)
            ),
            format!("pgbench {pg:.0}/s → **{:.2}×**", run.per_second() / pg),
            "≥ 0.55× pgbench",
            run.per_second() / pg,
            Goal::AtLeast(0.55),
        );
        table.figure("page", run.percentile(0.5));
        let request = pb::ListSmesRequest {
            page_size: 50,
            ..Default::default()
        };
        h2load_row(
            &mut table,
            &args.addr,
            secs,
            &request,
            H2loadRow {
                method: "ListSmes",
                what: "ListSmes page of 50, 32 connections (h2load)",
                unit: " pages/s",
                pgbench: pg,
                at_least: 0.55,
            },
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
            run.percentile(0.99),
            Goal::AtMost(25.0),
        );
        table.figure("filtered page", run.percentile(0.5));
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
            deep.percentile(0.5) / first.percentile(0.5),
            Goal::AtMost(1.5),
        );
        table.figure("deep page", deep.percentile(0.5));
    }

    if wanted("search") {
        // Name search over the SMEs: 3-character and 2-character strings.
        for (chars, callers, target, goal) in [
            (3usize, 1usize, "p99 ≤ 50 ms", Goal::AtMost(50.0)),
            (3, 8, "p99 ≤ 50 ms", Goal::AtMost(50.0)),
            (2, 1, "(shorter strings: reported)", Goal::Report),
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
            let run =
                load(&channels, callers, secs, move |ch, r| {
                    let words = words.clone();
                    async move {
                        search_page(ch, words[(r % words.len() as u64) as usize].clone()).await
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
                run.percentile(0.99),
                goal,
            );
            if chars == 3 && callers == 1 {
                table.figure("search", run.percentile(0.5));
            }
        }
        // Strings as callers type them: three letters or digits in a row
        // from the names of SMEs sampled from the database, each string
        // used once, so nothing the server learnt about an earlier search
        // helps (a third or so match thousands at 10M, most a few hundred,
        // digits and Latin letters many).
        let strings = sampled_windows(&args.database_url, args.smes, 3);
        if strings.is_empty() {
            eprintln!("(no names sampled: the search of sampled strings is left out)");
        } else {
            eprintln!("Search, {} sampled strings, 8 callers…", strings.len());
            let distinct = strings.len();
            let (strings, next) = (Arc::new(strings), Arc::new(AtomicUsize::new(0)));
            let run = load(&channels, 8, secs, move |ch, _| {
                let (strings, next) = (strings.clone(), next.clone());
                async move {
                    let search =
                        strings[next.fetch_add(1, Ordering::Relaxed) % strings.len()].clone();
                    search_page(ch, search).await
                }
            })
            .await;
            table.row(
                "ListSmes search, 3 characters of sampled names, each once, 8 callers",
                format!(
                    "{:.0}/s, p50 {:.1} ms, **p99 {:.1} ms** ({} calls of {distinct} strings)",
                    run.per_second(),
                    run.percentile(0.5),
                    run.percentile(0.99),
                    run.calls,
                ),
                String::new(),
                "p99 ≤ 50 ms",
                run.percentile(0.99),
                Goal::AtMost(50.0),
            );
        }
    }

    if wanted("summarize") {
        // SummarizePrograms over everything, from the server's rollup once
        // it is built (its answers carry a resume token).
        eprintln!("SummarizePrograms: waiting for the rollup…");
        let ask = |group_by: &[&str]| pb::SummarizeProgramsRequest {
            filter: String::new(),
            group_by: group_by.iter().map(|g| (*g).to_owned()).collect(),
        };
        // 1M SMEs / 2M participations: 100 ms; 10M / 20M: 300 ms.
        let (limit, limit_text) = if smes > 1_000_000 {
            (300.0, "median ≤ 300 ms at 10M SMEs")
        } else {
            (100.0, "median ≤ 100 ms at 1M SMEs")
        };
        if !rollup_built(&mut insight, Duration::from_secs(600)).await? {
            return Err("the summary rollup was not built within 10 minutes".into());
        }
        for (filter, group_by) in [
            ("", &["kind", "start_year"][..]),
            ("", &[]),
            ("", &["kind", "state", "region"]),
            ("", &["host_company", "start_year"]),
            (filter, &["kind"]),
        ] {
            let mut times = Vec::new();
            for _ in 0..15 {
                let t = Instant::now();
                let mut request = ask(group_by);
                request.filter = filter.to_owned();
                insight.summarize_programs(request).await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let by = if group_by.is_empty() {
                "nothing".to_owned()
            } else {
                group_by.join(", ")
            };
            let over = if filter.is_empty() {
                "everything".to_owned()
            } else {
                format!("`{filter}`")
            };
            table.row(
                &format!("SummarizePrograms by {by}, {over}, 15 calls"),
                format!("**median {:.1} ms**", times[times.len() / 2]),
                format!("max {:.1} ms", times[times.len() - 1]),
                limit_text,
                times[times.len() / 2],
                Goal::AtMost(limit),
            );
        }
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
            String::new(),
            "≥ 150,000/s",
            rate,
            Goal::AtLeast(150_000.0),
        );
        let peak = peak_rss_mb(args.server_pid);
        // At 10M the summary rollup alone holds some 300 MB: reported.
        let (target, goal) = if smes > 1_000_000 {
            (
                "(reported: the summary rollup grows with the data)",
                Goal::Report,
            )
        } else {
            ("< 200 MB", Goal::AtMost(200.0))
        };
        table.row(
            "Server peak RSS over the whole run (export included)",
            format!("**{peak:.0} MB**"),
            String::new(),
            target,
            peak,
            goal,
        );
    }

    if !table.rows.is_empty() {
        table.print();
    }
    if let Some(path) = &args.figures {
        table.write_figures(path)?;
    }
    if args.only.split(',').any(|o| o == "soak") {
        soak(&channels, &args).await;
    }
    Ok(())
}

/// The calls of the soak, in turn: every kind of read, and writers.
const SOAK_KINDS: [&str; 10] = [
    "GetSme",
    "ListSmes",
    "ListSmes filter",
    "ListSmes search",
    "ListPrograms filter",
    "BatchGetSmes",
    "ExportSmes (filtered)",
    "SummarizePrograms (filtered)",
    "CreateSme",
    "UpdateSme",
];

/// The soak's callers: three times the server's default pool.
const SOAK_CALLERS: usize = 30;

/// One soak call of `kind`, with a 10 s deadline; its gRPC code.
async fn soak_call(ch: Channel, kind: usize, r: u64, smes: u64) -> tonic::Code {
    fn deadline<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(Duration::from_secs(10));
        request
    }
    let mut s = SmeServiceClient::new(ch.clone());
    let page = |filter: &str, search: &str| pb::ListSmesRequest {
        page_size: 50,
        filter: filter.into(),
        search: search.into(),
        ..Default::default()
    };
    let words = ["원정밀", "한일테", "세진산", "미래소", "성우부"];
    let result: Result<(), tonic::Status> = match SOAK_KINDS[kind] {
        "GetSme" => s
            .get_sme(deadline(pb::GetSmeRequest {
                name: sme_id(r % smes),
            }))
            .await
            .map(drop),
        "ListSmes" => s.list_smes(deadline(page("", ""))).await.map(drop),
        "ListSmes filter" => s
            .list_smes(deadline(page("region = REGION_BUSAN", "")))
            .await
            .map(drop),
        "ListSmes search" => s
            .list_smes(deadline(page("", words[(r % 5) as usize])))
            .await
            .map(drop),
        "ListPrograms filter" => ProgramServiceClient::new(ch)
            .list_programs(deadline(pb::ListProgramsRequest {
                page_size: 50,
                filter: "region = GYEONGGI AND budget_krw >= 1000000000".into(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "BatchGetSmes" => s
            .batch_get_smes(deadline(pb::BatchGetSmesRequest {
                names: (0..20).map(|i| sme_id((r + i * 7919) % smes)).collect(),
            }))
            .await
            .map(drop),
        "ExportSmes (filtered)" => match s
            .export_smes(deadline(pb::ExportSmesRequest {
                filter: "region = REGION_SEJONG AND employee_count >= 200".into(),
                show_deleted: false,
            }))
            .await
        {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(_)) => {}
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                }
            }
            Err(e) => Err(e),
        },
        "SummarizePrograms (filtered)" => InsightServiceClient::new(ch)
            .summarize_programs(deadline(pb::SummarizeProgramsRequest {
                filter: "region = SEJONG".into(),
                group_by: vec!["kind".into()],
            }))
            .await
            .map(drop),
        "CreateSme" => s
            .create_sme(deadline(pb::CreateSmeRequest {
                sme: Some(pb::Sme {
                    display_name: format!("소크 {r}"),
                    size: pb::EnterpriseSize::Small as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .map(drop),
        _ => s
            .update_sme(deadline(pb::UpdateSmeRequest {
                sme: Some(pb::Sme {
                    name: sme_id(r % smes),
                    employee_count: Some((r % 300) as i32 + 1),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["employee_count".into()],
                }),
            }))
            .await
            .map(drop),
    };
    match result {
        Ok(()) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

/// The server's resident memory (MB), open file descriptors and sockets.
fn server_resources(pid: Option<u32>) -> (f64, usize, usize) {
    let Some(pid) = pid else {
        return (f64::NAN, 0, 0);
    };
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0);
    let (mut fds, mut sockets) = (0, 0);
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in dir.flatten() {
            fds += 1;
            if std::fs::read_link(entry.path())
                .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
            {
                sockets += 1;
            }
        }
    }
    (rss, fds, sockets)
}

/// A first page of 50 SMEs matching `search`: whether it was answered.
async fn search_page(ch: Channel, search: String) -> bool {
    SmeServiceClient::new(ch)
        .list_smes(pb::ListSmesRequest {
            page_size: 50,
            search,
            ..Default::default()
        })
        .await
        .is_ok()
}

/// Distinct runs of `chars` letters or digits from the names of about
/// 4,000 SMEs sampled from the database at `url` (the same sample each
/// run), in an order of their own.
fn sampled_windows(url: &str, smes: u64, chars: usize) -> Vec<String> {
    let percent = (400_000.0 / smes.max(1) as f64).min(100.0);
    let names = Command::new("psql")
        .arg(url)
        .args([
            "-tAc",
            &format!(
                "SELECT display_name FROM smes TABLESAMPLE SYSTEM ({percent}) REPEATABLE (7) \
                 WHERE delete_time IS NULL LIMIT 4000"
            ),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut windows = Vec::new();
    for name in names.lines() {
        let name: Vec<char> = name.chars().collect();
        for w in name.windows(chars) {
            if w.iter().all(|c| c.is_alphanumeric()) {
                let w: String = w.iter().collect();
                if seen.insert(w.clone()) {
                    windows.push(w);
                }
            }
        }
    }
    let mut rng = Lcg(7);
    for i in (1..windows.len()).rev() {
        let j = rng.next(i as u64 + 1) as usize;
        windows.swap(i, j);
    }
    windows
}

/// Connections to the server's database, as PostgreSQL counts them.
fn database_connections(url: &str) -> String {
    Command::new("psql")
        .arg(url)
        .args([
            "-tAc",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".to_owned())
}

/// The soak: `SOAK_CALLERS` callers, every call with a deadline, the mix of
/// [`SOAK_KINDS`] at a steady `--soak-rate` for `--soak-seconds`; errors by
/// code, p50/p99 by method, and the server's memory and connections at the
/// start and the end.
async fn soak(channels: &[Channel], args: &Args) {
    let seconds = args.soak_seconds;
    eprintln!(
        "Soak: {SOAK_CALLERS} callers, {} calls/s, {seconds} s…",
        args.soak_rate
    );
    let before = server_resources(args.server_pid);
    let db_before = database_connections(&args.database_url);
    let start = Instant::now();
    // The server's resources once the load has warmed it (a tenth of the
    // run): from there on they should stay flat.
    let warm = {
        let (pid, url) = (args.server_pid, args.database_url.clone());
        let after = Duration::from_secs(seconds / 10);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let db = tokio::task::spawn_blocking(move || database_connections(&url))
                .await
                .unwrap_or_else(|_| "?".to_owned());
            (server_resources(pid), db)
        })
    };
    let end = start + Duration::from_secs(seconds);
    // Each caller keeps its own share of the rate, on a fixed schedule.
    let every = Duration::from_secs_f64(SOAK_CALLERS as f64 / args.soak_rate.max(1) as f64);
    let smes = args.smes;
    let mut tasks = Vec::new();
    for c in 0..SOAK_CALLERS {
        let channel = channels[c % channels.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(c as u64 + 7);
            let mut next = start + every.mul_f64(c as f64 / SOAK_CALLERS as f64);
            let mut seen: Vec<(usize, tonic::Code, u32)> = Vec::new();
            let mut round = c;
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                next += every;
                let kind = round % SOAK_KINDS.len();
                round += 1;
                let t = Instant::now();
                let code = soak_call(channel.clone(), kind, rng.next(u64::MAX), smes).await;
                let micros = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                seen.push((kind, code, micros));
            }
            seen
        }));
    }
    let mut by_kind: Vec<Vec<u32>> = vec![Vec::new(); SOAK_KINDS.len()];
    let mut codes: std::collections::BTreeMap<String, u64> = Default::default();
    for task in tasks {
        if let Ok(seen) = task.await {
            for (kind, code, micros) in seen {
                by_kind[kind].push(micros);
                *codes.entry(format!("{code:?}")).or_default() += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    let (warm, db_warm) = warm.await.unwrap_or(((f64::NAN, 0, 0), "?".to_owned()));
    let after = server_resources(args.server_pid);
    let db_after = database_connections(&args.database_url);
    let total: usize = by_kind.iter().map(Vec::len).sum();
    println!();
    println!(
        "Soak: {SOAK_CALLERS} callers, 10 s deadlines, {total} calls in {:.0} s ({:.0}/s); codes: {}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        codes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("| method | calls | p50 | p99 |");
    println!("|---|---|---|---|");
    for (kind, mut micros) in by_kind.into_iter().enumerate() {
        micros.sort_unstable();
        let pick = |p: f64| {
            micros
                .get(((micros.len().max(1) - 1) as f64 * p).round() as usize)
                .map_or(f64::NAN, |m| f64::from(*m) / 1000.0)
        };
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms |",
            SOAK_KINDS[kind],
            micros.len(),
            pick(0.5),
            pick(0.99)
        );
    }
    println!();
    println!("| server | before the load | after a tenth of the run | end |");
    println!("|---|---|---|---|");
    println!(
        "| RSS | {:.0} MB | {:.0} MB | {:.0} MB |",
        before.0, warm.0, after.0
    );
    println!(
        "| open files (sockets) | {} ({}) | {} ({}) | {} ({}) |",
        before.1, before.2, warm.1, warm.2, after.1, after.2
    );
    println!("| database connections (pg_stat_activity) | {db_before} | {db_warm} | {db_after} |");
}
