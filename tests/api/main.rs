//! Black-box tests over real gRPC. Each test runs against every backend:
//! SQLite always, PostgreSQL and MariaDB/MySQL when
//! `PARTNERSHIP_TEST_POSTGRES_URL` / `PARTNERSHIP_TEST_MYSQL_URL` are set
//! (otherwise their tests are listed as ignored, and a line says why).

mod access;
mod bulk;
mod companies;
mod concurrency;
mod contention;
mod crowd;
mod faults;
mod hostile;
mod process;
mod programs;
mod query;
mod service;
mod support;
mod transport;

use std::future::Future;
use std::pin::Pin;

use libtest_mimic::{Arguments, Failed, Trial};
use support::{App, Backend, TestDb};

type TestFn = fn(App) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! tests {
    ($($module:ident :: $name:ident),+ $(,)?) => {
        &[$((concat!(stringify!($module), "::", stringify!($name)), |app| Box::pin($module::$name(app)))),+]
    };
}

const TESTS: &[(&str, TestFn)] = tests![
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
    hostile::every_parser_answers_invalid_argument,
    query::filters_cover_every_operator,
    query::sme_and_participation_filters_traverse,
    query::orders_page_in_order_with_ties_by_id,
    query::search_matches_names_and_business_numbers,
    query::searches_page_and_count_many_matches,
    query::bad_queries_are_invalid_argument_and_inject_nothing,
    query::paging_under_concurrent_inserts_returns_each_record_once,
    query::insights_summarize_programs_and_list_partners,
    bulk::batch_get_returns_in_order_all_or_nothing,
    bulk::batch_create_is_atomic_and_names_the_request_at_fault,
    bulk::exports_stream_every_record_once_in_batches,
];

/// Tests that run server processes of their own on the backend's database.
const PROCESS_DB_TESTS: &[(&str, DbTestFn)] = &[
    (
        "contention::etag_writers_on_one_record_lose_no_update",
        |db| Box::pin(contention::etag_writers_on_one_record_lose_no_update(db)),
    ),
    (
        "contention::unconditional_writers_on_one_record_all_succeed",
        |db| {
            Box::pin(contention::unconditional_writers_on_one_record_all_succeed(
                db,
            ))
        },
    ),
    ("faults::abandoned_pings_leave_connections_in_step", |db| {
        Box::pin(faults::abandoned_pings_leave_connections_in_step(db))
    }),
    (
        "bulk::generated_datasets_are_valid_and_deterministic",
        |db| Box::pin(bulk::generated_datasets_are_valid_and_deterministic(db)),
    ),
    ("contention::racing_creates_get_precise_answers", |db| {
        Box::pin(contention::racing_creates_get_precise_answers(db))
    }),
    ("crowd::a_crowd_with_deadlines_is_answered_or_shed", |db| {
        Box::pin(crowd::a_crowd_with_deadlines_is_answered_or_shed(db))
    }),
];

type DbTestFn = fn(TestDb) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Transport tests that configure their own server; the backend does not
/// matter to them, so they run on SQLite.
const TRANSPORT_TESTS: &[(&str, DbTestFn)] = &[
    ("transport::tls_serves_encrypted_calls", |db| {
        Box::pin(transport::tls_serves_encrypted_calls(db))
    }),
    (
        "transport::mutual_tls_requires_a_client_certificate",
        |db| Box::pin(transport::mutual_tls_requires_a_client_certificate(db)),
    ),
    (
        "transport::health_command_speaks_mutual_tls_and_says_what_failed",
        |db| Box::pin(transport::health_command_speaks_mutual_tls_and_says_what_failed(db)),
    ),
    ("transport::mutual_tls_certificates_name_callers", |db| {
        Box::pin(transport::mutual_tls_certificates_name_callers(db))
    }),
    (
        "access::tokens_and_scopes_are_checked_before_existence",
        |db| Box::pin(access::tokens_and_scopes_are_checked_before_existence(db)),
    ),
    ("access::rate_limits_are_per_caller_with_retry_info", |db| {
        Box::pin(access::rate_limits_are_per_caller_with_retry_info(db))
    }),
    ("access::calls_over_the_limit_are_shed_not_queued", |db| {
        Box::pin(access::calls_over_the_limit_are_shed_not_queued(db))
    }),
    ("access::large_headers_get_a_grpc_status", |db| {
        Box::pin(access::large_headers_get_a_grpc_status(db))
    }),
    ("transport::grpc_web_over_http1_with_cors", |db| {
        Box::pin(transport::grpc_web_over_http1_with_cors(db))
    }),
];

/// Tests on PostgreSQL and MariaDB/MySQL only: they start server
/// processes of their own.
const SERVER_DB_TESTS: &[(&str, DbTestFn)] = &[
    ("faults::replicas_starting_together_all_serve", |db| {
        Box::pin(faults::replicas_starting_together_all_serve(db))
    }),
    ("faults::an_older_version_refuses_a_newer_schema", |db| {
        Box::pin(faults::an_older_version_refuses_a_newer_schema(db))
    }),
];

type AsyncFn = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Tests that start the binary and need a runtime, SQLite only.
const ASYNC_PROCESS_TESTS: &[(&str, AsyncFn)] = &[
    (
        "faults::calls_past_their_deadline_are_logged_and_counted",
        || Box::pin(faults::calls_past_their_deadline_are_logged_and_counted()),
    ),
    ("crowd::saturation_is_shed_not_an_outage", || {
        Box::pin(crowd::saturation_is_shed_not_an_outage())
    }),
    (
        "faults::silent_connections_are_closed_and_descriptor_exhaustion_does_not_spin",
        || {
            Box::pin(
                faults::silent_connections_are_closed_and_descriptor_exhaustion_does_not_spin(),
            )
        },
    ),
];

/// Tests that need PostgreSQL's own views, on a database of their own.
const POSTGRES_DB_TESTS: &[(&str, DbTestFn)] = &[
    ("access::expired_deadlines_cancel_the_statement", |db| {
        Box::pin(access::expired_deadlines_cancel_the_statement(db))
    }),
    ("access::sighup_reloads_callers_and_no_secret_leaks", |db| {
        Box::pin(access::sighup_reloads_callers_and_no_secret_leaks(db))
    }),
    ("crowd::point_reads_honour_the_deadline", |db| {
        Box::pin(crowd::point_reads_honour_the_deadline(db))
    }),
];

/// Tests that only one backend can run.
const POSTGRES_TESTS: &[(&str, TestFn)] =
    tests![service::database_down_is_unavailable_and_not_serving];

/// Tests that start the binary itself, SQLite only.
const PROCESS_TESTS: &[(&str, fn())] = &[
    (
        "process::acknowledged_writes_survive_a_kill",
        process::acknowledged_writes_survive_a_kill,
    ),
    (
        "process::migrate_subcommand_prepares_the_database",
        process::migrate_subcommand_prepares_the_database,
    ),
    (
        "process::seed_demo_subcommand_is_idempotent",
        process::seed_demo_subcommand_is_idempotent,
    ),
    (
        "process::a_taken_address_is_named",
        process::a_taken_address_is_named,
    ),
    (
        "access::without_auth_the_server_keeps_to_loopback",
        access::without_auth_the_server_keeps_to_loopback,
    ),
    (
        "process::sigterm_drains_calls_and_exits_in_time",
        process::sigterm_drains_calls_and_exits_in_time,
    ),
];

fn run(backend: Backend, test: TestFn) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        let db = TestDb::create(backend).await;
        let app = App::spawn(&db).await;
        let outcome = tokio::spawn(test(app)).await;
        db.drop_db().await;
        outcome.map_err(|e| Failed::from(format!("{e}")))
    })
}

fn run_with_db(backend: Backend, test: DbTestFn) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        let db = TestDb::create(backend).await;
        let dropper = db.dropper();
        let outcome = tokio::spawn(test(db)).await;
        dropper.run().await;
        outcome.map_err(|e| Failed::from(format!("{e}")))
    })
}

fn run_async(test: AsyncFn) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        tokio::spawn(test())
            .await
            .map_err(|e| Failed::from(format!("{e}")))
    })
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for backend in Backend::ALL {
        let available = backend.base_url().is_some();
        if !available && let Some(var) = backend.env_var() {
            println!(
                "NOTE: {var} is not set: {} tests are skipped",
                backend.name()
            );
        }
        for (name, test) in TESTS {
            let test = *test;
            trials.push(
                Trial::test(format!("{}::{name}", backend.name()), move || {
                    run(backend, test)
                })
                .with_ignored_flag(!available),
            );
        }
        for (name, test) in PROCESS_DB_TESTS {
            let test = *test;
            trials.push(
                Trial::test(format!("{}::{name}", backend.name()), move || {
                    run_with_db(backend, test)
                })
                .with_ignored_flag(!available),
            );
        }
    }
    let postgres = Backend::Postgres.base_url().is_some();
    for (name, test) in POSTGRES_TESTS {
        let test = *test;
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                run(Backend::Postgres, test)
            })
            .with_ignored_flag(!postgres),
        );
    }
    for (name, test) in POSTGRES_DB_TESTS {
        let test = *test;
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                run_with_db(Backend::Postgres, test)
            })
            .with_ignored_flag(!postgres),
        );
    }
    let own_postgres: AsyncFn = || Box::pin(faults::database_outage_with_default_flags());
    trials.push(
        Trial::test(
            "postgres::faults::database_outage_with_default_flags",
            move || run_async(own_postgres),
        )
        .with_ignored_flag(!postgres),
    );
    for backend in [Backend::Postgres, Backend::MySql] {
        for (name, test) in SERVER_DB_TESTS {
            let test = *test;
            trials.push(
                Trial::test(format!("{}::{name}", backend.name()), move || {
                    run_with_db(backend, test)
                })
                .with_ignored_flag(backend.base_url().is_none()),
            );
        }
    }
    for (name, test) in ASYNC_PROCESS_TESTS {
        let test = *test;
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run_async(test)
        }));
    }
    for (name, test) in TRANSPORT_TESTS {
        let test = *test;
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run_with_db(Backend::Sqlite, test)
        }));
    }
    for (name, test) in PROCESS_TESTS {
        let test = *test;
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            test();
            Ok(())
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
