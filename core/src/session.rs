//! Per-connection session (being written).
