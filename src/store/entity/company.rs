//! The `companies` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "companies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    pub business_number: Option<String>,
    pub corporate_number: Option<String>,
    pub size: String,
    pub ksic_code: Option<String>,
    pub ksic_revision: Option<i32>,
    pub region: Option<String>,
    pub employee_count: Option<i32>,
    pub annual_revenue_krw: Option<i64>,
    pub create_time: ChronoDateTimeUtc,
    pub update_time: ChronoDateTimeUtc,
    pub delete_time: Option<ChronoDateTimeUtc>,
    pub revision: i64,
    /// Loaded by `partnership seed-demo`, not from an official source.
    pub demo: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
