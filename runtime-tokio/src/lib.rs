//! The `seshat` server (issue #3): drives `seshat-core` with tokio, stores its state in RocksDB
//! (six column families), talks to peers over tonic gRPC and to clients over RESP.
