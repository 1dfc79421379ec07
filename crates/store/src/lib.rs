//! Durable state of the refute services in RocksDB.
