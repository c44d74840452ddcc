//! The `programs` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "programs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub host_company_id: String,
    pub kind: String,
    pub region: Option<String>,
    pub state: String,
    pub start_date: Option<ChronoDate>,
    pub end_date: Option<ChronoDate>,
    pub budget_krw: Option<i64>,
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
        belongs_to = "super::company::Entity",
        from = "Column::HostCompanyId",
        to = "super::company::Column::Id"
    )]
    HostCompany,
    #[sea_orm(has_many = "super::participation::Entity")]
    Participations,
}

impl Related<super::participation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Participations.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
