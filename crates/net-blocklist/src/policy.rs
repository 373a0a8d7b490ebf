//! The names a policy blocks: each `prohibit` rule's `domains` lists, the domain lists of
//! the vendors it names, and (with `include_assessed_endpoints`) the host names found in
//! stored assessments of the apps it matches.

use app_policy::{Action, Date, Policy, Rule};

use crate::list::Candidate;
use crate::name::normalize;

/// A host name found in a stored assessment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessedEndpoint {
    /// Package name of the assessed app.
    pub app_id: String,
    /// Host name (IP literals are skipped: name lists only).
    pub host: String,
    /// Which assessment (e.g. the APK's SHA-256).
    pub assessment: String,
}

fn in_force(r: &Rule, at: Option<Date>) -> bool {
    match (at, r.effective) {
        (Some(at), Some(eff)) => eff <= at,
        _ => true,
    }
}

fn list_source(source: &str, date: Option<Date>) -> String {
    match date {
        Some(d) => format!("{source} ({d})"),
        None => source.to_string(),
    }
}

/// The candidate names of a policy (before normalisation and the never-block list).
/// `at`: only rules in force on that date (none: every rule).
pub fn candidates(
    policy: &Policy,
    at: Option<Date>,
    assessed: &[AssessedEndpoint],
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for r in policy
        .rules
        .iter()
        .filter(|r| r.action == Action::Prohibit && in_force(r, at))
    {
        for l in &r.domains {
            for n in &l.names {
                out.push(Candidate {
                    name: n.value.clone(),
                    source: format!("rule {}: {}", r.id, list_source(&l.source, l.date)),
                    location: policy.at(n.loc),
                });
            }
        }
        let mut app_ids: Vec<&str> = r.app_ids.iter().map(|a| a.value.as_str()).collect();
        for v in &r.vendors {
            if let Some(vendor) = policy.vendor(&v.value) {
                app_ids.extend(vendor.app_ids.iter().map(String::as_str));
                for l in &vendor.domains {
                    for n in &l.names {
                        out.push(Candidate {
                            name: n.value.clone(),
                            source: format!(
                                "vendor {}: {}",
                                vendor.name,
                                list_source(&l.source, l.date)
                            ),
                            location: policy.at(n.loc),
                        });
                    }
                }
            }
        }
        if r.include_assessed_endpoints {
            for e in assessed
                .iter()
                .filter(|e| app_ids.contains(&e.app_id.as_str()))
            {
                // Hosts from assessments are evidence, not policy text: skip what is not a name.
                if normalize(&e.host).is_ok() {
                    out.push(Candidate {
                        name: e.host.clone(),
                        source: format!(
                            "rule {}: endpoint of {} (assessment {})",
                            r.id, e.app_id, e.assessment
                        ),
                        location: format!("assessment {}", e.assessment),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::Blocklist;
    use crate::never::NeverBlock;

    const P: &str = r#"
[policy]
name = "t"
version = 3
mode = "denylist"

[[vendors]]
name = "Kaspersky"
app_ids = ["com.kms.free"]
[[vendors.domains]]
source = "v2fly/domain-list-community data/kaspersky @ c975cce"
date = 2026-08-19
names = ["kaspersky.com", "kaspersky-labs.com"]

[[rules]]
id = "k"
action = "prohibit"
vendors = ["Kaspersky"]
include_assessed_endpoints = true

[[rules]]
id = "w"
action = "prohibit"
app_ids = ["com.tencent.mm"]
effective = 2030-01-01
[[rules.domains]]
source = "analyst"
names = ["wechat.com", "Bad Name.com"]

[[rules]]
id = "a"
action = "allow"
app_ids = ["x"]
[[rules.domains]]
source = "s"
names = ["allowed.example"]
"#;

    #[test]
    fn from_policy() {
        let p = app_policy::parse_policy(P, "p.toml").unwrap();
        let assessed = vec![
            AssessedEndpoint {
                app_id: "com.kms.free".into(),
                host: "ksn.kaspersky-labs.com".into(),
                assessment: "ab".into(),
            },
            AssessedEndpoint {
                app_id: "com.kms.free".into(),
                host: "app-measurement.com".into(),
                assessment: "ab".into(),
            },
            AssessedEndpoint {
                app_id: "com.kms.free".into(),
                host: "10.0.0.1".into(),
                assessment: "ab".into(),
            },
            AssessedEndpoint {
                app_id: "other".into(),
                host: "other.example".into(),
                assessment: "cd".into(),
            },
        ];
        let c = candidates(&p, Some(Date::parse("2026-01-01").unwrap()), &assessed);
        assert_eq!(c.len(), 4);
        let l = Blocklist::build(&c, &NeverBlock::shipped()).unwrap();
        let names: Vec<_> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["kaspersky-labs.com", "kaspersky.com"]);
        assert_eq!(l.removed[0].name, "app-measurement.com");
        assert_eq!(l.covered[0].name, "ksn.kaspersky-labs.com");
        assert!(l.entries[1].sources[0].contains("(2026-08-19)"));
        // Every rule: the bad name in rule `w` is refused with its place in the file.
        let e = Blocklist::build(&candidates(&p, None, &[]), &NeverBlock::shipped()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.toml:28:24: invalid domain name `Bad Name.com` at character 4"),
            "{e}"
        );
        assert_eq!(e.error.position, 4);
    }
}
