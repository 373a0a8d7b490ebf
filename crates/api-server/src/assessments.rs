//! APK assessments: upload an APK, store its `interdict.assessment/v1` report (from
//! `apk_analysis`, the library behind `interdict assess`) linked to its app id, list and read
//! them back.
//!
//! * `POST /api/v1/assessments` takes the raw APK bytes (`Content-Type:
//!   application/vnd.android.package-archive` or `application/octet-stream`), up to
//!   [`Config::max_upload_bytes`](crate::Config::max_upload_bytes) (the only route with a body
//!   limit above `max_body_bytes`). It is idempotent per file: an APK whose SHA-256 is already
//!   stored is answered from storage (200) without being analysed again; a new one is analysed
//!   on the blocking pool (with risk analysis and signature verification, as the CLI does by
//!   default), stored with its `assessment.created` event, and answered with 201.
//! * `GET /api/v1/assessments?verdict=&app_id=&limit=&after=` lists summaries newest first
//!   (`created_at DESC, id DESC`, keyset-paged by `after` = the last id of the previous page;
//!   `next_after` is set when the page is full). `app_id` is the link to an app: its first
//!   element is the app's latest assessment.
//! * `GET /api/v1/assessments/{id}` returns the summary with the stored report under `report`.

use std::sync::OnceLock;

use apk_analysis::{FileInfo, Options};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use storage::{ApiPrincipal, AssessmentFilter, NewAssessment, StorageError};

use crate::{ApiError, AppState, RouteInfo};

/// The verdicts `apk_analysis` puts in `risk.verdict`
/// ([`apk_analysis::risk::model::Risk::verdict`]), lowest risk first.
pub const VERDICTS: [&str; 3] = ["acceptable", "review", "unacceptable"];

/// Path of the upload (and list) route.
pub(crate) const PATH: &str = "/api/v1/assessments";

/// `FileInfo::path` of an uploaded APK (uploads have no file name).
const UPLOAD_NAME: &str = "upload.apk";

/// Content types accepted for the APK bytes.
const APK_TYPES: [&str; 3] = [
    "application/vnd.android.package-archive",
    "application/octet-stream",
    "application/x-ios-app",
];

/// Whether `route` is the APK upload, the one route whose body limit is
/// [`Config::max_upload_bytes`](crate::Config::max_upload_bytes).
pub(crate) fn is_upload(route: &RouteInfo) -> bool {
    route.method == Method::POST && route.path == PATH
}

/// Errors of these routes: [`ApiError`] plus the statuses it has no variant for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssessmentError {
    /// 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 415.
    #[error("unsupported content type: send the APK bytes as {} or {}", APK_TYPES[0], APK_TYPES[1])]
    UnsupportedMediaType,
    /// 422: the analyser refused the file; its stable code and message (with the offset).
    #[error("{message}")]
    Unassessable {
        /// `AssessError::code`.
        code: &'static str,
        /// `AssessError`'s message.
        message: String,
    },
    /// Everything else.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<StorageError> for AssessmentError {
    fn from(e: StorageError) -> Self {
        AssessmentError::Api(e.into())
    }
}

impl IntoResponse for AssessmentError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            AssessmentError::Api(e) => return e.into_response(),
            AssessmentError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, json!({"error": self.to_string()}))
            }
            AssessmentError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"error": self.to_string()}),
            ),
            AssessmentError::Unassessable { code, ref message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": message, "code": code}),
            ),
        };
        (status, Json(body)).into_response()
    }
}

type Result<T, E = AssessmentError> = std::result::Result<T, E>;

/// Checks the upload's `Content-Type` before the body is read.
pub(crate) struct ApkContentType;

impl<S: Send + Sync> FromRequestParts<S> for ApkContentType {
    type Rejection = AssessmentError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        let essence = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        match essence {
            Some(t) if APK_TYPES.contains(&t.as_str()) => Ok(ApkContentType),
            _ => Err(AssessmentError::UnsupportedMediaType),
        }
    }
}

/// What the analyser runs with: the CLI's defaults (risk analysis with the built-in tracker
/// database and vendor catalog, signatures verified, default container limits), judged with the
/// active policy's `jurisdictions_of_concern` and vendor catalog (the built-in one with the
/// policy's own `[[vendors]]` merged in), as `interdict assess --policy FILE` does.
pub(crate) struct Judging {
    pub(crate) concern: Vec<String>,
    pub(crate) vendors: Option<std::sync::Arc<apk_analysis::risk::VendorCatalog>>,
}

fn options(judging: &Judging) -> Options {
    static BASE: OnceLock<Options> = OnceLock::new();
    let base = BASE.get_or_init(|| Options {
        risk: Some(apk_analysis::risk::RiskConfig::default()),
        ..Options::default()
    });
    let mut o = base.clone();
    if let Some(r) = o.risk.as_mut() {
        if let Some(v) = &judging.vendors {
            r.vendors = v.clone();
        }
        for c in &judging.concern {
            // A code that is not ISO 3166-1 alpha-2 is left out; the rest still count.
            r.add_concern(c);
        }
    }
    o
}

/// At most one analysis (or upload hash) per core at a time, so uploads never starve the
/// check-in path of CPU; the rest wait their turn.
fn cpu_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        tokio::sync::Semaphore::new(n)
    })
}

/// Runs CPU-bound work on the blocking pool, in one of the [`cpu_slots`].
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _slot = cpu_slots()
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AssessmentError::Api(ApiError::Internal(format!("analysis task: {e}"))))
}

/// Analyses an IPA (sniffed by content: a ZIP with `Payload/*.app/` and no Android manifest).
fn analyse_ipa(data: &[u8], file: FileInfo, base: &Options) -> Result<NewAssessment> {
    let options = ipa_analysis::Options {
        limits: base.limits,
        risk: base.risk.clone(),
        ..ipa_analysis::Options::default()
    };
    let sha256 = file.sha256.clone();
    let report = ipa_analysis::assess_with_file(file, data, &options).map_err(|e| {
        AssessmentError::Unassessable {
            code: e.code(),
            message: e.to_string(),
        }
    })?;
    let risk = report
        .risk
        .as_ref()
        .ok_or_else(|| ApiError::Internal("risk analysis did not run".into()))?;
    Ok(NewAssessment {
        sha256,
        app_id: Some(report.app.bundle_id.clone()).filter(|p| !p.is_empty()),
        version_name: report.app.version.clone(),
        version_code: report.app.build.as_deref().and_then(|b| b.parse().ok()),
        verdict: risk.verdict.to_string(),
        score: Some(i64::from(risk.score)),
        size: i64::try_from(data.len()).unwrap_or(i64::MAX),
        report_json: serde_json::to_string(&report)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    })
}

/// Analyses `data` (an APK, or an IPA) and takes out what is stored beside the report.
fn analyse(data: &[u8], sha256: String, judging: &Judging) -> Result<NewAssessment> {
    let options = options(judging);
    let file = FileInfo {
        path: UPLOAD_NAME.to_string(),
        size: data.len() as u64,
        sha256: sha256.clone(),
    };
    if ipa_analysis::is_ipa(data) {
        return analyse_ipa(data, file, &options);
    }
    let report = apk_analysis::assess_with_file(file, data, &options).map_err(|e| {
        AssessmentError::Unassessable {
            code: e.code(),
            message: e.to_string(),
        }
    })?;
    let risk = report
        .risk
        .as_ref()
        .ok_or_else(|| ApiError::Internal("risk analysis did not run".into()))?;
    let app = &report.app;
    Ok(NewAssessment {
        sha256,
        app_id: Some(app.package.clone()).filter(|p| !p.is_empty()),
        version_name: app.version_name.clone(),
        version_code: app.version_code.and_then(|v| i64::try_from(v).ok()),
        verdict: risk.verdict.to_string(),
        score: Some(i64::from(risk.score)),
        size: i64::try_from(data.len()).unwrap_or(i64::MAX),
        report_json: serde_json::to_string(&report)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()).into())
}

/// What bounds uploads (issue 12 item 3): how many bodies are received at once, and how many
/// bytes of received files are analysed at once.
pub(crate) struct UploadLimits {
    receiving: tokio::sync::Semaphore,
    /// Permits are MiB of files under analysis.
    analysing: tokio::sync::Semaphore,
    budget_mib: u32,
}

impl UploadLimits {
    pub(crate) fn new(c: &crate::Config) -> UploadLimits {
        let budget_mib = u32::try_from((c.analysis_memory_bytes >> 20).max(1)).unwrap_or(u32::MAX);
        UploadLimits {
            receiving: tokio::sync::Semaphore::new(c.max_concurrent_uploads.max(1)),
            analysing: tokio::sync::Semaphore::new(budget_mib as usize),
            budget_mib,
        }
    }
}

/// Reads a received upload back for the analysis, into an anonymous mapping of exactly its
/// size (a heap buffer of that size would stay with the allocator's per-thread arenas after it
/// is freed; a mapping goes back to the system at once). Done only inside the analysis memory
/// budget.
fn read_upload(r: &mut Received) -> std::io::Result<memmap2::Mmap> {
    use std::io::{Read as _, Seek as _};
    let len = usize::try_from(r.size)
        .map_err(|_| std::io::Error::other("upload larger than the address space"))?;
    let mut map = memmap2::MmapMut::map_anon(len.max(1))?;
    r.file.rewind()?;
    r.file.read_exact(&mut map[..len])?;
    map.make_read_only()
}

/// A received upload: an unlinked temporary file (gone with the last handle, even on a crash),
/// its size and SHA-256.
struct Received {
    file: std::fs::File,
    size: u64,
    sha256: String,
}

/// Streams the body into a temporary file while hashing it, refusing it (413) as soon as it
/// passes `max` bytes, whether it announced its length or is chunked.
async fn receive(body: axum::body::Body, max: usize) -> Result<Received> {
    use futures_util::StreamExt as _;
    use sha2::Digest as _;
    use tokio::io::AsyncWriteExt as _;
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| ApiError::Internal(format!("temporary file task: {e}")))?
        .map_err(|e| {
            ApiError::Internal(format!(
                "cannot create a temporary file for the upload (check TMPDIR): {e}"
            ))
        })?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| AssessmentError::BadRequest(format!("reading the body: {e}")))?;
        size += chunk.len() as u64;
        if size > max as u64 {
            return Err(ApiError::TooLarge(max).into());
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(|e| {
            ApiError::Internal(format!("writing the upload to a temporary file: {e}"))
        })?;
    }
    out.flush()
        .await
        .map_err(|e| ApiError::Internal(format!("writing the upload to a temporary file: {e}")))?;
    let file = out.into_inner().into_std().await;
    Ok(Received {
        file,
        size,
        sha256: hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    })
}

/// `POST /api/v1/assessments`: the body is streamed to a temporary file (never held in
/// memory while it arrives), at most `max_concurrent_uploads` at once (503 with `Retry-After`
/// beyond); the file is read back for the analysis only once its size fits in the analysis
/// memory budget.
pub(crate) async fn upload(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    _: ApkContentType,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>)> {
    let max = state.config.max_upload_bytes;
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return Err(ApiError::TooLarge(max).into());
    }
    let limits = state.uploads.clone();
    let Ok(_receiving) = limits.receiving.try_acquire() else {
        return Err(ApiError::Busy(5, "too many uploads are being received").into());
    };
    let received = receive(body, max).await?;
    if received.size == 0 {
        return Err(AssessmentError::BadRequest(
            "empty body: send the APK file's bytes".into(),
        ));
    }
    let sha256 = received.sha256.clone();
    if let Some(row) = state.store.assessment_by_sha256(&sha256).await? {
        return Ok((StatusCode::OK, Json(to_json(&row)?)));
    }
    let judging = match state.active_policy() {
        Some(p) => Judging {
            concern: p.concern.clone(),
            vendors: Some(p.vendors.clone()),
        },
        None => Judging {
            concern: Vec::new(),
            vendors: None,
        },
    };
    let mib = u32::try_from(received.size.div_ceil(1 << 20))
        .unwrap_or(u32::MAX)
        .clamp(1, limits.budget_mib);
    let _budget = limits
        .analysing
        .acquire_many(mib)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let new = blocking(move || {
        let mut received = received;
        let received_len = usize::try_from(received.size).unwrap_or(0);
        let data = read_upload(&mut received)
            .map_err(|e| ApiError::Internal(format!("reading the uploaded file back: {e}")))?;
        drop(received);
        analyse(&data[..received_len], sha256, &judging)
    })
    .await??;
    let (row, created) = state.store.create_assessment(&new, &p.id).await?;
    let status = if created {
        // Intel that arrived before this upload: match it now (recorded with an
        // `intel.matched` event, listed by `GET /api/v1/intel/matches`). The assessment is
        // stored already, so a failure here is logged, not answered.
        let report = storage::StoredReport {
            id: row.id.clone(),
            app_id: row.app_id.clone(),
            sha256: row.sha256.clone(),
            report_json: new.report_json,
        };
        if let Err(e) = crate::intel::match_new_assessment(&state, report, &p.id).await {
            tracing::warn!(error = ?e, assessment = %row.id, "matching a new assessment against stored intel");
        }
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_json(&row)?)))
}

/// `GET /api/v1/assessments`.
pub(crate) async fn list(
    State(state): State<AppState>,
    q: std::result::Result<Query<AssessmentFilter>, QueryRejection>,
) -> Result<Json<Value>> {
    let Query(mut f) = q.map_err(|e| AssessmentError::BadRequest(e.body_text()))?;
    if let Some(v) = &f.verdict {
        if !VERDICTS.contains(&v.as_str()) {
            return Err(AssessmentError::BadRequest(format!(
                "unknown verdict {v:?} (one of {})",
                VERDICTS.join(", ")
            )));
        }
    }
    let limit = f.limit.unwrap_or(100).clamp(1, 1000);
    f.limit = Some(limit);
    let rows = match state.store.list_assessments(&f).await {
        Err(StorageError::NotFound) => {
            return Err(AssessmentError::BadRequest(
                "`after` names no assessment".into(),
            ))
        }
        r => r?,
    };
    let next_after = match rows.last() {
        Some(last) if i64::try_from(rows.len()) == Ok(limit) => Some(last.id.clone()),
        _ => None,
    };
    Ok(Json(
        json!({"assessments": to_json(&rows)?, "next_after": next_after}),
    ))
}

/// `GET /api/v1/assessments/{id}`.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let (row, report) = state.store.assessment(&id).await?;
    let report: Value = serde_json::from_str(&report)
        .map_err(|e| ApiError::Internal(format!("stored report {id}: {e}")))?;
    let mut out = to_json(&row)?;
    if let Some(obj) = out.as_object_mut() {
        obj.insert("report".into(), report);
    }
    Ok(Json(out))
}
