//! The `participations` table; outcomes are a JSON array in `outcomes`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "participations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub program_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub sme_id: String,
    pub support_amount_krw: Option<i64>,
    pub joined_date: Option<ChronoDate>,
    #[sea_orm(column_type = "Text")]
    pub outcomes: String,
    pub create_time: ChronoDateTimeUtc,
    pub update_time: ChronoDateTimeUtc,
    pub delete_time: Option<ChronoDateTimeUtc>,
    pub revision: i64,
    /// Loaded by `partnership seed-demo`, not from an official source.
    pub demo: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::program::Entity",
        from = "Column::ProgramId",
        to = "super::program::Column::Id"
    )]
    Program,
    #[sea_orm(
        belongs_to = "super::sme::Entity",
        from = "Column::SmeId",
        to = "super::sme::Column::Id"
    )]
    Sme,
}

impl Related<super::program::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Program.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
