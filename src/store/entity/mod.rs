//! sea-orm entities, one per table. Rows become domain types in the store
//! modules; nothing outside `store` sees them.

pub mod company;
pub mod participation;
pub mod program;
pub mod request_id;
pub mod sme;
