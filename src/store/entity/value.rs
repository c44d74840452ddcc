//! Enum columns, stored as text (no schema change) and mapped by sea-orm's
//! `DeriveActiveEnum`. Each is made from the domain's own list of values
//! and texts, so the two cannot drift; conversions are total both ways.

use sea_orm::entity::prelude::*;

macro_rules! active_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Serialize,
            serde::Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(#[sea_orm(string_value = $text)] #[serde(rename = $text)] $variant,)+
        }

        impl From<$name> for crate::domain::$name {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => Self::$variant,)+
                }
            }
        }

        impl super::row::Cell for $name {
            fn cell(row: &sea_orm::QueryResult, index: usize) -> Result<Self, sea_orm::DbErr> {
                super::row::enum_cell(row, index)
            }
        }

        impl super::row::Cell for Option<$name> {
            fn cell(row: &sea_orm::QueryResult, index: usize) -> Result<Self, sea_orm::DbErr> {
                super::row::optional_enum_cell(row, index)
            }
        }

        impl From<crate::domain::$name> for $name {
            fn from(value: crate::domain::$name) -> Self {
                match value {
                    $(crate::domain::$name::$variant => Self::$variant,)+
                }
            }
        }
    };
}

crate::domain::enterprise_sizes!(active_enum);
crate::domain::regions!(active_enum);
crate::domain::program_kinds!(active_enum);
crate::domain::program_states!(active_enum);
