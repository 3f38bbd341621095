//! A loopback load test of `hnswtune serve`; see `src/bin/serve_load.rs` and
//! docs/http.md ("Load") for the command and the figures.
