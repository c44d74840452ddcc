//! The `participations` table; outcomes are a JSON array in `outcomes`.

use sea_orm::entity::prelude::*;

super::resource_model!("participations" {
    #[sea_orm(primary_key, auto_increment = false)]
    program_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    id: String,
    sme_id: String,
    support_amount_krw: Option<i64>,
    joined_date: Option<ChronoDate>,
    #[sea_orm(column_type = "Text")]
    outcomes: String,
});

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

/// The column of a filterable, orderable field.
pub fn column(field: crate::domain::Field) -> Option<Column> {
    use crate::domain::Field;
    Some(match field {
        Field::Sme => Column::SmeId,
        Field::SupportAmountKrw => Column::SupportAmountKrw,
        Field::JoinedDate => Column::JoinedDate,
        Field::CreateTime => Column::CreateTime,
        Field::UpdateTime => Column::UpdateTime,
        _ => return None,
    })
}
