//! app-policy (stub)
