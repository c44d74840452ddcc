//! Every journal entry names the write (the transaction) it belongs to, by
//! an id the server draws for it: when a connection fails as a write
//! commits, the server looks for that id to learn whether the write landed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Journal {
    Table,
    WriteId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Nullable: entries written before this migration have none. No
        // index: it is looked up along the txid index, only after a failed
        // commit.
        manager
            .alter_table(
                Table::alter()
                    .table(Journal::Table)
                    .add_column(ColumnDef::new(Journal::WriteId).string_len(36).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Journal::Table)
                    .drop_column(Journal::WriteId)
                    .to_owned(),
            )
            .await
    }
}
