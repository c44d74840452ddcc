//! The journal's benchmark driver, run by `scripts/bench-journal.sh`: write
//! throughput (to compare a build with the journal against one without),
//! how soon a change reaches a connected watcher while writers run at full
//! speed, and how fast a watcher replays a long journal (with the server's
//! memory sampled throughout).
//!
//!   cargo bench --bench journal -- writes --addr 127.0.0.1:50071 --callers 16 --seconds 10
//!   cargo bench --bench journal -- latency --addr 127.0.0.1:50071 --writers 8 --seconds 10
//!   cargo bench --bench journal -- fill --database-url URL --count 1000000
//!   cargo bench --bench journal -- replay --addr 127.0.0.1:50071 --count 1000000 --server-pid PID

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use partnership::pb;
use partnership::pb::change_feed_service_client::ChangeFeedServiceClient;
use partnership::pb::sme_service_client::SmeServiceClient;
use sea_orm::{ConnectionTrait, Database};
use tonic::transport::Channel;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
    /// Ignored: `cargo bench` passes it.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Subcommand)]
enum Scenario {
    /// CreateSme, then UpdateSme of the created records, each for
    /// `seconds` at `callers`: calls per second (one line of JSON).
    Writes {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 16)]
        callers: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// One watcher following from now while `writers` create and update at
    /// full speed: the time from each change's commit to its arrival.
    Latency {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 8)]
        writers: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Appends `count` realistic entries to the journal of a migrated
    /// database (a copy of one real entry), for `replay`.
    Fill {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
    },
    /// A watcher reads the whole journal from the earliest entry: changes
    /// per second, and the server's resident memory sampled throughout.
    Replay {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long)]
        server_pid: Option<u32>,
    },
}

async fn channel(addr: &str) -> Result<Channel, Box<dyn std::error::Error>> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?)
}

fn new_sme(name: String) -> pb::Sme {
    pb::Sme {
        display_name: name,
        size: pb::EnterpriseSize::Small as i32,
        employee_count: Some(12),
        ..Default::default()
    }
}

/// Runs `call` from `callers` tasks for `seconds`: successful calls per
/// second.
async fn rate<F, Fut>(callers: usize, seconds: u64, call: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let ok = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let (call, ok) = (call.clone(), ok.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < end {
                    n += 1;
                    if call(c, n).await {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn writes(
    addr: &str,
    callers: usize,
    seconds: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let ch = channel(addr).await?;
    let run = format!("{:x}", std::process::id());
    let created = Arc::new(std::sync::Mutex::new(vec![Vec::<String>::new(); callers]));
    let create = {
        let (ch, run, created) = (ch.clone(), run.clone(), created.clone());
        rate(callers, seconds, move |c, n| {
            let (ch, run, created) = (ch.clone(), run.clone(), created.clone());
            async move {
                let id = format!("w{run}-{c}-{n}");
                let r = SmeServiceClient::new(ch)
                    .create_sme(pb::CreateSmeRequest {
                        sme: Some(new_sme(format!("Bench {c} {n}"))),
                        sme_id: id.clone(),
                        request_id: String::new(),
                    })
                    .await;
                if r.is_ok()
                    && let Ok(mut created) = created.lock()
                {
                    created[c].push(format!("smes/{id}"));
                }
                r.is_ok()
            }
        })
        .await
    };
    let names: Arc<Vec<Vec<String>>> =
        Arc::new(created.lock().map(|c| c.clone()).unwrap_or_default());
    let update = {
        let ch = ch.clone();
        rate(callers, seconds, move |c, n| {
            let (ch, names) = (ch.clone(), names.clone());
            async move {
                let mine = &names[c];
                if mine.is_empty() {
                    return false;
                }
                let name = mine[(n as usize) % mine.len()].clone();
                SmeServiceClient::new(ch)
                    .update_sme(pb::UpdateSmeRequest {
                        sme: Some(pb::Sme {
                            name,
                            employee_count: Some(i32::try_from(n % 10_000).unwrap_or(1)),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["employee_count".into()],
                        }),
                    })
                    .await
                    .is_ok()
            }
        })
        .await
    };
    println!("{{\"create_per_s\": {create:.1}, \"update_per_s\": {update:.1}}}");
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn latency(
    addr: &str,
    writers: usize,
    seconds: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let ch = channel(addr).await?;
    let mut stream = ChangeFeedServiceClient::new(ch.clone())
        .watch_changes(pb::WatchChangesRequest::default())
        .await?
        .into_inner();
    // The first message says the stream follows.
    stream.message().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let run = format!("{:x}", std::process::id());
    let load = {
        let (ch, stop) = (ch.clone(), stop.clone());
        tokio::spawn(async move {
            let tasks: Vec<_> = (0..writers)
                .map(|w| {
                    let (ch, stop, run) = (ch.clone(), stop.clone(), run.clone());
                    tokio::spawn(async move {
                        let mut client = SmeServiceClient::new(ch);
                        let mut n = 0u64;
                        let mut written = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            n += 1;
                            let id = format!("l{run}-{w}-{n}");
                            if client
                                .create_sme(pb::CreateSmeRequest {
                                    sme: Some(new_sme(format!("Latency {w} {n}"))),
                                    sme_id: id,
                                    request_id: String::new(),
                                })
                                .await
                                .is_ok()
                            {
                                written += 1;
                            }
                        }
                        written
                    })
                })
                .collect();
            let mut written = 0;
            for t in tasks {
                written += t.await.unwrap_or(0);
            }
            written
        })
    };
    let mut lags = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let Ok(message) = tokio::time::timeout(Duration::from_secs(5), stream.message()).await
        else {
            break;
        };
        let Some(message) = message? else { break };
        let now = chrono::Utc::now();
        for change in message.changes {
            if let Some(t) = change.commit_time
                && let Some(committed) =
                    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            {
                lags.push((now - committed).as_seconds_f64() * 1000.0);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let written = load.await.unwrap_or(0);
    lags.sort_by(f64::total_cmp);
    println!(
        "{{\"writes\": {written}, \"changes_seen\": {}, \"p50_ms\": {:.1}, \"p99_ms\": {:.1}, \"max_ms\": {:.1}}}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

async fn fill(url: &str, count: u64) -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::connect(url).await?;
    let backend = db.get_database_backend();
    let sample = sea_orm::Statement::from_string(
        backend,
        "SELECT after FROM journal ORDER BY sequence LIMIT 1".to_owned(),
    );
    let row = db
        .query_one_raw(sample)
        .await?
        .ok_or("the journal is empty: write one record through the server first")?;
    let after: String = row.try_get_by_index(0)?;
    let after = after.replace('\'', "''");
    let (txid, series) = match backend {
        sea_orm::DbBackend::Postgres => ("3", format!("generate_series(1, {count}) AS g(x)")),
        sea_orm::DbBackend::MySql => ("1", String::new()),
        _ => ("0", String::new()),
    };
    let columns =
        "txid, commit_time, caller, method, request_id, collection, resource, kind, before, after";
    let values = format!(
        "{txid}, CURRENT_TIMESTAMP, 'bench', 'partnership.v1.SmeService/UpdateSme', NULL, 'smes', 'smes/bench', 'UPDATED', '{after}', '{after}'"
    );
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            format!("INSERT INTO journal ({columns}) SELECT {values} FROM {series}")
        }
        _ => format!(
            "INSERT INTO journal ({columns}) WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {count}) SELECT {values} FROM g"
        ),
    };
    let started = Instant::now();
    db.execute_unprepared(&sql).await?;
    println!(
        "{{\"filled\": {count}, \"seconds\": {:.1}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn rss_mb(pid: Option<u32>) -> f64 {
    common::memory_mb(pid, "VmRSS")
}

async fn replay(
    addr: &str,
    count: u64,
    pid: Option<u32>,
) -> Result<(), Box<dyn std::error::Error>> {
    let ch = channel(addr).await?;
    let before = rss_mb(pid);
    let mut stream = ChangeFeedServiceClient::new(ch)
        .watch_changes(pb::WatchChangesRequest {
            start_from_earliest: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let started = Instant::now();
    let mut seen = 0u64;
    let mut samples = Vec::new();
    let mut next_sample = Instant::now();
    while seen < count {
        let Some(message) = stream.message().await? else {
            break;
        };
        seen += message.changes.len() as u64;
        if Instant::now() >= next_sample {
            samples.push(rss_mb(pid));
            next_sample = Instant::now() + Duration::from_millis(250);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    samples.push(rss_mb(pid));
    let tenth = samples.len() / 10;
    let early = samples.get(tenth).copied().unwrap_or(f64::NAN);
    let peak = samples.iter().copied().fold(f64::NAN, f64::max);
    println!(
        "{{\"changes\": {seen}, \"seconds\": {secs:.1}, \"per_s\": {:.0}, \"rss_before_mb\": {before:.1}, \"rss_at_10pct_mb\": {early:.1}, \"rss_peak_mb\": {peak:.1}, \"rss_end_mb\": {:.1}}}",
        seen as f64 / secs,
        samples.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Args::parse().scenario {
        Scenario::Writes {
            addr,
            callers,
            seconds,
        } => writes(&addr, callers, seconds).await,
        Scenario::Latency {
            addr,
            writers,
            seconds,
        } => latency(&addr, writers, seconds).await,
        Scenario::Fill {
            database_url,
            count,
        } => fill(&database_url, count).await,
        Scenario::Replay {
            addr,
            count,
            server_pid,
        } => replay(&addr, count, server_pid).await,
    }
}
