//! Non-fatal findings recorded while parsing.

/// Maximum number of anomalies kept per parsed file.
pub const MAX_ANOMALIES: usize = 256;

/// A non-fatal irregularity found while parsing (often a sign of tampering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// Stable snake_case code, e.g. `unexpected_file_type`.
    pub code: &'static str,
    /// Human-readable detail.
    pub detail: String,
    /// Byte offset in the parsed file where the irregularity was seen.
    pub offset: usize,
}

/// Bounded anomaly collector.
#[derive(Debug, Default)]
pub(crate) struct Anomalies {
    pub(crate) list: Vec<Anomaly>,
}

impl Anomalies {
    pub(crate) fn push(&mut self, code: &'static str, offset: usize, detail: impl Into<String>) {
        let len = self.list.len();
        if len + 1 < MAX_ANOMALIES {
            self.list.push(Anomaly {
                code,
                detail: detail.into(),
                offset,
            });
        } else if len + 1 == MAX_ANOMALIES {
            self.list.push(Anomaly {
                code: "too_many_anomalies",
                detail: format!("anomaly limit of {MAX_ANOMALIES} reached; further ones dropped"),
                offset,
            });
        }
    }
}
