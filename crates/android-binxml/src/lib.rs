//! android-binxml (stub)
