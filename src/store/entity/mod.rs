//! sea-orm entities, one per table. Rows become domain types in the store
//! modules; nothing outside `store` sees them.

pub mod company;
pub mod participation;
pub mod program;
pub mod request_id;
pub mod sme;
pub mod value;

/// A resource table's model: the given columns, then the bookkeeping
/// columns every resource table has.
macro_rules! resource_model {
    ($table:tt { $($(#[$meta:meta])* $field:ident: $ty:ty,)+ }) => {
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
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
    };
}
pub(crate) use resource_model;

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
