//! Programs name their co-hosting companies and co-funders: two JSON arrays
//! (ids, and `{display_name, contribution_krw}` objects), NULL meaning none.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Programs {
    Table,
    CoHosts,
    Funders,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One statement per column: SQLite alters one column at a time.
        for column in [Programs::CoHosts, Programs::Funders] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Programs::Table)
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Programs::CoHosts, Programs::Funders] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Programs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
