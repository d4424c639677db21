//! End-to-end tests (issue #3): real `seshat` processes on loopback, driven by Redis clients.
