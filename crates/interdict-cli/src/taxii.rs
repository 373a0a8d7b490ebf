//! A TAXII 2.1 client for `intel pull`: Get Objects with `added_after`, paging with `next`,
//! basic or bearer auth, bounded pages, bytes and time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// The TAXII 2.1 media type.
pub(crate) const MEDIA: &str = "application/taxii+json;version=2.1";

/// Credentials.
pub(crate) enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// Bounds of one pull.
pub(crate) struct PullOptions {
    pub(crate) max_pages: u32,
    /// Sent as `limit` on every request, the first and each `next` (medallion 3.0.0 fails a
    /// `next` request without `limit` with a 500; a server may still return fewer).
    pub(crate) limit: u32,
    pub(crate) timeout: Duration,
    pub(crate) max_bytes: u64,
}

/// What a pull returned.
pub(crate) struct Pulled {
    /// A STIX bundle of every object of every page.
    pub(crate) bundle: Vec<u8>,
    /// The last `X-TAXII-Date-Added-Last`, for the next `added_after`.
    pub(crate) last_added: Option<String>,
    pub(crate) pages: u32,
}

/// `added_after` per (API root, collection), kept between pulls.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct State {
    pub(crate) added_after: BTreeMap<String, String>,
}

impl State {
    pub(crate) fn load(path: &Path) -> anyhow::Result<State> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| {
                format!(
                    "{} is corrupt; remove it to pull everything again",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub(crate) fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    more: bool,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    objects: Vec<serde_json::Value>,
}

/// Pulls every page of a collection's objects.
pub(crate) fn pull(
    api_root: &str,
    collection: &str,
    auth: &Auth,
    added_after: Option<&str>,
    opts: &PullOptions,
) -> anyhow::Result<Pulled> {
    if !collection
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || collection.is_empty()
    {
        bail!("--collection must be a collection id (letters, digits, `-`), got {collection:?}");
    }
    let base = format!(
        "{}/collections/{collection}/objects/",
        api_root.trim_end_matches('/')
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let deadline = Instant::now() + opts.timeout;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let mut objects: Vec<serde_json::Value> = Vec::new();
        let mut next: Option<String> = None;
        let mut last_added = None;
        let mut seen_next = std::collections::HashSet::new();
        let mut seen_objects = std::collections::HashSet::new();
        let mut total: u64 = 0;
        let mut pages = 0u32;
        loop {
            if pages >= opts.max_pages {
                bail!("stopped after {} pages (--max-pages): the server keeps returning `more`; nothing imported", opts.max_pages);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the TAXII pull took longer than {:?} (--timeout); nothing imported", opts.timeout);
            }
            let mut req = client
                .get(&base)
                .header("Accept", MEDIA)
                .timeout(left)
                .query(&[("limit", opts.limit)]);
            if let Some(a) = added_after {
                req = req.query(&[("added_after", a)]);
            }
            if let Some(n) = &next {
                req = req.query(&[("next", n)]);
            }
            req = match auth {
                Auth::None => req,
                Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
                Auth::Bearer(t) => req.bearer_auth(t),
            };
            let mut resp = req.send().await.with_context(|| format!("cannot reach {base}"))?;
            let status = resp.status();
            if !status.is_success() {
                bail!("{base} answered {status}{}", if status.as_u16() == 401 || status.as_u16() == 403 { " (check --user/$TAXII_PASSWORD or --bearer-env)" } else { "" });
            }
            if let Some(h) = resp.headers().get("X-TAXII-Date-Added-Last").and_then(|v| v.to_str().ok()) {
                if threat_intel::time::parse_rfc3339_ms(h).is_some() {
                    last_added = Some(h.to_string());
                }
            }
            let mut body = Vec::new();
            while let Some(chunk) = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), resp.chunk())
                .await
                .map_err(|_| anyhow::anyhow!("the TAXII server is too slow (--timeout {:?}); nothing imported", opts.timeout))??
            {
                total += chunk.len() as u64;
                if total > opts.max_bytes {
                    bail!("the TAXII server sent more than {} bytes; nothing imported", opts.max_bytes);
                }
                body.extend_from_slice(&chunk);
            }
            pages += 1;
            let env: Envelope = serde_json::from_slice(&body)
                .with_context(|| format!("page {pages} from {base} is not a TAXII 2.1 envelope"))?;
            // A `next` may be a server-side cursor that stays the same from page to page
            // (medallion's is), so a repeated `next` is a loop only when its page brought no
            // object version not seen before.
            let mut fresh = 0usize;
            for o in &env.objects {
                let field = |k: &str| o.get(k).and_then(serde_json::Value::as_str).unwrap_or_default();
                let version = if field("modified").is_empty() { field("created") } else { field("modified") };
                if seen_objects.insert(format!("{}\n{version}", field("id"))) {
                    fresh += 1;
                }
            }
            objects.extend(env.objects);
            if !env.more {
                break;
            }
            match env.next {
                Some(n) if seen_next.insert(n.clone()) || fresh > 0 => next = Some(n),
                Some(n) => bail!("the TAXII server repeated `next` = {n:?} with no new object (a paging loop); nothing imported"),
                None => bail!("the TAXII server said `more` without a `next`; nothing imported"),
            }
        }
        let bundle = serde_json::to_vec(&serde_json::json!({
            "type": "bundle",
            "id": "bundle--00000000-0000-4000-8000-000000000000",
            "objects": objects,
        }))?;
        Ok(Pulled { bundle, last_added, pages })
    })
}
