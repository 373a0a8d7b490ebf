//! apk-zip (stub)
