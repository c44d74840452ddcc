//! Idempotent creates: the first response of each `request_id`, kept for
//! [`super::REQUEST_ID_RETENTION`].

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};

use super::entity::request_id as rid;
use super::{Rejection, RejectionKind, StoreError, Stored};

/// Identifies one create call for idempotency.
#[derive(Debug, Clone)]
pub struct RequestKey {
    /// The caller's `request_id`, a UUID.
    pub request_id: uuid::Uuid,
    /// The full gRPC method, so a key cannot be replayed across methods.
    pub method: &'static str,
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
        return Err(Rejection::new(
            RejectionKind::InvalidArgument,
            "REQUEST_ID_REUSED",
            format!(
                "request_id {} was already used for a different request",
                key.request_id
            ),
        )
        .field("request_id")
        .into());
    }
    Ok(Some(row.response))
}

/// Records the first response of `key` in the create's transaction; fails
/// with [`StoreError::DuplicateRequest`] when a concurrent call with the same
/// key committed first.
pub(super) async fn record(
    txn: &DatabaseTransaction,
    key: &RequestKey,
    response: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = rid::ActiveModel {
        request_id: Set(key.request_id.to_string()),
        method: Set(key.method.to_owned()),
        fingerprint: Set(key.fingerprint.clone()),
        response: Set(response),
        create_time: Set(now),
    };
    match rid::Entity::insert(row).exec_without_returning(txn).await {
        Ok(_) => Ok(()),
        Err(e) if StoreError::unique_violation(&e).is_some() => Err(StoreError::DuplicateRequest),
        Err(e) => Err(e.into()),
    }
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

impl super::Store {
    /// Runs an idempotent create: replays the first response of `key` if
    /// there is one, else runs `create`, which records the response in its
    /// transaction.
    pub(super) async fn idempotent<T, Fut>(
        &self,
        key: Option<&RequestKey>,
        create: impl FnOnce() -> Fut,
    ) -> Result<Created<T>, StoreError>
    where
        Fut: std::future::Future<Output = Result<Stored<T>, StoreError>>,
    {
        if let Some(key) = key
            && let Some(first) = find(&self.write, key).await?
        {
            return Ok(Created::Replayed(first));
        }
        match create().await {
            Ok(stored) => Ok(Created::New(stored)),
            Err(StoreError::DuplicateRequest) => match key {
                Some(key) => match find(&self.write, key).await? {
                    Some(first) => Ok(Created::Replayed(first)),
                    None => Err(StoreError::Internal(
                        "request id vanished after a conflict".into(),
                    )),
                },
                None => Err(StoreError::Internal(
                    "duplicate request without a key".into(),
                )),
            },
            Err(e) => Err(e),
        }
    }
}
