//! apk-analysis (stub)
