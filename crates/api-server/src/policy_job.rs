//! Policy parsing, checking and compiling off the async workers, behind limits (issue 12,
//! item 1): a policy upload once burned an async worker for 45 s and stalled `/healthz`.
//!
//! The work runs on tokio's blocking pool, one policy at a time (a semaphore), after a rule-count
//! limit read from the source before parsing. The caller awaits it, so the request timeout fires
//! while it runs; the checker itself bounds its quadratic part ([`app_policy::check`]).

use std::sync::Arc;

use app_policy::Policy;

use crate::{ApiError, AppState};

/// One policy job at a time: a second upload waits (within its request timeout).
#[derive(Debug)]
pub(crate) struct PolicyJobs {
    permits: Arc<tokio::sync::Semaphore>,
}

impl Default for PolicyJobs {
    fn default() -> Self {
        PolicyJobs {
            permits: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }
}

/// Counts `[[rules]]` table headers without parsing (an upper bound of the rules).
fn rule_headers(source: &str) -> usize {
    source
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.strip_prefix("[[")
                .and_then(|t| t.trim_start().strip_prefix("rules"))
                .is_some_and(|t| t.trim_start().starts_with(']'))
        })
        .count()
}

/// Parses, checks and compiles `source` on the blocking pool; the parsed policy when it may be
/// published, or 422 with every error.
pub(crate) async fn validate(state: &AppState, source: String) -> Result<Arc<Policy>, ApiError> {
    let cfg = &state.config;
    if source.len() > cfg.max_policy_bytes {
        return Err(ApiError::Invalid(format!(
            "policy is {} bytes; the limit is {} (--max-policy-bytes)",
            source.len(),
            cfg.max_policy_bytes
        )));
    }
    let rules = rule_headers(&source);
    if rules > cfg.max_policy_rules {
        return Err(ApiError::Invalid(format!(
            "policy has {rules} [[rules]] tables; the limit is {} (--max-policy-rules)",
            cfg.max_policy_rules
        )));
    }
    // The permit moves into the job: a job whose request timed out keeps it until it ends, so
    // timed-out uploads cannot pile up work on the pool.
    let permit = Arc::clone(&state.policy_jobs.permits)
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(format!("policy job semaphore: {e}")))?;
    let max_rules = cfg.max_policy_rules;
    let job = tokio::task::spawn_blocking(move || {
        let r = check_policy(&source, max_rules);
        drop(permit);
        r
    });
    match job.await {
        Ok(r) => r,
        Err(e) => Err(ApiError::Internal(format!("policy check task: {e}"))),
    }
}

fn check_policy(source: &str, max_rules: usize) -> Result<Arc<Policy>, ApiError> {
    let policy = app_policy::parse_policy(source, "policy.toml")
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    if policy.rules.len() > max_rules {
        return Err(ApiError::Invalid(format!(
            "policy has {} rules; the limit is {max_rules} (--max-policy-rules)",
            policy.rules.len()
        )));
    }
    let diags = app_policy::check(&policy, crate::checkin::today());
    if app_policy::has_errors(&diags) {
        let msgs: Vec<String> = diags
            .iter()
            .filter(|d| d.severity == app_policy::Severity::Error)
            .take(100)
            .map(ToString::to_string)
            .collect();
        return Err(ApiError::Invalid(msgs.join("; ")));
    }
    app_policy::CompiledPolicy::new(&policy).map_err(|e| ApiError::Invalid(e.to_string()))?;
    Ok(Arc::new(policy))
}

#[cfg(test)]
mod tests {
    use super::rule_headers;

    #[test]
    fn counts_rule_tables_however_spaced() {
        let src = "[policy]\nname='x'\n[[rules]]\n  [[ rules ]]\n[[rulesx]]\n[[exceptions]]\n";
        assert_eq!(rule_headers(src), 2);
    }
}
