//! Durable state of the refute services in RocksDB.
//!
//! One column family per kind of record ([`Cf`]); keys start with a schema version
//! byte so a later layout can live beside this one; values are JSON (small, and
//! readable with `ldb` when an operator needs to look). Every write is synced to
//! disk before it returns, and writes that must happen together go in one
//! [`Batch`], so a service killed at any instant finds either the state before or
//! the state after.
//!
//! The chain is the source of truth; this store is what lets a restarted service
//! resume without re-scanning history or repeating a transaction.

use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The key layout version written as the first byte of every key.
pub const KEY_VERSION: u8 = 1;

/// A column family: one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    /// Store metadata (schema version, chain id, contract addresses).
    Meta,
    /// Block cursors of log scanners.
    Cursor,
    /// Requests seen.
    Requests,
    /// Results posted or checked.
    Results,
    /// Games played.
    Games,
    /// Transactions sent and not yet known to be mined.
    Pending,
    /// The index of open records: one empty value per record of another family
    /// that still needs the service's attention (a request to serve, a result in
    /// its window, a game not ended), keyed `<family name>/<id>`. A tick reads the
    /// index, never every record ever stored, so its cost follows what is open.
    Open,
}

impl Cf {
    /// Every column family.
    pub const ALL: [Cf; 7] = [Cf::Meta, Cf::Cursor, Cf::Requests, Cf::Results, Cf::Games, Cf::Pending, Cf::Open];

    /// The family's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Cursor => "cursor",
            Cf::Requests => "requests",
            Cf::Results => "results",
            Cf::Games => "games",
            Cf::Pending => "pending",
            Cf::Open => "open",
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("store at {path}: {source}")]
    Db {
        /// The store's directory.
        path: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A value could not be encoded or decoded.
    #[error("store record {cf}/{key}: {source}")]
    Codec {
        /// Column family.
        cf: &'static str,
        /// Key, hex.
        key: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The store was written by another schema version.
    #[error("store at {path} has schema version {found}, this build uses {KEY_VERSION}")]
    Schema {
        /// The store's directory.
        path: PathBuf,
        /// The version found.
        found: u8,
    },
}

/// Builds a versioned key from parts (ids big-endian, so keys sort numerically).
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![KEY_VERSION];
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// The versioned key of a numeric id.
pub fn id_key(id: u64) -> Vec<u8> {
    key(&[&id.to_be_bytes()])
}

/// The key in [`Cf::Open`] of record `id` of family `cf`.
fn open_key(cf: Cf, id: u64) -> Vec<u8> {
    key(&[cf.name().as_bytes(), b"/", &id.to_be_bytes()])
}

/// The prefix of every key in [`Cf::Open`] of family `cf`.
fn open_prefix(cf: Cf) -> Vec<u8> {
    key(&[cf.name().as_bytes(), b"/"])
}

/// Write buffer (memtable) per family. RocksDB's default (64 MiB each, two of
/// them, per family) lets a service's memory climb by hundreds of MiB as records
/// accumulate before a flush; the services write little, so small buffers cost
/// nothing and keep memory flat.
const WRITE_BUFFER: usize = 1 << 20;

/// The block cache every family shares (RocksDB's default is a cache per family),
/// which also holds the table files' index and filter blocks: the records a tick
/// reads are few and recent, most still in the write buffers.
const BLOCK_CACHE: usize = 4 << 20;

/// A RocksDB store.
pub struct Store {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn sync() -> WriteOptions {
    let mut o = WriteOptions::default();
    o.set_sync(true);
    o
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db_err = |source| StoreError::Db { path: path.to_path_buf(), source };
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // RocksDB opens a store only with all its families: those of this build, and
        // any an earlier build made that this one no longer uses (they are dropped)
        let existing = if path.join("CURRENT").exists() { DB::list_cf(&opts, path).map_err(db_err)? } else { vec![] };
        let ours: Vec<&str> = Cf::ALL.iter().map(|cf| cf.name()).collect();
        let retired: Vec<String> = existing.into_iter().filter(|n| n != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !ours.contains(&n.as_str())).collect();
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE);
        let cfs = ours.iter().map(|n| n.to_string()).chain(retired.iter().cloned()).map(|n| {
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            // the index and filter blocks of every table file held in that cache
            // too, not beside it: without this each flushed file keeps its own in
            // memory for as long as it is open, and memory grows with the files
            table.set_cache_index_and_filter_blocks(true);
            let mut o = Options::default();
            o.set_write_buffer_size(WRITE_BUFFER);
            o.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(n, o)
        });
        let mut db = DB::open_cf_descriptors(&opts, path, cfs).map_err(db_err)?;
        for name in &retired {
            db.drop_cf(name).map_err(db_err)?;
        }
        let store = Store { db, path: path.to_path_buf() };
        match store.get::<u8>(Cf::Meta, b"schema")? {
            None => store.put(Cf::Meta, b"schema", &KEY_VERSION)?,
            Some(v) if v == KEY_VERSION => {}
            Some(found) => return Err(StoreError::Schema { path: path.to_path_buf(), found }),
        }
        Ok(store)
    }

    /// Opens an existing store read-only, beside a service that may be writing it
    /// (for `status` commands). Sees the data as of the moment it was opened.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let db_err = |source| StoreError::Db { path: path.to_path_buf(), source };
        let names = Cf::ALL.iter().map(|cf| cf.name());
        let db = DB::open_cf_for_read_only(&Options::default(), path, names, false).map_err(db_err)?;
        Ok(Store { db, path: path.to_path_buf() })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, cf: Cf) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(cf.name()).expect("every family is created at open")
    }

    fn db_err(&self) -> impl Fn(rocksdb::Error) -> StoreError + '_ {
        |source| StoreError::Db { path: self.path.clone(), source }
    }

    fn encode<T: Serialize>(cf: Cf, key: &[u8], value: &T) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(value).map_err(|source| StoreError::Codec { cf: cf.name(), key: hex::encode(key), source })
    }

    fn decode<T: DeserializeOwned>(cf: Cf, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
        serde_json::from_slice(bytes).map_err(|source| StoreError::Codec { cf: cf.name(), key: hex::encode(key), source })
    }

    /// Writes one record, synced.
    pub fn put<T: Serialize>(&self, cf: Cf, key: &[u8], value: &T) -> Result<(), StoreError> {
        let bytes = Self::encode(cf, key, value)?;
        self.db.put_cf_opt(self.cf(cf), key, bytes, &sync()).map_err(self.db_err())
    }

    /// Reads one record.
    pub fn get<T: DeserializeOwned>(&self, cf: Cf, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get_cf(self.cf(cf), key).map_err(self.db_err())? {
            Some(bytes) => Ok(Some(Self::decode(cf, key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Deletes one record, synced.
    pub fn delete(&self, cf: Cf, key: &[u8]) -> Result<(), StoreError> {
        self.db.delete_cf_opt(self.cf(cf), key, &sync()).map_err(self.db_err())
    }

    /// Every record of a family, in key order.
    pub fn all<T: DeserializeOwned>(&self, cf: Cf) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(cf), rocksdb::IteratorMode::Start) {
            let (k, v) = item.map_err(self.db_err())?;
            if k.first() == Some(&KEY_VERSION) {
                out.push((k.to_vec(), Self::decode(cf, &k, &v)?));
            }
        }
        Ok(out)
    }

    /// Writes record `id` of `cf` and its entry in the open index together:
    /// indexed when `open`, dropped from the index otherwise.
    pub fn put_record<T: Serialize>(&self, cf: Cf, id: u64, value: &T, open: bool) -> Result<(), StoreError> {
        let mut b = self.batch();
        b.put_record(cf, id, value, open)?;
        self.write(b)
    }

    /// The ids of the open records of `cf`, in numeric order.
    pub fn open_ids(&self, cf: Cf) -> Result<Vec<u64>, StoreError> {
        let prefix = open_prefix(cf);
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(self.cf(Cf::Open), rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward));
        for item in iter {
            let (k, _) = item.map_err(self.db_err())?;
            if !k.starts_with(&prefix) {
                break;
            }
            if let Ok(id) = <[u8; 8]>::try_from(&k[prefix.len()..]) {
                out.push(u64::from_be_bytes(id));
            }
        }
        Ok(out)
    }

    /// The open records of `cf` with their ids, in numeric order. An index entry
    /// whose record is gone is skipped.
    pub fn open_records<T: DeserializeOwned>(&self, cf: Cf) -> Result<Vec<(u64, T)>, StoreError> {
        let mut out = Vec::new();
        for id in self.open_ids(cf)? {
            if let Some(v) = self.get(cf, &id_key(id))? {
                out.push((id, v));
            }
        }
        Ok(out)
    }

    /// Builds the open index of `cf` from every record, once: a store written
    /// before the index existed gets it on its first start with this build.
    /// Returns how many records it indexed (0 when the index was already there).
    pub fn build_open_index<T: DeserializeOwned>(&self, cf: Cf, is_open: impl Fn(&T) -> bool) -> Result<usize, StoreError> {
        let mark = key(&[b"open-index/", cf.name().as_bytes()]);
        if self.get::<bool>(Cf::Meta, &mark)?.is_some() {
            return Ok(0);
        }
        let mut b = self.batch();
        let mut n = 0;
        for (k, v) in self.all::<T>(cf)? {
            if let (true, Ok(id)) = (is_open(&v), <[u8; 8]>::try_from(&k[1..])) {
                b.batch.put_cf(self.cf(Cf::Open), open_key(cf, u64::from_be_bytes(id)), b"");
                n += 1;
            }
        }
        b.put(Cf::Meta, &mark, &true)?;
        self.write(b)?;
        Ok(n)
    }

    /// A batch of writes applied atomically by [`Store::write`].
    pub fn batch(&self) -> Batch<'_> {
        Batch { store: self, batch: WriteBatch::default() }
    }

    /// Applies a batch atomically, synced.
    pub fn write(&self, batch: Batch<'_>) -> Result<(), StoreError> {
        self.db.write_opt(batch.batch, &sync()).map_err(self.db_err())
    }
}

/// Writes that land together or not at all.
pub struct Batch<'a> {
    store: &'a Store,
    batch: WriteBatch,
}

impl Batch<'_> {
    /// Adds a write.
    pub fn put<T: Serialize>(&mut self, cf: Cf, key: &[u8], value: &T) -> Result<&mut Self, StoreError> {
        let bytes = Store::encode(cf, key, value)?;
        self.batch.put_cf(self.store.cf(cf), key, bytes);
        Ok(self)
    }

    /// Adds a deletion.
    pub fn delete(&mut self, cf: Cf, key: &[u8]) -> &mut Self {
        self.batch.delete_cf(self.store.cf(cf), key);
        self
    }

    /// Adds a write of record `id` of `cf` with its open-index entry (see
    /// [`Store::put_record`]).
    pub fn put_record<T: Serialize>(&mut self, cf: Cf, id: u64, value: &T, open: bool) -> Result<&mut Self, StoreError> {
        self.put(cf, &id_key(id), value)?;
        let k = open_key(cf, id);
        if open {
            self.batch.put_cf(self.store.cf(Cf::Open), k, b"");
        } else {
            self.batch.delete_cf(self.store.cf(Cf::Open), k);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Game {
        id: u64,
        moves: Vec<String>,
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tmp();
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(Cf::Games, &id_key(7), &Game { id: 7, moves: vec!["pick".into()] }).unwrap();
            s.put(Cf::Cursor, &key(&[b"oracle"]), &123u64).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get::<Game>(Cf::Games, &id_key(7)).unwrap().unwrap().moves, vec!["pick"]);
        assert_eq!(s.get::<u64>(Cf::Cursor, &key(&[b"oracle"])).unwrap(), Some(123));
        assert_eq!(s.get::<u64>(Cf::Cursor, &key(&[b"other"])).unwrap(), None);
    }

    #[test]
    fn iteration_is_in_numeric_id_order_and_per_family() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        for id in [300u64, 2, 70_000, 1] {
            s.put(Cf::Results, &id_key(id), &id).unwrap();
        }
        s.put(Cf::Requests, &id_key(5), &5u64).unwrap();
        let ids: Vec<u64> = s.all::<u64>(Cf::Results).unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(ids, vec![1, 2, 300, 70_000]);
        s.delete(Cf::Results, &id_key(2)).unwrap();
        assert_eq!(s.all::<u64>(Cf::Results).unwrap().len(), 3);
    }

    #[test]
    fn a_batch_lands_whole() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        s.put(Cf::Pending, &id_key(1), &"tx").unwrap();
        let mut b = s.batch();
        b.put(Cf::Results, &id_key(1), &"posted").unwrap().delete(Cf::Pending, &id_key(1));
        s.write(b).unwrap();
        assert_eq!(s.get::<String>(Cf::Results, &id_key(1)).unwrap().as_deref(), Some("posted"));
        assert_eq!(s.get::<String>(Cf::Pending, &id_key(1)).unwrap(), None);
    }

    #[test]
    fn the_open_index_follows_the_records_and_is_built_once_for_an_older_store() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        for id in [9u64, 3, 300] {
            s.put_record(Cf::Games, id, &Game { id, moves: vec![] }, true).unwrap();
        }
        s.put_record(Cf::Results, 3, &3u64, true).unwrap();
        s.put_record(Cf::Games, 9, &Game { id: 9, moves: vec!["timeout".into()] }, false).unwrap();
        assert_eq!(s.open_ids(Cf::Games).unwrap(), vec![3, 300]);
        assert_eq!(s.open_ids(Cf::Results).unwrap(), vec![3]);
        assert_eq!(s.open_ids(Cf::Requests).unwrap(), Vec::<u64>::new());
        let open: Vec<u64> = s.open_records::<Game>(Cf::Games).unwrap().into_iter().map(|(id, g)| g.id + id).collect();
        assert_eq!(open, vec![6, 600]);
        // the record of game 9 stays; only its index entry went
        assert!(s.get::<Game>(Cf::Games, &id_key(9)).unwrap().is_some());

        // records written without the index (an earlier build) are indexed once
        for id in 1..=4u64 {
            s.put(Cf::Requests, &id_key(id), &id).unwrap();
        }
        assert_eq!(s.build_open_index::<u64>(Cf::Requests, |v| v % 2 == 0).unwrap(), 2);
        assert_eq!(s.open_ids(Cf::Requests).unwrap(), vec![2, 4]);
        s.put_record(Cf::Requests, 2, &2u64, false).unwrap();
        assert_eq!(s.build_open_index::<u64>(Cf::Requests, |v| v % 2 == 0).unwrap(), 0, "built once");
        assert_eq!(s.open_ids(Cf::Requests).unwrap(), vec![4]);
    }

    #[test]
    fn a_corrupt_record_and_another_schema_are_named() {
        let dir = tmp();
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(Cf::Games, &id_key(1), &"not a game").unwrap();
            let err = s.get::<Game>(Cf::Games, &id_key(1)).unwrap_err().to_string();
            assert!(err.contains("games/01") && err.contains("0000000000000001"), "{err}");
            s.put(Cf::Meta, b"schema", &9u8).unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("schema version 9"), "{err}");
    }

    #[test]
    fn a_store_held_by_another_process_is_refused_clearly() {
        let dir = tmp();
        let _a = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn a_store_with_a_family_this_build_no_longer_uses_opens_and_loses_only_that_family() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(Cf::Games, &id_key(3), &Game { id: 3, moves: vec!["pick".into()] }).unwrap();
        }
        {
            // an earlier build's family ("traces"), with a record in it
            let mut opts = Options::default();
            opts.create_missing_column_families(true);
            let mut names: Vec<String> = Cf::ALL.iter().map(|c| c.name().to_string()).collect();
            names.push("traces".into());
            let db = DB::open_cf(&opts, dir.path(), &names).unwrap();
            db.put_cf(db.cf_handle("traces").unwrap(), b"k", b"v").unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get::<Game>(Cf::Games, &id_key(3)).unwrap().unwrap().moves, vec!["pick"]);
        drop(s);
        let families = DB::list_cf(&Options::default(), dir.path()).unwrap();
        assert!(!families.contains(&"traces".to_string()), "{families:?}");
        assert!(Store::open_read_only(dir.path()).is_ok());
    }
}
