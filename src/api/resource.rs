//! The standard methods (AIP-131 to 135, 164), written once for every
//! resource: decode the request into domain types, call the store, encode
//! the result. A service method only picks its fields out of its request.

use prost::Message;
use prost_types::FieldMask;

use super::error::{Action, ApiError};
use super::list::{ListArgs, total};
use super::mask::{self, Masked};
use crate::domain::{ResourceId, Violations};
use crate::store::{Created, RequestKey, Store, Stored, Table};

/// A resource as the API sees it: a store table and its message.
pub trait Resource: Table {
    type Message: Message + Default + Clone + Masked + 'static;

    fn to_message(stored: &Stored<Self::Data>) -> Self::Message;
    /// Parses a message; `at` is its path in the request.
    fn from_message(message: &Self::Message, at: &str) -> Result<Self::Data, Violations>;
    fn parse_key(name: &str) -> Result<Self::Key, String>;
}

/// The request field that holds a resource, e.g. `company`.
fn field<R: Resource>() -> &'static str {
    R::COLLECTION.singular()
}

/// Collects the violations of several parts of a request, so a caller sees
/// every bad field at once.
pub fn all_valid<A, B, C>(
    a: Result<A, Violations>,
    b: Result<B, Violations>,
    c: Result<C, Violations>,
) -> Result<(A, B, C), Violations> {
    match (a, b, c) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => {
            let mut v = Violations::new();
            v.0.extend(a.err().map(|e| e.0).unwrap_or_default());
            v.0.extend(b.err().map(|e| e.0).unwrap_or_default());
            v.0.extend(c.err().map(|e| e.0).unwrap_or_default());
            Err(v)
        }
    }
}

/// The optional id of a create request, or a generated one.
pub fn new_id(
    collection: crate::domain::Collection,
    id: &str,
    field: &str,
) -> Result<ResourceId, Violations> {
    if id.is_empty() {
        return Ok(ResourceId::generate(collection));
    }
    ResourceId::parse(id).map_err(|e| Violations::single(field, e))
}

/// An etag field: empty means "unconditional".
fn etag(e: &str) -> Option<&str> {
    (!e.is_empty()).then_some(e)
}

fn parse_name<R: Resource>(name: &str, field: &str) -> Result<R::Key, ApiError> {
    R::parse_key(name).map_err(|e| Violations::single(field, e).into())
}

pub async fn create<R: Resource>(
    store: &Store,
    key: Result<R::Key, Violations>,
    message: Option<&R::Message>,
    request: Result<Option<RequestKey>, Violations>,
) -> Result<R::Message, ApiError> {
    let at = field::<R>();
    let data = message
        .ok_or_else(|| Violations::single(at, "is required"))
        .and_then(|m| R::from_message(m, at));
    let (key, data, request) = all_valid(key, data, request)?;
    let created = store
        .create::<R>(key, data, false, request.as_ref(), |s| {
            R::to_message(s).encode_to_vec()
        })
        .await
        .map_err(ApiError::store(R::COLLECTION, Action::Create))?;
    match created {
        Created::New(stored) => Ok(R::to_message(&stored)),
        Created::Replayed(bytes) => R::Message::decode(bytes.as_slice()).map_err(|e| {
            ApiError::store(R::COLLECTION, Action::Create)(crate::store::StoreError::corrupt(
                "response of a request id",
                e,
            ))
        }),
    }
}

pub async fn get<R: Resource>(store: &Store, name: &str) -> Result<R::Message, ApiError> {
    let key = parse_name::<R>(name, "name")?;
    let stored = store
        .get::<R>(&key)
        .await
        .map_err(ApiError::store(R::COLLECTION, Action::Read))?;
    Ok(R::to_message(&stored))
}

/// A page of a top-level collection: the items, the next page token and
/// the total size.
pub async fn list<R: Resource>(
    store: &Store,
    args: &ListArgs<'_>,
) -> Result<(Vec<R::Message>, String, i32), ApiError> {
    let query = args.page_query()?;
    let page = store
        .list::<R>(&query)
        .await
        .map_err(ApiError::store(R::COLLECTION, Action::Read))?;
    Ok((
        page.items.iter().map(R::to_message).collect(),
        args.next_token(page.next),
        total(page.total_size),
    ))
}

/// AIP-134: the fields in the mask (or, without one, the fields set) are
/// copied onto the current resource, which must then still be valid.
pub async fn update<R: Resource>(
    store: &Store,
    message: Option<&R::Message>,
    update_mask: Option<&FieldMask>,
) -> Result<R::Message, ApiError> {
    let at = field::<R>();
    let message = message.ok_or_else(|| Violations::single(at, "is required"))?;
    let key = parse_name::<R>(message.name(), &format!("{at}.name"))?;
    let paths = mask::resolve(update_mask, message)?;
    let stored = store
        .update::<R>(&key, etag(message.etag()), |current| {
            let mut merged = R::to_message(current);
            for path in &paths {
                merged.copy_field(message, path);
            }
            R::from_message(&merged, at)
        })
        .await
        .map_err(ApiError::store(R::COLLECTION, Action::Update))?;
    Ok(R::to_message(&stored))
}

pub async fn delete<R: Resource>(
    store: &Store,
    name: &str,
    etag_value: &str,
    force: bool,
) -> Result<R::Message, ApiError> {
    set_deleted::<R>(store, name, etag_value, Some(force)).await
}

pub async fn undelete<R: Resource>(
    store: &Store,
    name: &str,
    etag_value: &str,
) -> Result<R::Message, ApiError> {
    set_deleted::<R>(store, name, etag_value, None).await
}

/// AIP-164: soft-deletes (`Some(force)`) or brings back (`None`).
async fn set_deleted<R: Resource>(
    store: &Store,
    name: &str,
    etag_value: &str,
    delete: Option<bool>,
) -> Result<R::Message, ApiError> {
    let key = parse_name::<R>(name, "name")?;
    let etag = etag(etag_value);
    let (stored, action) = match delete {
        Some(force) => (store.delete::<R>(&key, etag, force).await, Action::Delete),
        None => (store.undelete::<R>(&key, etag).await, Action::Undelete),
    };
    let stored = stored.map_err(ApiError::store(R::COLLECTION, action))?;
    Ok(R::to_message(&stored))
}
