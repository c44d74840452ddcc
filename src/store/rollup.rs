//! `SummarizePrograms` answered from memory: each program's group keys and
//! totals, and the SMEs taking part in it, read once from the tables and
//! kept current from the journal.
//!
//! Counting distinct SMEs per group over every participation takes the
//! database seconds however the query is worded (see docs/BENCHMARKS.md);
//! here it is one pass over each group's SMEs with a bit per SME, a few
//! milliseconds per million participations.
//!
//! # What a summary reflects
//!
//! The rollup is built in one consistent snapshot of the tables, together
//! with the journal position that snapshot contains. Before each summary
//! it reads the journal entries after that position and applies the ones
//! it has not applied yet, so a summary counts every write committed
//! before the call began (a caller that just wrote sees its write, on
//! every replica), and answers with the position it reflects.
//!
//! Entries arrive in the feed's order, but past the feed's bound (the
//! oldest write still running, on PostgreSQL) later entries may commit
//! before earlier ones. The rollup applies every committed entry it reads,
//! remembers those past the bound in `applied`, and moves its position only
//! up to the bound, so an entry that commits late is read again and
//! applied once.
//!
//! # Memory
//!
//! Identifiers are stored once each in an arena (an id's bytes, four bytes
//! of offset, four of hash table slot); each program takes about 80 bytes
//! and each live participation 4. At 1,000,000 SMEs and 2,000,000
//! participations that is about 40 MB; see the README for 10,000,000.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use chrono::Datelike;
use hashbrown::{DefaultHashBuilder, HashTable};
use sea_orm::{
    AccessMode, ActiveEnum, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IsolationLevel,
    QueryFilter, QuerySelect, TransactionTrait,
};
use tokio::sync::{Mutex, RwLock};
use tokio_stream::StreamExt;
use tracing::warn;

use super::compile::Compiler;
use super::entity::journal as entry;
use super::entity::{Resource, participation, program};
use super::feed;
use super::{Store, StoreError};
use crate::domain::{
    Collection, Filter, GroupKey, MAX_GROUPS, Position, ProgramGroup, ResourceId, Summary,
    Violations,
};

/// An unset group key (a program without a region or a start date).
const UNSET: u32 = u32::MAX;

/// The slot of a group key in [`ProgramRollup::keys`].
fn slot(key: GroupKey) -> usize {
    match key {
        GroupKey::Kind => 0,
        GroupKey::State => 1,
        GroupKey::HostCompany => 2,
        GroupKey::Region => 3,
        GroupKey::StartYear => 4,
    }
}

/// Strings stored once each, numbered densely from 0 in the order they
/// first came.
#[derive(Default)]
struct Interner {
    text: String,
    ends: Vec<u32>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// The `i`th string of an interner's arena.
fn nth<'a>(text: &'a str, ends: &[u32], i: u32) -> &'a str {
    let i = i as usize;
    let start = i
        .checked_sub(1)
        .and_then(|j| ends.get(j))
        .map_or(0, |e| *e as usize);
    let end = ends.get(i).map_or(start, |e| *e as usize);
    text.get(start..end).unwrap_or_default()
}

impl Interner {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn text(&self, i: u32) -> &str {
        nth(&self.text, &self.ends, i)
    }

    fn get(&self, s: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(s);
        self.table.find(hash, |&i| self.text(i) == s).copied()
    }

    fn intern(&mut self, s: &str) -> Result<u32, StoreError> {
        if let Some(i) = self.get(s) {
            return Ok(i);
        }
        let too_large = || StoreError::corrupt("summary rollup", "more than 4 GiB of identifiers");
        let i = u32::try_from(self.ends.len())
            .ok()
            .filter(|i| *i != UNSET)
            .ok_or_else(too_large)?;
        self.text.push_str(s);
        self.ends
            .push(u32::try_from(self.text.len()).map_err(|_| too_large())?);
        let hash = self.hasher.hash_one(s);
        let (table, rehash) = self.table_and_rehash();
        table.insert_unique(hash, i, rehash);
        Ok(i)
    }

    /// The table, and how to hash an entry of it again as it grows.
    fn table_and_rehash(&mut self) -> (&mut HashTable<u32>, impl Fn(&u32) -> u64 + '_) {
        let Self {
            text,
            ends,
            table,
            hasher,
        } = self;
        (table, |&j: &u32| hasher.hash_one(nth(text, ends, j)))
    }

    fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        let (table, rehash) = self.table_and_rehash();
        table.shrink_to_fit(rehash);
    }

    fn bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4 + self.table.capacity() * 5
    }
}

/// One program: its group keys, budget and totals.
#[derive(Debug, Clone)]
struct ProgramRollup {
    /// Not deleted (a program known only from its participations is not
    /// live until its own row is read).
    live: bool,
    /// Kind, state, host company, region (labels and companies numbered by
    /// the rollup's interners; [`UNSET`]) and start year.
    keys: [u32; 5],
    budget: Option<i64>,
    /// Sum of the live participations' support.
    support: i128,
    /// The SMEs of the live participations, sorted; one entry per
    /// participation.
    smes: Vec<u32>,
}

impl ProgramRollup {
    const UNKNOWN: Self = Self {
        live: false,
        keys: [UNSET; 5],
        budget: None,
        support: 0,
        smes: Vec::new(),
    };
}

/// How big a rollup is, for the metrics and the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct RollupStats {
    pub programs: usize,
    pub smes: usize,
    pub participations: u64,
    /// An estimate of the memory it holds.
    pub bytes: usize,
}

/// Every program's keys and totals, and the SMEs in it (see the module's
/// notes).
#[derive(Default)]
pub(super) struct Rollup {
    programs: Vec<ProgramRollup>,
    program_ids: Interner,
    smes: Interner,
    companies: Interner,
    labels: Interner,
    /// Live participations counted (less those owed, for a moment).
    participations: i64,
    /// Removals applied before the creates they undo, by (program, SME).
    owed: HashMap<(u32, u32), u32>,
    /// Every journal entry at or before it is applied.
    position: Position,
    /// The entries after `position` applied already.
    applied: HashSet<Position>,
}

/// Sums as a 64-bit integer, or the error a caller can act on.
fn total(sum: i128) -> Result<i64, StoreError> {
    i64::try_from(sum).map_err(|_| {
        StoreError::Invalid(Violations::single(
            "group_by",
            "makes a group whose total is larger than a 64-bit integer; narrow the filter or group by more fields",
        ))
    })
}

/// A key's place in the order of groups: unset last.
fn order(key: &Option<String>) -> (bool, &str) {
    (key.is_none(), key.as_deref().unwrap_or_default())
}

/// Where an entry stands in the feed's order.
fn position_of(e: &entry::Model) -> Position {
    Position {
        txid: e.txid,
        sequence: e.sequence,
    }
}

impl Rollup {
    /// An empty rollup whose tables will be read in the snapshot that holds
    /// every entry up to `position`, and `applied` past it.
    pub(super) fn at(position: Position, applied: HashSet<Position>) -> Self {
        Self {
            position,
            applied,
            ..Self::default()
        }
    }

    pub(super) fn position(&self) -> Position {
        self.position
    }

    pub(super) fn stats(&self) -> RollupStats {
        let lists: usize = self.programs.iter().map(|p| p.smes.capacity() * 4).sum();
        RollupStats {
            programs: self.programs.len(),
            smes: self.smes.len(),
            participations: u64::try_from(self.participations).unwrap_or(0),
            bytes: lists
                + self.programs.capacity() * std::mem::size_of::<ProgramRollup>()
                + self.program_ids.bytes()
                + self.smes.bytes()
                + self.companies.bytes()
                + self.labels.bytes(),
        }
    }

    fn program_index(&mut self, id: &str) -> Result<usize, StoreError> {
        let i = self.program_ids.intern(id)? as usize;
        if i == self.programs.len() {
            self.programs.push(ProgramRollup::UNKNOWN);
        }
        Ok(i)
    }

    fn label(&mut self, text: impl ActiveEnum<Value = String>) -> Result<u32, StoreError> {
        self.labels.intern(&text.to_value())
    }

    /// Takes a program's row as it now is.
    pub(super) fn set_program(&mut self, m: &program::Model) -> Result<(), StoreError> {
        let keys = [
            self.label(m.kind)?,
            self.label(m.state)?,
            self.companies.intern(&m.host_company_id)?,
            match m.region {
                Some(r) => self.label(r)?,
                None => UNSET,
            },
            m.start_date
                .and_then(|d| u32::try_from(d.year()).ok())
                .unwrap_or(UNSET),
        ];
        let i = self.program_index(&m.id)?;
        let p = &mut self.programs[i];
        p.live = m.delete_time.is_none();
        p.keys = keys;
        p.budget = m.budget_krw;
        Ok(())
    }

    /// Counts a live participation; `sorted: false` while building (the
    /// lists are sorted once at the end, [`Rollup::finish`]).
    pub(super) fn add(
        &mut self,
        program_id: &str,
        sme_id: &str,
        support: Option<i64>,
        sorted: bool,
    ) -> Result<(), StoreError> {
        let sme = self.smes.intern(sme_id)?;
        let i = self.program_index(program_id)?;
        let p = &mut self.programs[i];
        p.support += i128::from(support.unwrap_or(0));
        self.participations += 1;
        if let Some(owed) = self.owed.get_mut(&(i as u32, sme)) {
            // Its removal came first (see `remove`): they cancel.
            *owed -= 1;
            if *owed == 0 {
                self.owed.remove(&(i as u32, sme));
            }
            return Ok(());
        }
        if sorted {
            let at = p.smes.partition_point(|s| *s < sme);
            p.smes.insert(at, sme);
        } else {
            p.smes.push(sme);
        }
        Ok(())
    }

    /// Sorts every program's SMEs once the tables are read, and gives back
    /// what the growing left spare.
    pub(super) fn finish(&mut self) {
        for p in &mut self.programs {
            p.smes.sort_unstable();
            p.smes.shrink_to_fit();
        }
        self.programs.shrink_to_fit();
        for interner in [
            &mut self.program_ids,
            &mut self.smes,
            &mut self.companies,
            &mut self.labels,
        ] {
            interner.shrink_to_fit();
        }
    }

    /// Uncounts a live participation.
    ///
    /// Entries come in transaction-id order, which is not always the order
    /// the changes were made in: a transaction that began earlier (say, a
    /// program deleted with its participations) may end a participation
    /// another one created and committed meanwhile, and sort before it.
    /// Such a removal is owed until its create arrives; sums are additive.
    fn remove(&mut self, m: &participation::Model) -> Result<(), StoreError> {
        let sme = self.smes.intern(&m.sme_id)?;
        let i = self.program_index(&m.program_id)?;
        let p = &mut self.programs[i];
        match p.smes.binary_search(&sme) {
            Ok(at) => {
                p.smes.remove(at);
            }
            Err(_) => *self.owed.entry((i as u32, sme)).or_default() += 1,
        }
        p.support -= i128::from(m.support_amount_krw.unwrap_or(0));
        self.participations -= 1;
        Ok(())
    }

    /// Applies one journal entry, unless it was applied already.
    pub(super) fn apply(&mut self, e: &entry::Model) -> Result<(), StoreError> {
        let at = position_of(e);
        if at <= self.position || self.applied.contains(&at) {
            return Ok(());
        }
        self.applied.insert(at);
        let corrupt = |err: serde_json::Error| StoreError::corrupt("journal entry", err);
        match Collection::from_segment(&e.collection) {
            Some(Collection::Programs) => {
                let after = program::Entity::model_from_json(&e.after).map_err(corrupt)?;
                self.set_program(&after)?;
            }
            Some(Collection::Participations) => {
                let before = match &e.before {
                    Some(json) => {
                        Some(participation::Entity::model_from_json(json).map_err(corrupt)?)
                    }
                    None => None,
                };
                let after = participation::Entity::model_from_json(&e.after).map_err(corrupt)?;
                if let Some(b) = before.filter(|b| b.delete_time.is_none()) {
                    self.remove(&b)?;
                }
                if after.delete_time.is_none() {
                    self.add(
                        &after.program_id,
                        &after.sme_id,
                        after.support_amount_krw,
                        true,
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Moves the position up to `bound` (every entry at or before it has
    /// committed and been read) and forgets the applied entries it passes.
    pub(super) fn advance(&mut self, bound: Position) {
        if bound > self.position {
            self.position = bound;
            self.applied.retain(|p| *p > bound);
        }
    }

    /// The programs named by `ids` (from a filter run in the database);
    /// ids it does not know are programs created since, not yet read.
    pub(super) fn select<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<u32> {
        ids.into_iter()
            .filter_map(|id| self.program_ids.get(id))
            .collect()
    }

    /// A group key's value as `keys` shows it.
    fn key_text(&self, key: GroupKey, value: u32) -> Option<String> {
        if value == UNSET {
            return None;
        }
        Some(match key {
            GroupKey::Kind | GroupKey::State | GroupKey::Region => {
                self.labels.text(value).to_owned()
            }
            GroupKey::HostCompany => Collection::Companies.name_of(&ResourceId::from_stored(
                self.companies.text(value).to_owned(),
            )),
            GroupKey::StartYear => value.to_string(),
        })
    }

    /// How many distinct SMEs take part in `programs`, with `met` (a bit
    /// per SME, all clear) as scratch, left clear again. A group with many
    /// participations for the number of SMEs sets its bits without looking
    /// and counts them in one sweep; a small one counts as it sets and
    /// clears only the words it touched.
    fn distinct_smes(&self, programs: &[u32], met: &mut [u64]) -> i64 {
        let lists = || programs.iter().map(|&i| &self.programs[i as usize].smes);
        let entries: usize = lists().map(Vec::len).sum();
        if entries * 4 >= met.len() {
            for list in lists() {
                for &s in list {
                    met[s as usize / 64] |= 1u64 << (s % 64);
                }
            }
            let n: u64 = met.iter().map(|w| u64::from(w.count_ones())).sum();
            met.fill(0);
            return n as i64;
        }
        let mut n = 0i64;
        for list in lists() {
            for &s in list {
                let (word, bit) = (s as usize / 64, 1u64 << (s % 64));
                if met[word] & bit == 0 {
                    met[word] |= bit;
                    n += 1;
                }
            }
        }
        for list in lists() {
            for &s in list {
                met[s as usize / 64] = 0;
            }
        }
        n
    }

    /// Program totals of the live programs (of `selected`, or all), grouped
    /// by `group_by`, ordered by their keys (unset last); at most
    /// [`MAX_GROUPS`] + 1 groups, so a caller can tell there were too many.
    pub(super) fn summarize(
        &self,
        selected: Option<&[u32]>,
        group_by: &[GroupKey],
    ) -> Result<Vec<ProgramGroup>, StoreError> {
        struct Acc {
            key: [u32; 5],
            programs: Vec<u32>,
            budget: i128,
            support: i128,
        }
        let mut index: HashMap<[u32; 5], usize> = HashMap::new();
        let mut groups: Vec<Acc> = Vec::new();
        let mut visit = |i: u32| {
            let Some(p) = self.programs.get(i as usize).filter(|p| p.live) else {
                return;
            };
            let mut key = [0; 5];
            for (k, by) in key.iter_mut().zip(group_by) {
                *k = p.keys[slot(*by)];
            }
            let g = *index.entry(key).or_insert_with(|| {
                groups.push(Acc {
                    key,
                    programs: Vec::new(),
                    budget: 0,
                    support: 0,
                });
                groups.len() - 1
            });
            let acc = &mut groups[g];
            acc.programs.push(i);
            acc.budget += i128::from(p.budget.unwrap_or(0));
            acc.support += p.support;
        };
        match selected {
            Some(ids) => ids.iter().copied().for_each(&mut visit),
            None => (0..self.programs.len() as u32).for_each(&mut visit),
        }
        // Without grouping there is one group, of no programs if need be.
        if group_by.is_empty() && groups.is_empty() {
            groups.push(Acc {
                key: [0; 5],
                programs: Vec::new(),
                budget: 0,
                support: 0,
            });
        }

        // Ordered by the keys' texts, unset last, as the database's answer is.
        let mut keyed: Vec<(Vec<Option<String>>, Acc)> = groups
            .into_iter()
            .map(|acc| {
                let keys = group_by
                    .iter()
                    .zip(acc.key)
                    .map(|(by, value)| self.key_text(*by, value))
                    .collect();
                (keys, acc)
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| a.iter().map(order).cmp(b.iter().map(order)));
        keyed.truncate(MAX_GROUPS + 1);

        // Distinct SMEs, counted on as many threads as there are cores
        // when there is much to count: each thread takes every n-th group.
        let entries: usize = keyed
            .iter()
            .flat_map(|(_, acc)| &acc.programs)
            .map(|&i| self.programs[i as usize].smes.len())
            .sum();
        let threads = if entries >= PARALLEL_ABOVE {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(keyed.len()).max(1))
        } else {
            1
        };
        let counts: Vec<i64> = if threads > 1 {
            let mut counts = vec![0i64; keyed.len()];
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|t| {
                        let keyed = &keyed;
                        scope.spawn(move || {
                            let mut met = vec![0u64; self.smes.len().div_ceil(64)];
                            keyed
                                .iter()
                                .enumerate()
                                .skip(t)
                                .step_by(threads)
                                .map(|(g, (_, acc))| {
                                    (g, self.distinct_smes(&acc.programs, &mut met))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for worker in workers {
                    // A worker only counts; should one panic, its groups
                    // fall back to counting here.
                    if let Ok(found) = worker.join() {
                        for (g, n) in found {
                            counts[g] = n;
                        }
                    } else {
                        let mut met = vec![0u64; self.smes.len().div_ceil(64)];
                        for (g, (_, acc)) in keyed.iter().enumerate() {
                            counts[g] = self.distinct_smes(&acc.programs, &mut met);
                        }
                    }
                }
            });
            counts
        } else {
            let mut met = vec![0u64; self.smes.len().div_ceil(64)];
            keyed
                .iter()
                .map(|(_, acc)| self.distinct_smes(&acc.programs, &mut met))
                .collect()
        };
        let mut out = Vec::with_capacity(keyed.len());
        for ((keys, acc), smes) in keyed.into_iter().zip(counts) {
            out.push(ProgramGroup {
                keys,
                program_count: acc.programs.len() as i64,
                sme_count: smes,
                total_budget_krw: total(acc.budget)?,
                total_support_krw: total(acc.support)?,
            });
        }
        Ok(out)
    }
}

/// The collections a rollup follows in the journal.
const FOLLOWED: [Collection; 2] = [Collection::Programs, Collection::Participations];

/// Participations to count above which a summary counts on every core.
const PARALLEL_ABOVE: usize = 1_000_000;

/// Rows read between two yields to the other tasks while building.
const BUILD_YIELD_EVERY: u64 = 4096;

/// Journal entries read per statement while catching up.
const CATCH_UP_BATCH: u64 = 5_000;

/// The rollup a store keeps, once built, and what the metrics show of it.
#[derive(Default)]
pub(super) struct Keeper {
    rollup: Arc<RwLock<Option<Rollup>>>,
    /// One catch-up at a time: each reads on from where the last ended.
    catching_up: Mutex<()>,
    /// Last measured by the keeping job.
    stats: std::sync::Mutex<Option<RollupStats>>,
}

impl Store {
    /// Reads the rollup from the tables in one snapshot, with the journal
    /// position that snapshot holds, and puts it in place of any other.
    async fn build_rollup(&self) -> Result<RollupStats, StoreError> {
        let lease = self.read.one().await?;
        let db = lease.conn();
        let backend = db.get_database_backend();
        let txn = match backend {
            DbBackend::Sqlite => db.begin().await?,
            _ => {
                db.begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?
            }
        };
        if backend == DbBackend::Postgres {
            // Reading every participation may take longer than a call.
            txn.execute_unprepared("SET LOCAL statement_timeout = 0")
                .await?;
        }
        let position = feed::bound(&txn).await?;
        let mut applied = HashSet::new();
        let mut cursor = position;
        loop {
            let batch = feed::entries_after(&txn, cursor, &FOLLOWED, CATCH_UP_BATCH).await?;
            applied.extend(batch.iter().map(position_of));
            match batch.last() {
                Some(last) if batch.len() as u64 >= CATCH_UP_BATCH => cursor = position_of(last),
                _ => break,
            }
        }
        let mut rollup = Rollup::at(position, applied);
        let mut programs = program::Entity::find().stream(&txn).await?;
        let mut read = 0u64;
        while let Some(m) = programs.next().await {
            rollup.set_program(&m?)?;
            read += 1;
            if read.is_multiple_of(BUILD_YIELD_EVERY) {
                // Rows arriving faster than they are taken never make the
                // stream wait: give the calls their turn.
                tokio::task::yield_now().await;
            }
        }
        drop(programs);
        let mut rows = participation::Entity::find()
            .select_only()
            .columns([
                participation::Column::ProgramId,
                participation::Column::SmeId,
                participation::Column::SupportAmountKrw,
            ])
            .filter(participation::Column::DeleteTime.is_null())
            .into_tuple::<(String, String, Option<i64>)>()
            .stream(&txn)
            .await?;
        while let Some(row) = rows.next().await {
            let (program_id, sme_id, support) = row?;
            rollup.add(&program_id, &sme_id, support, false)?;
            read += 1;
            if read.is_multiple_of(BUILD_YIELD_EVERY) {
                tokio::task::yield_now().await;
            }
        }
        drop(rows);
        txn.commit().await?;
        drop(lease);
        let rollup = tokio::task::spawn_blocking(move || {
            rollup.finish();
            rollup
        })
        .await
        .map_err(|e| StoreError::corrupt("summary rollup", e))?;
        let stats = rollup.stats();
        let _one = self.rollup.catching_up.lock().await;
        *self.rollup.rollup.write().await = Some(rollup);
        *self.rollup.stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
        Ok(stats)
    }

    /// Applies the journal entries committed since the rollup last looked:
    /// afterwards it counts every write committed before this call. Returns
    /// how many entries it read; `None` when there is no rollup (not built
    /// yet, or dropped because an entry could not be applied: the
    /// keeping job rebuilds it).
    async fn catch_up(&self, db: &impl ConnectionTrait) -> Result<Option<usize>, StoreError> {
        let keeper = &self.rollup;
        let _one = keeper.catching_up.lock().await;
        let Some(from) = keeper.rollup.read().await.as_ref().map(Rollup::position) else {
            return Ok(None);
        };
        let bound = feed::bound(db).await?;
        let mut entries = Vec::new();
        let mut cursor = from;
        loop {
            let batch = feed::entries_after(db, cursor, &FOLLOWED, CATCH_UP_BATCH).await?;
            let full = batch.len() as u64 >= CATCH_UP_BATCH;
            if let Some(last) = batch.last() {
                cursor = position_of(last);
            }
            entries.extend(batch);
            if !full {
                break;
            }
        }
        let mut guard = keeper.rollup.write().await;
        let Some(rollup) = guard.as_mut() else {
            return Ok(None);
        };
        for e in &entries {
            if let Err(err) = rollup.apply(e) {
                // An entry that does not decode: half applied, the rollup
                // is dropped and rebuilt.
                warn!(error = %err, "the summary rollup could not apply a journal entry: it is rebuilt");
                *guard = None;
                return Err(err);
            }
        }
        rollup.advance(bound);
        Ok(Some(entries.len()))
    }

    /// Builds the summary rollup when there is none (or the journal's
    /// retention deleted entries it had not read yet), else brings it up to
    /// date; for the server's keeping job. Returns what a build measured.
    pub async fn keep_rollup(&self) -> Result<Option<RollupStats>, StoreError> {
        let position = self
            .rollup
            .rollup
            .read()
            .await
            .as_ref()
            .map(Rollup::position);
        let horizon = self.feed_horizon().await?;
        if position.is_none_or(|p| p < horizon) {
            return self.build_rollup().await.map(Some);
        }
        let lease = self.read.one().await?;
        let read = self.catch_up(lease.conn()).await?;
        drop(lease);
        if read == Some(0) && self.rollup_stats().is_some() {
            // Nothing changed: the figures stand.
            return Ok(None);
        }
        let guard = self.rollup.rollup.clone().read_owned().await;
        let stats = tokio::task::spawn_blocking(move || guard.as_ref().map(Rollup::stats))
            .await
            .map_err(|e| StoreError::corrupt("summary rollup", e))?;
        *self.rollup.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
        Ok(None)
    }

    /// The rollup's size as last measured; `None` before it is built.
    pub fn rollup_stats(&self) -> Option<RollupStats> {
        *self.rollup.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Program totals from the rollup, when there is one: the programs
    /// matching `filter` found by the database, their totals counted here.
    pub(super) async fn summarize_from_rollup(
        &self,
        filter: Option<&Filter>,
        group_by: &[GroupKey],
    ) -> Result<Option<Summary>, StoreError> {
        if self.rollup.rollup.read().await.is_none() {
            return Ok(None);
        }
        let lease = self.read.one().await?;
        let (ids, current) = self
            .read_in(&lease, async |reader| {
                // The programs first: the rollup, caught up after, then
                // knows every one of them.
                let ids = match filter {
                    Some(f) => Some(self.live_program_ids(reader, f).await?),
                    None => None,
                };
                Ok((ids, self.catch_up(reader).await?.is_some()))
            })
            .await?;
        drop(lease);
        if !current {
            return Ok(None);
        }
        let guard = self.rollup.rollup.clone().read_owned().await;
        let group_by = group_by.to_vec();
        tokio::task::spawn_blocking(move || {
            let Some(rollup) = guard.as_ref() else {
                return Ok(None);
            };
            let selected = ids.map(|ids| rollup.select(ids.iter().map(String::as_str)));
            Ok(Some(Summary {
                groups: rollup.summarize(selected.as_deref(), &group_by)?,
                position: Some(rollup.position()),
            }))
        })
        .await
        .map_err(|e| StoreError::corrupt("summary rollup", e))?
    }

    /// The ids of the live programs matching `filter`.
    async fn live_program_ids(
        &self,
        db: &impl ConnectionTrait,
        filter: &Filter,
    ) -> Result<Vec<String>, StoreError> {
        let compiler = Compiler::<super::Programs>::qualified(self.backend());
        Ok(program::Entity::find()
            .select_only()
            .column(program::Column::Id)
            .filter(program::Column::DeleteTime.is_null())
            .filter(compiler.filter(filter))
            .into_tuple::<String>()
            .all(db)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_strings_come_back() {
        let mut i = Interner::default();
        let words = ["s1", "", "에스엠이", "s1", "s2"];
        let ids: Vec<u32> = words.iter().map(|w| i.intern(w).unwrap()).collect();
        assert_eq!(ids, vec![0, 1, 2, 0, 3]);
        for (w, id) in words.iter().zip(ids) {
            assert_eq!(i.text(id), *w);
            assert_eq!(i.get(w), Some(id));
        }
        assert_eq!(i.get("s3"), None);
        assert_eq!(i.len(), 4);
    }

    /// Small and large groups, counted on one thread and on several,
    /// against a plain set of each group's SMEs.
    #[test]
    fn every_way_of_counting_agrees_with_a_set() {
        let mut r = Rollup::default();
        r.labels.intern("K").unwrap();
        let mut x = 12345u64;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        // 3,000 programs (each its own host) of 0 to 2,500 SMEs among
        // 400,000, in 60 start years: over a million participations, so
        // counted in parallel, in groups dense and sparse.
        for p in 0..3000u64 {
            let i = r.program_index(&format!("p{p}")).unwrap();
            r.programs[i].live = p % 50 != 0;
            r.programs[i].keys = [0, 0, p as u32, UNSET, 1960 + (p % 60) as u32];
            let size = if p % 7 == 0 { 2500 } else { next(40) };
            for _ in 0..size {
                let s = format!("s{}", next(400_000));
                let _ = r.add(&format!("p{p}"), &s, Some(1), true);
            }
        }
        let expected = |group: &dyn Fn(&ProgramRollup) -> bool| {
            let mut set = std::collections::HashSet::new();
            for p in r.programs.iter().filter(|p| p.live && group(p)) {
                set.extend(p.smes.iter().copied());
            }
            set.len() as i64
        };
        let all = r.summarize(None, &[]).unwrap();
        assert_eq!(all[0].sme_count, expected(&|_| true));
        let by_year = r.summarize(None, &[GroupKey::StartYear]).unwrap();
        assert_eq!(by_year.len(), 60);
        for g in &by_year {
            let year: u32 = g.keys[0].as_deref().unwrap_or_default().parse().unwrap();
            assert_eq!(g.sme_count, expected(&|p| p.keys[4] == year), "{year}");
        }
        for p in 0..3000 {
            r.companies.intern(&format!("c{p}")).unwrap();
        }
        let by_host = r
            .summarize(None, &[GroupKey::HostCompany, GroupKey::StartYear])
            .unwrap();
        let counted: i64 = by_host.iter().map(|g| g.sme_count).sum();
        let each: i64 = r
            .programs
            .iter()
            .filter(|p| p.live)
            .map(|p| {
                let mut smes = p.smes.clone();
                smes.dedup();
                smes.len() as i64
            })
            .sum();
        assert_eq!(counted, each);
    }

    /// A removal that arrives before its create (an earlier transaction
    /// ending what a later one made) is owed, and the create pays it.
    #[test]
    fn a_removal_before_its_create_cancels_it() {
        let mut r = Rollup::default();
        r.labels.intern("K").unwrap();
        let i = r.program_index("p").unwrap();
        r.programs[i].live = true;
        r.programs[i].keys = [0, 0, 0, UNSET, UNSET];
        r.companies.intern("c").unwrap();
        let part = |sme: &str| participation::Model {
            program_id: "p".into(),
            id: "x".into(),
            sme_id: sme.into(),
            support_amount_krw: Some(5),
            joined_date: None,
            outcomes: "[]".into(),
            create_time: chrono::DateTime::default(),
            update_time: chrono::DateTime::default(),
            delete_time: None,
            revision: 1,
            demo: false,
        };
        r.add("p", "kept", Some(3), true).unwrap();
        r.remove(&part("late")).unwrap();
        assert_eq!(r.summarize(None, &[]).unwrap()[0].sme_count, 1);
        r.add("p", "late", Some(5), true).unwrap();
        let g = r.summarize(None, &[]).unwrap().remove(0);
        assert_eq!((g.sme_count, g.total_support_krw), (1, 3));
        assert!(r.owed.is_empty());
        assert_eq!(r.stats().participations, 1);
    }

    #[test]
    fn distinct_smes_are_counted_once_per_group() {
        let mut r = Rollup::default();
        r.labels.intern("SMART_FACTORY").unwrap();
        for (id, kind) in [("p1", 0), ("p2", 0), ("p3", 1)] {
            let i = r.program_index(id).unwrap();
            r.programs[i].live = true;
            r.programs[i].keys = [kind, 0, 0, UNSET, 2024];
        }
        r.labels.intern("ESG").unwrap();
        for (p, s) in [("p1", "a"), ("p1", "b"), ("p2", "b"), ("p3", "a")] {
            r.add(p, s, Some(10), true).unwrap();
        }
        let all = r.summarize(None, &[]).unwrap();
        assert_eq!((all[0].program_count, all[0].sme_count), (3, 2));
        assert_eq!(all[0].total_support_krw, 40);
        let by_kind = r
            .summarize(None, &[GroupKey::Kind, GroupKey::Region])
            .unwrap();
        let counts: Vec<_> = by_kind
            .iter()
            .map(|g| (g.keys.clone(), g.program_count, g.sme_count))
            .collect();
        assert_eq!(
            counts,
            vec![
                (vec![Some("ESG".into()), None], 1, 1),
                (vec![Some("SMART_FACTORY".into()), None], 2, 2),
            ]
        );
        let some = r.select(["p2", "p9"]);
        assert_eq!(r.summarize(Some(&some), &[]).unwrap()[0].sme_count, 1);
    }
}
