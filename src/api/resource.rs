//! The standard methods (AIP-131 to 135, 164), written once for every
//! resource: decode the request into domain types, call the store, encode
//! the result. A service method only picks its fields out of its request.

use prost::Message;
use prost_types::FieldMask;

use super::error::{Action, ApiError};
use super::list::{ListArgs, total};
use super::mask::{self, Masked};
use crate::domain::{ResourceId, Violations};
use crate::store::{Created, CreatedMany, RequestKey, Store, Stored, Table};

/// A resource as the API sees it: a store table and its message.
pub trait Resource: Table {
    type Message: Message + Default + Clone + Masked + 'static;

    fn to_message(stored: &Stored<Self::Data>) -> Self::Message;
    /// [`Resource::to_message`] of a record that is not needed after: the
    /// reads' way, moving what can be moved.
    fn into_message(stored: Stored<Self::Data>) -> Self::Message {
        Self::to_message(&stored)
    }
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
    Ok(R::into_message(stored))
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
        page.items.into_iter().map(R::into_message).collect(),
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

/// Most names of a BatchGet and requests of a BatchCreate.
pub const MAX_BATCH: usize = 1000;
/// Records per message of an export stream.
pub const EXPORT_BATCH: u64 = 1000;

fn check_batch_len(field: &str, n: usize) -> Result<(), Violations> {
    if n == 0 || n > MAX_BATCH {
        Err(Violations::single(
            field,
            format!("must hold 1 to {MAX_BATCH} entries, got {n}"),
        ))
    } else {
        Ok(())
    }
}

/// AIP-231: the named records in the order asked, all or nothing.
pub async fn batch_get<R: Resource>(
    store: &Store,
    names: &[String],
) -> Result<Vec<R::Message>, ApiError> {
    check_batch_len("names", names.len())?;
    let mut v = Violations::new();
    let keys: Vec<Option<R::Key>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| v.check(format!("names[{i}]"), R::parse_key(n)))
        .collect();
    let keys = v.finish_some(|| keys.into_iter().collect::<Option<Vec<_>>>())?;
    let stored = store
        .get_many::<R>(&keys)
        .await
        .map_err(ApiError::store(R::COLLECTION, Action::Read))?;
    Ok(stored.into_iter().map(R::into_message).collect())
}

/// One create of a batch: its id field and its resource.
pub struct BatchItem<'a, M> {
    pub id: &'a str,
    pub message: Option<&'a M>,
    /// The item's own `request_id`, which must be empty.
    pub request_id: &'a str,
}

/// AIP-233: every create in one transaction, results in request order.
pub async fn batch_create<R: Resource<Key = ResourceId>>(
    store: &Store,
    items: &[BatchItem<'_, R::Message>],
    request: Result<Option<RequestKey>, Violations>,
) -> Result<Vec<R::Message>, ApiError> {
    check_batch_len("requests", items.len())?;
    let singular = field::<R>();
    let mut v = Violations::new();
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("requests[{i}]");
        if !item.request_id.is_empty() {
            v.add(
                format!("{at}.request_id"),
                "set request_id on the batch, not on its requests",
            );
        }
        let key = new_id(R::COLLECTION, item.id, &format!("{at}.{singular}_id"));
        let data = item
            .message
            .ok_or_else(|| Violations::single(format!("{at}.{singular}"), "is required"))
            .and_then(|m| R::from_message(m, &format!("{at}.{singular}")));
        match (key, data) {
            (Ok(k), Ok(d)) => parsed.push((k, d)),
            (k, d) => {
                for e in [k.err(), d.err()].into_iter().flatten() {
                    v.0.extend(e.0);
                }
            }
        }
    }
    let request = match request {
        Ok(r) => Some(r),
        Err(e) => {
            v.0.extend(e.0);
            None
        }
    };
    let request = v.finish_some(|| request)?;
    let created = store
        .create_many::<R>(parsed, request.as_ref(), |all| {
            // The responses, each length-delimited, one after the other.
            let mut bytes = Vec::new();
            for stored in all {
                // Writing into a Vec cannot run out of room.
                let _ = R::to_message(stored).encode_length_delimited(&mut bytes);
            }
            bytes
        })
        .await
        .map_err(ApiError::store(R::COLLECTION, Action::Create))?;
    match created {
        CreatedMany::New(all) => Ok(all.iter().map(R::to_message).collect()),
        CreatedMany::Replayed(bytes) => {
            let mut rest = bytes.as_slice();
            let mut all = Vec::new();
            while !rest.is_empty() {
                match R::Message::decode_length_delimited(&mut rest) {
                    Ok(m) => all.push(m),
                    Err(e) => {
                        return Err(ApiError::store(R::COLLECTION, Action::Create)(
                            crate::store::StoreError::corrupt("response of a request id", e),
                        ));
                    }
                }
            }
            Ok(all)
        }
    }
}

/// A server stream of every record matching `filter`, in creation order,
/// [`EXPORT_BATCH`] at a time, its first message carrying the change
/// feed's position the export starts from. The filter is checked before the stream
/// starts; the pages are read one at a time as the caller takes them, so
/// memory stays at about two batches whatever the size of the table.
pub fn export<R: Resource, M: Send + 'static>(
    store: &Store,
    filter: &str,
    show_deleted: bool,
    wrap: fn(Vec<R::Message>, String) -> M,
) -> Result<tonic::codegen::BoxStream<M>, ApiError> {
    let filter = crate::domain::parse_filter(R::COLLECTION, filter)
        .map_err(|e| Violations::single("filter", e))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<M, tonic::Status>>(1);
    let store = store.clone();
    let task = async move {
        let mut page = crate::store::PageQuery {
            size: EXPORT_BATCH,
            after: None,
            show_deleted,
            filter,
            order: crate::domain::Order::creation(),
            search: None,
            want_total: false,
        };
        // The change feed's position before the first page is read: every
        // change after it is in the feed, so export-then-watch converges.
        let mut resume_token = match store.feed_position().await {
            Ok(position) => position.token(),
            Err(e) => {
                let _ = tx.send(Err(ApiError::Journal(e).into())).await;
                return;
            }
        };
        loop {
            let result = store
                .list::<R>(&page)
                .await
                .map_err(ApiError::store(R::COLLECTION, Action::Read));
            match result {
                Ok(found) => {
                    let items = found.items.into_iter().map(R::into_message).collect();
                    let message = wrap(items, std::mem::take(&mut resume_token));
                    if tx.send(Ok(message)).await.is_err() {
                        return; // The caller went away.
                    }
                    match found.next {
                        Some(next) => page.after = Some(next),
                        None => return,
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            }
        }
    };
    // The pages are read in a task of their own, under the call's span and
    // deadline.
    let task = crate::store::deadline::scope(crate::store::deadline::current(), task);
    tokio::spawn(tracing::Instrument::in_current_span(task));
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}
