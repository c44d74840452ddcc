//! The `journal` table (one entry per changed record) and its one-row
//! `journal_state` (migration 7).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "journal")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub sequence: i64,
    /// The feed's order before `sequence`: PostgreSQL's transaction id, the
    /// MariaDB/MySQL commit clock, 0 on SQLite.
    pub txid: i64,
    pub commit_time: ChronoDateTimeUtc,
    pub caller: String,
    pub method: String,
    pub request_id: Option<String>,
    pub collection: String,
    pub resource: String,
    pub kind: String,
    /// JSON of the row before the change; NULL for a create.
    #[sea_orm(column_type = "Text", nullable)]
    pub before: Option<String>,
    /// JSON of the row after the change.
    #[sea_orm(column_type = "Text")]
    pub after: String,
    /// The write (transaction) the entry belongs to: an id the server draws
    /// for it, looked up when a connection fails as that write commits.
    /// NULL for entries written before migration 8.
    pub write_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The one row of `journal_state`.
pub mod state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "journal_state")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        /// MariaDB/MySQL: bumped by every journaling transaction just before
        /// it commits; its row lock orders the commits.
        pub clock: i64,
        /// The position of the newest entry the retention job deleted.
        pub purged_txid: i64,
        pub purged_sequence: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
