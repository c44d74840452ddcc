//! The `companies` table.

super::enterprise_entity!("companies");
