//! The `programs` table.

use sea_orm::entity::prelude::*;

super::resource_model!("programs" {
    #[sea_orm(primary_key, auto_increment = false)]
    id: String,
    display_name: String,
    #[sea_orm(column_type = "Text")]
    description: String,
    host_company_id: String,
    kind: super::value::ProgramKind,
    region: Option<super::value::Region>,
    state: super::value::ProgramState,
    start_date: Option<ChronoDate>,
    end_date: Option<ChronoDate>,
    budget_krw: Option<i64>,
    /// JSON array of company ids; NULL for none.
    #[sea_orm(column_type = "Text", nullable)]
    co_hosts: Option<String>,
    /// JSON array of `{display_name, contribution_krw}`; NULL for none.
    #[sea_orm(column_type = "Text", nullable)]
    funders: Option<String>,
});

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

/// The column of a filterable, orderable field.
pub fn column(field: crate::domain::Field) -> Option<Column> {
    use crate::domain::Field;
    Some(match field {
        Field::DisplayName => Column::DisplayName,
        Field::Kind => Column::Kind,
        Field::State => Column::State,
        Field::HostCompany => Column::HostCompanyId,
        Field::Region => Column::Region,
        Field::StartDate => Column::StartDate,
        Field::EndDate => Column::EndDate,
        Field::BudgetKrw => Column::BudgetKrw,
        Field::CreateTime => Column::CreateTime,
        Field::UpdateTime => Column::UpdateTime,
        _ => return None,
    })
}
