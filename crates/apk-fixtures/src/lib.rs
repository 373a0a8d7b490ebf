//! apk-fixtures (stub)
