//! dex-file (stub)
