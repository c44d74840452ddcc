//! Idempotent creates: the first response of each `request_id`, kept for
//! [`super::REQUEST_ID_RETENTION`].

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};

use super::entity::request_id as rid;
use super::{StoreError, Stored};

/// Identifies one create call for idempotency.
#[derive(Debug, Clone)]
pub struct RequestKey {
    /// The caller's `request_id`, a UUID.
    pub request_id: uuid::Uuid,
    /// The full gRPC method, so a key cannot be replayed across methods.
    pub method: String,
    /// Hash of the request without its `request_id`.
    pub fingerprint: String,
}

/// The outcome of an idempotent create.
#[derive(Debug)]
pub enum Created<T> {
    /// Created now.
    New(Stored<T>),
    /// The same request was seen before: its encoded first response.
    Replayed(Vec<u8>),
}

/// The outcome of a batch create.
#[derive(Debug)]
pub enum CreatedMany<T> {
    /// Created now, in request order.
    New(Vec<Stored<T>>),
    /// The same request was seen before: its encoded first response.
    Replayed(Vec<u8>),
}

/// The stored first response of `key`, if any. The same id with another
/// method or request is rejected.
pub(super) async fn find(
    db: &impl ConnectionTrait,
    key: &RequestKey,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(row) = rid::Entity::find_by_id(key.request_id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.method != key.method || row.fingerprint != key.fingerprint {
        return Err(StoreError::RequestIdReused(key.request_id));
    }
    Ok(Some(row.response))
}

/// Records the first response of `key` in the create's transaction. When a
/// concurrent call with the same key commits first, the insert collides and
/// the create runs again, finding that call's response.
pub(super) async fn record(
    txn: &DatabaseTransaction,
    key: &RequestKey,
    response: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = rid::ActiveModel {
        request_id: Set(key.request_id.to_string()),
        method: Set(key.method.clone()),
        fingerprint: Set(key.fingerprint.clone()),
        response: Set(response),
        create_time: Set(now),
    };
    rid::Entity::insert(row).exec_without_returning(txn).await?;
    Ok(())
}

pub(super) async fn purge(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let res = rid::Entity::delete_many()
        .filter(rid::Column::CreateTime.lt(before))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
