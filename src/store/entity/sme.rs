//! The `smes` table.

super::enterprise_entity!("smes");
