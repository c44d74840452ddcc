//! Black-box tests over real gRPC. Each test runs against every backend:
//! SQLite always, PostgreSQL and MariaDB/MySQL when
//! `PARTNERSHIP_TEST_POSTGRES_URL` / `PARTNERSHIP_TEST_MYSQL_URL` are set
//! (otherwise their tests are listed as ignored, and a line says why).

mod access;
mod backup;
mod bulk;
mod companies;
mod concurrency;
mod contention;
mod crowd;
mod faults;
mod hostile;
mod journal;
mod monitoring;
mod outcome;
mod process;
mod programs;
mod query;
mod reads;
mod replica;
mod rest;
mod service;
mod summaries;
mod support;
mod traces;
mod transport;

use std::future::Future;
use std::pin::Pin;

use libtest_mimic::{Arguments, Failed, Trial};
use support::{App, Backend, TestDb};

type Boxed = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a test is given.
#[derive(Clone, Copy)]
enum Run {
    /// A server on a fresh database of the backend.
    App(fn(App) -> Boxed),
    /// A fresh database of the backend; the test starts its own servers.
    Db(fn(TestDb) -> Boxed),
    /// A runtime; the test starts its own database and servers.
    Async(fn() -> Boxed),
    /// Nothing; the test starts processes and waits for them itself.
    Plain(fn()),
}

/// A test and the backends it runs on.
struct Test {
    name: &'static str,
    backends: &'static [Backend],
    run: Run,
}

/// Every backend: SQLite always, PostgreSQL and MariaDB/MySQL when set.
const EVERY: &[Backend] = &Backend::ALL;
/// The backend-independent tests (transport, processes) run on SQLite.
const SQLITE: &[Backend] = &[Backend::Sqlite];
/// Tests that need PostgreSQL's own views or behaviour.
const POSTGRES: &[Backend] = &[Backend::Postgres];
/// Tests of several server processes sharing one database server.
const SERVERS: &[Backend] = &[Backend::Postgres, Backend::MySql];

macro_rules! run {
    (App, $test:path) => {
        Run::App(|app| Box::pin($test(app)))
    };
    (Db, $test:path) => {
        Run::Db(|db| Box::pin($test(db)))
    };
    (Async, $test:path) => {
        Run::Async(|| Box::pin($test()))
    };
    (Plain, $test:path) => {
        Run::Plain($test)
    };
}

/// The one registration of tests: `BACKENDS: Kind [module::test, …]`.
macro_rules! tests {
    ($($backends:ident: $kind:ident [$($module:ident :: $name:ident),+ $(,)?])+) => {
        &[$($(Test {
            name: concat!(stringify!($module), "::", stringify!($name)),
            backends: $backends,
            run: run!($kind, $module::$name),
        },)+)+]
    };
}

const TESTS: &[Test] = tests! {
    EVERY: App [
        companies::create_returns_resource_with_server_fields,
        companies::create_with_taken_id_is_already_exists,
        companies::duplicate_live_business_number_is_already_exists,
        companies::request_id_returns_first_result_and_creates_nothing,
        companies::get_rules,
        companies::list_pages_with_keyset_tokens,
        companies::list_rejects_bad_paging_and_bad_queries,
        companies::update_mask_rules,
        companies::update_with_stale_etag_is_aborted,
        companies::delete_and_undelete_rules,
        companies::delete_company_with_live_programs_needs_force,
        companies::bad_input_is_invalid_argument_and_changes_nothing,
        companies::sme_size_classes,
        programs::program_references_and_dates,
        programs::participation_rules,
        programs::participations_list_under_parent_and_wildcard,
        programs::delete_program_with_participations_needs_force,
        programs::update_program_and_participation,
        programs::delete_sme_with_participations_needs_force,
        programs::outcome_figures_can_be_unmeasured,
        programs::co_hosts_and_funders,
        service::health_and_reflection_are_served,
        service::request_id_header_is_echoed,
        service::seed_demo_is_idempotent_and_marked,
        concurrency::concurrent_updates_lose_nothing,
        concurrency::concurrent_gets_each_get_their_own_answer,
        transport::metrics_count_rpcs_by_method_and_code,
        hostile::forged_page_tokens_are_invalid_argument,
        hostile::forged_participation_tokens_are_invalid_argument,
        hostile::control_characters_are_refused_in_every_text_field,
        hostile::unknown_methods_share_one_metrics_bucket,
        hostile::streams_are_counted_from_trailers_and_when_cancelled,
        hostile::requests_over_the_message_limit_are_resource_exhausted,
        hostile::hostile_input_is_served_or_refused_naming_the_field,
        query::filters_cover_every_operator,
        query::sme_and_participation_filters_traverse,
        query::orders_page_in_order_with_ties_by_id,
        query::search_matches_names_and_business_numbers,
        query::searches_page_and_count_many_matches,
        query::bad_queries_are_invalid_argument_and_inject_nothing,
        query::paging_under_concurrent_inserts_returns_each_record_once,
        query::insights_summarize_programs_and_list_partners,
        reads::reads_return_the_written_records_byte_for_byte,
        reads::shared_pages_see_every_acknowledged_write,
        bulk::batch_get_returns_in_order_all_or_nothing,
        bulk::batch_create_is_atomic_and_names_the_request_at_fault,
        bulk::exports_stream_every_record_once_in_batches,
        journal::every_change_is_journaled_once_with_its_states,
        journal::a_mirror_that_exports_then_watches_converges,
        rest::every_method_answers_as_over_grpc,
    ]
    EVERY: Db [
        monitoring::dashboard_and_alerts_name_only_exported_metrics,
        summaries::summaries_from_the_rollup_match_a_fresh_count,
        contention::etag_writers_on_one_record_lose_no_update,
        contention::unconditional_writers_on_one_record_all_succeed,
        faults::abandoned_pings_leave_connections_in_step,
        bulk::generated_datasets_are_valid_and_deterministic,
        contention::racing_creates_get_precise_answers,
        crowd::a_crowd_with_deadlines_is_answered_or_shed,
        journal::feed_tokens_heartbeats_and_expiry,
        journal::the_feed_never_passes_a_late_commit,
        rest::refusals_carry_the_grpc_code_as_http_status,
        rest::streams_flow_as_the_caller_reads,
        traces::a_call_joins_its_callers_trace,
    ]
    SQLITE: Db [
        transport::tls_serves_encrypted_calls,
        backup::a_backup_under_writes_restores_every_acknowledged_record,
        transport::mutual_tls_requires_a_client_certificate,
        transport::health_command_speaks_mutual_tls_and_says_what_failed,
        transport::mutual_tls_certificates_name_callers,
        access::tokens_and_scopes_are_checked_before_existence,
        access::rate_limits_are_per_caller_with_retry_info,
        access::calls_over_the_limit_are_shed_not_queued,
        access::large_headers_get_a_grpc_status,
        transport::grpc_web_over_http1_with_cors,
        transport::grpc_web_over_http2_with_cors,
        journal::the_audit_trail_needs_its_own_scope_and_names_callers,
        traces::without_an_exporter_the_trace_id_still_travels,
    ]
    SERVERS: Db [
        faults::replicas_starting_together_all_serve,
        faults::an_older_version_refuses_a_newer_schema,
        process::a_missing_database_is_named_once_or_created,
        outcome::a_write_cut_off_at_its_commit_is_settled,
        outcome::writers_through_cut_commits_are_told_the_truth,
    ]
    SQLITE: Async [
        faults::calls_past_their_deadline_are_logged_and_counted,
        crowd::saturation_is_shed_not_an_outage,
        faults::silent_connections_are_closed_and_descriptor_exhaustion_does_not_spin,
    ]
    POSTGRES: Db [
        backup::a_pg_dump_under_writes_restores_every_acknowledged_record,
        access::expired_deadlines_cancel_the_statement,
        outcome::a_write_to_a_read_only_database_is_unavailable,
        access::sighup_reloads_callers_and_no_secret_leaks,
        crowd::point_reads_honour_the_deadline,
    ]
    POSTGRES: App [
        service::database_down_is_unavailable_and_not_serving,
        query::search_names_are_sampled_finely,
    ]
    POSTGRES: Async [
        replica::reads_off_a_standby_never_miss_the_callers_writes,
        faults::database_outage_with_default_flags,
        outcome::writes_through_a_leader_failover_are_answered_truthfully,
        journal::a_watcher_resumes_across_a_database_outage,
    ]
    SQLITE: Plain [
        process::acknowledged_writes_survive_a_kill,
        process::migrate_subcommand_prepares_the_database,
        process::seed_demo_subcommand_is_idempotent,
        process::a_taken_address_is_named,
        access::without_auth_the_server_keeps_to_loopback,
        process::sigterm_drains_calls_and_exits_in_time,
        process::help_groups_the_flags_under_headings,
        journal::a_watcher_resumes_across_a_killed_server,
    ]
};

fn runtime() -> Result<tokio::runtime::Runtime, Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("runtime: {e}")))
}

/// Runs `test` on `backend`, with a database of its own dropped after.
fn run(backend: Backend, test: Run) -> Result<(), Failed> {
    let joined = |outcome: Result<(), tokio::task::JoinError>| {
        outcome.map_err(|e| Failed::from(format!("{e}")))
    };
    match test {
        Run::App(test) => runtime()?.block_on(async move {
            let db = TestDb::create(backend).await;
            let app = App::spawn(&db).await;
            let outcome = tokio::spawn(test(app)).await;
            db.drop_db().await;
            joined(outcome)
        }),
        Run::Db(test) => runtime()?.block_on(async move {
            let db = TestDb::create(backend).await;
            let dropper = db.dropper();
            let outcome = tokio::spawn(test(db)).await;
            dropper.run().await;
            joined(outcome)
        }),
        Run::Async(test) => runtime()?.block_on(async move { joined(tokio::spawn(test()).await) }),
        Run::Plain(test) => {
            test();
            Ok(())
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    for backend in Backend::ALL {
        if backend.base_url().is_none()
            && let Some(var) = backend.env_var()
        {
            println!(
                "NOTE: {var} is not set: {} tests are skipped",
                backend.name()
            );
        }
    }
    let mut trials = Vec::new();
    for backend in Backend::ALL {
        let available = backend.base_url().is_some();
        for test in TESTS.iter().filter(|t| t.backends.contains(&backend)) {
            let run_it = test.run;
            trials.push(
                Trial::test(format!("{}::{}", backend.name(), test.name), move || {
                    run(backend, run_it)
                })
                .with_ignored_flag(!available),
            );
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
