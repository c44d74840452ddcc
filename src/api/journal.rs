//! `AuditService` and `ChangeFeedService`: the journal read as an audit
//! trail, and followed as a change feed.

use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};

use super::error::ApiError;
use super::mask::Masked;
use super::resource::{Resource, all_valid};
use crate::domain::{
    AuditCursor, ChangeKind, Collection, Position, Violations, parse_audit_filter,
    parse_audit_order, parse_collections, parse_page_size,
};
use crate::pb::audit_service_server::{AuditService, AuditServiceServer};
use crate::pb::change_feed_service_server::{ChangeFeedService, ChangeFeedServiceServer};
use crate::pb::{self};
use crate::store::{
    AuditQuery, Companies, Entry, Participations, Programs, RecordState, Smes, Store, StoreError,
};

/// Changes per message of the feed.
pub const FEED_BATCH: u64 = 1000;
/// How often a watcher that has everything looks for changes committed by
/// other processes (this process's own commits wake it at once).
pub const FEED_POLL: Duration = Duration::from_millis(50);

/// What the services that read the journal need besides the store.
#[derive(Clone)]
pub struct FeedSettings {
    /// How long an idle feed stream goes without a message: a heartbeat
    /// then carries the current token.
    pub heartbeat: Duration,
    /// Becomes true when the server shuts down: feed streams then end, and
    /// their watchers resume elsewhere with their tokens.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// `AuditService` over the journal.
pub struct AuditApi {
    store: Store,
}

impl AuditApi {
    pub fn server(store: Store) -> AuditServiceServer<Self> {
        AuditServiceServer::new(Self { store })
    }
}

/// `ChangeFeedService` over the journal.
pub struct ChangeFeedApi {
    store: Store,
    settings: FeedSettings,
}

impl ChangeFeedApi {
    pub fn server(store: Store, settings: FeedSettings) -> ChangeFeedServiceServer<Self> {
        ChangeFeedServiceServer::new(Self { store, settings })
    }
}

fn kind(k: ChangeKind) -> pb::ChangeKind {
    match k {
        ChangeKind::Created => pb::ChangeKind::Created,
        ChangeKind::Updated => pb::ChangeKind::Updated,
        ChangeKind::Deleted => pb::ChangeKind::Deleted,
        ChangeKind::Undeleted => pb::ChangeKind::Undeleted,
    }
}

fn state(s: &RecordState) -> pb::ResourceState {
    use pb::resource_state::Resource as R;
    let resource = match s {
        RecordState::Company(r) => R::Company(Companies::to_message(r)),
        RecordState::Sme(r) => R::Sme(Smes::to_message(r)),
        RecordState::Program(r) => R::Program(Programs::to_message(r)),
        RecordState::Participation(r) => R::Participation(Participations::to_message(r)),
    };
    pb::ResourceState {
        resource: Some(resource),
    }
}

/// The mutable fields whose values differ between two states of a record.
fn differing<M: Masked + Clone + PartialEq>(before: &M, after: &M) -> Vec<String> {
    M::MUTABLE
        .iter()
        .filter(|path| {
            let mut moved = before.clone();
            moved.copy_field(after, path);
            moved != *before
        })
        .map(|path| (*path).to_owned())
        .collect()
}

fn changed_fields(before: &RecordState, after: &RecordState) -> Vec<String> {
    use RecordState as S;
    match (before, after) {
        (S::Company(b), S::Company(a)) => {
            differing(&Companies::to_message(b), &Companies::to_message(a))
        }
        (S::Sme(b), S::Sme(a)) => differing(&Smes::to_message(b), &Smes::to_message(a)),
        (S::Program(b), S::Program(a)) => {
            differing(&Programs::to_message(b), &Programs::to_message(a))
        }
        (S::Participation(b), S::Participation(a)) => differing(
            &Participations::to_message(b),
            &Participations::to_message(a),
        ),
        _ => Vec::new(),
    }
}

fn audit_event(e: &Entry) -> pb::AuditEvent {
    let changed = match (&e.before, e.kind) {
        (Some(before), ChangeKind::Updated) => changed_fields(before, &e.after),
        _ => Vec::new(),
    };
    pb::AuditEvent {
        sequence: e.sequence,
        commit_time: Some(super::convert::timestamp(e.commit_time)),
        caller: e.caller.clone(),
        method: e.method.clone(),
        request_id: e.request_id.clone().unwrap_or_default(),
        resource: e.resource.clone(),
        kind: kind(e.kind).into(),
        before: e.before.as_ref().map(state),
        after: Some(state(&e.after)),
        changed_fields: changed,
    }
}

fn change_event(e: &Entry) -> pb::ChangeEvent {
    pb::ChangeEvent {
        sequence: e.sequence,
        commit_time: Some(super::convert::timestamp(e.commit_time)),
        resource: e.resource.clone(),
        kind: kind(e.kind).into(),
        state: Some(state(&e.after)),
    }
}

/// A page of the audit trail: `ListAuditEvents` without a client (the
/// `partnership audit` command).
pub async fn list_audit_events(
    store: &Store,
    r: &pb::ListAuditEventsRequest,
) -> Result<pb::ListAuditEventsResponse, ApiError> {
    let size = parse_page_size(r.page_size).map_err(|e| Violations::single("page_size", e));
    let filter = parse_audit_filter(&r.filter).map_err(|e| Violations::single("filter", e));
    let order = parse_audit_order(&r.order_by).map_err(|e| Violations::single("order_by", e));
    let (size, filter, newest_first) = all_valid(size, filter, order)?;
    let after = AuditCursor::parse(&r.page_token, &r.filter, &r.order_by)
        .map_err(|e| Violations::single("page_token", e))?;
    let query = AuditQuery {
        filter,
        newest_first,
        after,
        size,
    };
    let (entries, next) = store
        .audit_events(&query)
        .await
        .map_err(ApiError::Journal)?;
    Ok(pb::ListAuditEventsResponse {
        audit_events: entries.iter().map(audit_event).collect(),
        next_page_token: next
            .map(|c| c.token(&r.filter, &r.order_by))
            .unwrap_or_default(),
    })
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let page = list_audit_events(&self.store, request.get_ref()).await?;
        Ok(Response::new(page))
    }
}

/// Where a watch starts, checked against what the journal still holds.
async fn start_of(
    store: &Store,
    r: &pb::WatchChangesRequest,
) -> Result<(Vec<Collection>, Position), ApiError> {
    let collections =
        parse_collections(&r.collections).map_err(|e| Violations::single("collections", e));
    let token = match r.resume_token.as_str() {
        "" => Ok(None),
        token => Position::parse_token(token)
            .map(Some)
            .map_err(|e| Violations::single("resume_token", e)),
    };
    let (collections, token, ()) = all_valid(collections, token, Ok(()))?;
    let start = match token {
        Some(position) => {
            let horizon = store.feed_horizon().await.map_err(ApiError::Journal)?;
            if position < horizon {
                return Err(ApiError::ResumeTokenExpired {
                    detail: "the changes after it are older than the journal keeps (--journal-retention)",
                });
            }
            let end = store.feed_position().await.map_err(ApiError::Journal)?;
            if position > end {
                return Err(ApiError::ResumeTokenExpired {
                    detail: "it is ahead of this journal: it was issued by another database, or this one was restored from a backup",
                });
            }
            position
        }
        None if r.start_from_earliest => store.feed_horizon().await.map_err(ApiError::Journal)?,
        None => store.feed_position().await.map_err(ApiError::Journal)?,
    };
    Ok((collections, start))
}

/// Whether a failed read of the feed is worth trying again in a moment
/// rather than ending the stream: the database is busy, not gone.
fn transient(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Overloaded { .. } | StoreError::WaitTimedOut { .. }
    )
}

/// Follows the journal from `from` and sends it to `tx`, a batch at a time,
/// waiting for the caller to take each (so a slow watcher holds at most one
/// batch here), with a heartbeat when idle, until the caller goes away or
/// the server stops.
async fn follow(
    store: Store,
    settings: FeedSettings,
    collections: Vec<Collection>,
    mut position: Position,
    tx: tokio::sync::mpsc::Sender<Result<pb::WatchChangesResponse, Status>>,
) {
    let mut watcher = store.watcher();
    let mut stopping = settings.stopping.clone();
    let mut last_sent: Option<Instant> = None;
    // The feed's end while catching up (read once, not per batch).
    let mut known_end = None;
    loop {
        if *stopping.borrow() {
            let _ = tx
                .send(Err(Status::unavailable(
                    "the server is shutting down; resume with the last resume_token",
                )))
                .await;
            return;
        }
        watcher.mark_seen();
        let batch = store
            .feed_after(position, known_end, &collections, FEED_BATCH)
            .await;
        let crate::store::Batch { entries, next, end } = match batch {
            Ok(batch) => batch,
            Err(e) if transient(&e) => {
                tokio::time::sleep(FEED_POLL).await;
                continue;
            }
            Err(e) => {
                let _ = tx.send(Err(ApiError::Journal(e).into())).await;
                return;
            }
        };
        let full = entries.len() as u64 >= FEED_BATCH;
        let heartbeat_due = last_sent.is_none_or(|t| t.elapsed() >= settings.heartbeat);
        if !entries.is_empty() || heartbeat_due {
            let last_commit = entries.last().map(|e| e.commit_time);
            watcher.behind(if full { last_commit } else { None });
            let message = pb::WatchChangesResponse {
                changes: entries.iter().map(change_event).collect(),
                resume_token: next.token(),
            };
            if tx.send(Ok(message)).await.is_err() {
                return; // The caller went away.
            }
            last_sent = Some(Instant::now());
        }
        position = next;
        if full {
            known_end = Some(end);
            continue;
        }
        known_end = None;
        watcher.behind(None);
        let heartbeat_at = last_sent.map_or_else(Instant::now, |t| t + settings.heartbeat);
        tokio::select! {
            () = watcher.changed() => {}
            () = tokio::time::sleep(FEED_POLL) => {}
            () = tokio::time::sleep_until(heartbeat_at.into()) => {}
            _ = stopping.changed() => {}
            () = tx.closed() => return,
        }
    }
}

#[tonic::async_trait]
impl ChangeFeedService for ChangeFeedApi {
    type WatchChangesStream = tonic::codegen::BoxStream<pb::WatchChangesResponse>;

    async fn watch_changes(
        &self,
        request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let (collections, start) = start_of(&self.store, request.get_ref()).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let task = follow(
            self.store.clone(),
            self.settings.clone(),
            collections,
            start,
            tx,
        );
        tokio::spawn(tracing::Instrument::in_current_span(task));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
