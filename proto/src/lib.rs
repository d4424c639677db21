//! Seshat's internal gRPC protocol, generated from `proto/seshat.proto`.
//!
//! - [`v1::RaftBatch`] carries raft-rs messages from one node to another, each a
//!   [`v1::RaftEnvelope`] tagged with its Raft group, over one long-lived client stream per
//!   peer (`Internal.Raft`).
//! - `Internal.Status` reports a node's view of its groups (role, term, leader, indexes).

/// Version 1 of the protocol.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("seshat.v1");
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::v1::{RaftBatch, RaftEnvelope};

    #[test]
    fn raft_batches_round_trip() {
        let batch = RaftBatch {
            from: 1,
            to: 2,
            messages: vec![RaftEnvelope {
                group: 1,
                message: vec![8, 1, 16, 2],
            }],
            from_addr: "127.0.0.1:7379".to_owned(),
        };
        let bytes = batch.encode_to_vec();
        assert_eq!(RaftBatch::decode(bytes.as_slice()).unwrap(), batch);
    }
}
