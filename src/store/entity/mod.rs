//! sea-orm entities, one per table. Rows become domain types in the store
//! modules; nothing outside `store` sees them.

pub mod company;
pub mod journal;
pub mod participation;
pub mod program;
pub mod request_id;
pub mod row;
#[cfg(test)]
mod row_tests;
pub mod sme;
pub mod value;

/// A resource table's model: the given columns, then the bookkeeping
/// columns every resource table has.
macro_rules! resource_model {
    ($table:tt { $($(#[$meta:meta])* $field:ident: $ty:ty,)+ }) => {
        #[derive(
            Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize,
        )]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            $($(#[$meta])* pub $field: $ty,)+
            pub create_time: ChronoDateTimeUtc,
            pub update_time: ChronoDateTimeUtc,
            pub delete_time: Option<ChronoDateTimeUtc>,
            /// Incremented by every write; the etag is derived from it.
            pub revision: i64,
            /// Loaded by `partnership seed-demo`, not from an official source.
            pub demo: bool,
        }

        impl ActiveModelBehavior for ActiveModel {}

        impl super::row::Positional for Model {
            const COLUMNS: &'static [&'static str] = &[
                $(stringify!($field),)+
                "create_time",
                "update_time",
                "delete_time",
                "revision",
                "demo",
            ];

            fn from_row(row: &sea_orm::QueryResult) -> Result<Self, sea_orm::DbErr> {
                let mut columns = super::row::Columns::of(row);
                Ok(Self {
                    $($field: columns.take()?,)+
                    create_time: columns.take()?,
                    update_time: columns.take()?,
                    delete_time: columns.take()?,
                    revision: columns.take()?,
                    demo: columns.take()?,
                })
            }
        }

        impl super::Resource for Entity {
            const CREATE_TIME: Column = Column::CreateTime;
            const UPDATE_TIME: Column = Column::UpdateTime;
            const DELETE_TIME: Column = Column::DeleteTime;
            const REVISION: Column = Column::Revision;

            fn model_from_json(json: &str) -> Result<Model, serde_json::Error> {
                serde_json::from_str(json)
            }
        }

        impl super::KeptRow for Model {
            fn kept(&self) -> super::Kept {
                super::Kept {
                    create_time: self.create_time,
                    update_time: self.update_time,
                    delete_time: self.delete_time,
                    revision: self.revision,
                    demo: self.demo,
                }
            }
        }

        impl super::KeepRow for ActiveModel {
            fn keep(&mut self, kept: super::Kept) {
                use sea_orm::ActiveValue::Set;
                self.create_time = Set(kept.create_time);
                self.update_time = Set(kept.update_time);
                self.delete_time = Set(kept.delete_time);
                self.revision = Set(kept.revision);
                self.demo = Set(kept.demo);
            }

            fn into_json(self) -> Result<String, crate::store::StoreError> {
                use sea_orm::TryIntoModel;
                let model = self.try_into_model()?;
                serde_json::to_string(&model)
                    .map_err(|e| crate::store::StoreError::corrupt("row", e))
            }
        }
    };
}
pub(crate) use resource_model;

/// The bookkeeping values of a resource row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub create_time: chrono::DateTime<chrono::Utc>,
    pub update_time: chrono::DateTime<chrono::Utc>,
    pub delete_time: Option<chrono::DateTime<chrono::Utc>>,
    pub revision: i64,
    pub demo: bool,
}

/// A resource table: the bookkeeping columns `resource_model!` gives every
/// one, as typed columns.
pub trait Resource:
    sea_orm::EntityTrait<
        Model: KeptRow + row::Positional + Send + Sync,
        ActiveModel: KeepRow + Send,
    > + Default
{
    const CREATE_TIME: Self::Column;
    const UPDATE_TIME: Self::Column;
    const DELETE_TIME: Self::Column;
    const REVISION: Self::Column;

    /// A row from the JSON [`KeepRow::into_json`] made of it.
    fn model_from_json(json: &str) -> Result<Self::Model, serde_json::Error>;
}

/// A read row of a resource table.
pub trait KeptRow {
    /// The row's bookkeeping values.
    fn kept(&self) -> Kept;
}

/// A row to write to a resource table.
pub trait KeepRow {
    /// Sets the row's bookkeeping values.
    fn keep(&mut self, kept: Kept);
    /// The complete row as JSON (the journal's record states).
    fn into_json(self) -> Result<String, crate::store::StoreError>;
}

/// A column the database keeps itself, which rows do not carry: on
/// PostgreSQL the lower-cased display name a search matches (migration 6).
#[derive(sea_orm::DeriveIden)]
pub enum Derived {
    SearchName,
}

/// The entity of an enterprise table: `companies` and `smes` have the same
/// columns.
macro_rules! enterprise_entity {
    ($table:tt) => {
        use sea_orm::entity::prelude::*;

        super::resource_model!($table {
            #[sea_orm(primary_key, auto_increment = false)]
            id: String,
            display_name: String,
            business_number: Option<String>,
            corporate_number: Option<String>,
            size: super::value::EnterpriseSize,
            ksic_code: Option<String>,
            ksic_revision: Option<i32>,
            region: Option<super::value::Region>,
            employee_count: Option<i32>,
            annual_revenue_krw: Option<i64>,
        });

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        /// The column of a filterable, orderable field.
        pub fn column(field: crate::domain::Field) -> Option<Column> {
            use crate::domain::Field;
            Some(match field {
                Field::DisplayName => Column::DisplayName,
                Field::BusinessNumber => Column::BusinessNumber,
                Field::Size => Column::Size,
                Field::Region => Column::Region,
                Field::KsicCode => Column::KsicCode,
                Field::EmployeeCount => Column::EmployeeCount,
                Field::CreateTime => Column::CreateTime,
                Field::UpdateTime => Column::UpdateTime,
                _ => return None,
            })
        }
    };
}
pub(crate) use enterprise_entity;

/// Moves a row between the two enterprise tables' models, which have the
/// same columns: `enterprise_row!(model => sme::Model)`.
macro_rules! enterprise_row {
    ($m:expr => $to:path) => {{
        let m = $m;
        $to {
            id: m.id,
            display_name: m.display_name,
            business_number: m.business_number,
            corporate_number: m.corporate_number,
            size: m.size,
            ksic_code: m.ksic_code,
            ksic_revision: m.ksic_revision,
            region: m.region,
            employee_count: m.employee_count,
            annual_revenue_krw: m.annual_revenue_krw,
            create_time: m.create_time,
            update_time: m.update_time,
            delete_time: m.delete_time,
            revision: m.revision,
            demo: m.demo,
        }
    }};
}
pub(crate) use enterprise_row;
