//! The internal gRPC protocol between Seshat nodes (issue #3): the `.proto` files and their
//! tonic/prost code, carrying raft-rs messages as opaque bytes tagged with their Raft group.
