//! Schema migrations of the partnership service, applied at `serve` start and
//! by `partnership migrate`. Each migration is a module; never edit one that
//! has shipped, add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tables;
mod m20261126_000002_add_demo_flag;
mod m20261126_000003_add_program_co_hosts_and_funders;
mod m20261126_000004_add_query_indexes;
mod m20261126_000005_bound_trigram_pending_lists;
mod m20261126_000006_add_search_names;
mod m20261130_000007_create_journal;
mod m20261201_000008_add_journal_write_id;
mod m20261201_000009_cover_search_walks;
mod m20261201_000010_sample_search_names_finely;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tables::Migration),
            Box::new(m20261126_000002_add_demo_flag::Migration),
            Box::new(m20261126_000003_add_program_co_hosts_and_funders::Migration),
            Box::new(m20261126_000004_add_query_indexes::Migration),
            Box::new(m20261126_000005_bound_trigram_pending_lists::Migration),
            Box::new(m20261126_000006_add_search_names::Migration),
            Box::new(m20261130_000007_create_journal::Migration),
            Box::new(m20261201_000008_add_journal_write_id::Migration),
            Box::new(m20261201_000009_cover_search_walks::Migration),
            Box::new(m20261201_000010_sample_search_names_finely::Migration),
        ]
    }
}
