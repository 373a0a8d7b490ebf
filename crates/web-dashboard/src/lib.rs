//! The web dashboard of `interdict serve`: server-rendered pages in English and French over
//! the API server's read models and session sign-in.
//!
//! * [`router`] builds the pages' router over the server's state; the API server merges it
//!   under `/` (through `Config::pages`), beside the API under `/api/v1`.
//! * Templates are askama files compiled into the binary (`templates/`); every text comes
//!   from the two catalogues (`i18n/en.txt`, `i18n/fr.txt`, see [`i18n`]).
//! * Every page works without JavaScript (plain links and forms); the one script is a pinned,
//!   vendored htmx (`assets/`), served from the binary, used for partial updates only.
//! * Every answer carries a `Content-Security-Policy` of `default-src 'self'` (no inline
//!   script or style), and hostile names are cleaned and cut ([`text::clip`]) before the
//!   template escapes them.

#![forbid(unsafe_code)]

mod activity;
mod admin;
mod assessments;
pub mod i18n;
mod pages;
mod policy;
pub mod svg;
pub mod text;

use api_server::storage::{ApiPrincipal, Role};
use api_server::web::SignInFailure;
use api_server::{ApiError, AppState};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::i18n::{Lang, Tr, LANG_COOKIE};

/// The vendored htmx file's path (the version is in the name: cached for a year).
pub const HTMX_PATH: &str = "/assets/htmx-2.0.11.min.js";
const HTMX: &str = include_str!("../assets/htmx-2.0.11.min.js");
/// The stylesheet's path (versioned in the name like htmx).
pub const CSS_PATH: &str = "/assets/style-1.css";
const CSS: &str = include_str!("../assets/style.css");

/// The `Content-Security-Policy` of every page.
pub const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'self'; object-src 'none'";

/// The pages' router over the server's state (pass `router` as `Config::pages`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/rules/{rule}", get(pages::rule))
        .route("/rules/{rule}/exposure.csv", get(pages::rule_csv))
        .route("/rules/{rule}/exposure.json", get(pages::rule_json))
        .route("/devices", get(pages::devices))
        .route("/devices/{id}", get(pages::device))
        .route(
            "/exceptions",
            get(pages::exceptions).post(pages::request_exception),
        )
        .route(
            "/exceptions/{id}/{decision}",
            axum::routing::post(pages::decide_exception),
        )
        .route(
            "/policy",
            get(policy::policy)
                .post(policy::publish)
                .layer(axum::extract::DefaultBodyLimit::max(
                    state.max_policy_bytes() + 64 * 1024,
                )),
        )
        .route("/policy/versions/{version}", get(policy::version))
        .route("/policy/diff", get(policy::diff))
        .route("/activity", get(activity::activity))
        .route("/activity.csv", get(activity::activity_csv))
        .route("/admin", get(admin::admin))
        .route(
            "/admin/users/{id}/role",
            axum::routing::post(admin::set_role),
        )
        .route(
            "/admin/tokens/{id}/revoke",
            axum::routing::post(admin::revoke_token),
        )
        .route(
            "/admin/enroll-secret/rotate",
            axum::routing::post(admin::rotate),
        )
        .route("/admin/stale-window", axum::routing::post(admin::set_stale))
        .route(
            "/assessments",
            get(assessments::list).post(assessments::upload).layer(
                axum::extract::DefaultBodyLimit::max(state.max_upload_bytes() + 64 * 1024),
            ),
        )
        .route("/assessments/{id}", get(assessments::report))
        .route(
            "/assessments/{id}/report.json",
            get(assessments::report_json),
        )
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out))
        .route("/lang/{lang}", get(switch_lang))
        .route(HTMX_PATH, get(htmx))
        .route(CSS_PATH, get(css))
        .fallback(fallback)
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn asset(body: &'static str, ty: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, ty),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn htmx() -> Response {
    asset(HTMX, "text/javascript; charset=utf-8")
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// What every page's layout needs: the language, who is signed in, and where the language
/// switcher goes.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Texts of the page's language.
    pub tr: Tr,
    /// The signed-in person (none on the sign-in and error pages before sign-in).
    pub user: Option<ApiPrincipal>,
    /// "Signed in as ..." in words.
    pub signed_in: String,
    /// The switcher's link (to the same page in the other language).
    pub switch_href: String,
    /// The path and query of this page.
    pub here: String,
}

impl Ctx {
    /// Whether the signed-in person is an admin (the Administration link).
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role >= Role::Admin)
    }

    fn new(parts: &Parts, user: Option<ApiPrincipal>) -> Ctx {
        let tr = Tr {
            lang: Lang::of(&parts.headers),
        };
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let switch_href = format!(
            "/lang/{}?next={}",
            tr.lang.other().code(),
            url_encode(&here)
        );
        let signed_in = user
            .as_ref()
            .map(|u| tr.f2("nav.signed_in", &text::show(&u.name), &u.role.as_str()))
            .unwrap_or_default();
        Ctx {
            tr,
            user,
            signed_in,
            switch_href,
            here,
        }
    }
}

/// Percent-encodes everything but unreserved characters (query values).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A page's failure, rendered as a whole page in the request's language.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: to the sign-in page, then back.
    SignIn(String),
    /// 403 for a role too weak (`have`, `need`).
    Role(Ctx, Role, Role),
    /// 403 for an action refused for another reason (two-person rule ...), in words.
    Refused(Ctx, String),
    /// 404.
    NotFound(Ctx),
    /// 500 (logged).
    Internal(Ctx, String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Ctx,
    title: String,
    body: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, c, title, body) = match self {
            PageError::SignIn(next) => {
                let to = format!("/sign-in?next={}", url_encode(&next));
                return (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response();
            }
            PageError::Role(c, have, need) => {
                let title = c.tr.t("error.403.title").to_string();
                let body = c.tr.f2("error.403.body", &have.as_str(), &need.as_str());
                (StatusCode::FORBIDDEN, c, title, body)
            }
            PageError::Refused(c, why) => {
                let title = c.tr.t("error.403.title").to_string();
                let body = c.tr.f1("error.403.action", &text::clip(&why, 300));
                (StatusCode::FORBIDDEN, c, title, body)
            }
            PageError::NotFound(c) => {
                let title = c.tr.t("error.404.title").to_string();
                let body = c.tr.t("error.404.body").to_string();
                (StatusCode::NOT_FOUND, c, title, body)
            }
            PageError::Internal(c, detail) => {
                tracing::error!(%detail, "dashboard page failed");
                let title = c.tr.t("error.500.title").to_string();
                let body = c.tr.t("error.500.body").to_string();
                (StatusCode::INTERNAL_SERVER_ERROR, c, title, body)
            }
        };
        (status, render(&ErrorPage { c, title, body })).into_response()
    }
}

/// Renders a template (a template error is a plain 500: it cannot happen with compiled
/// templates short of a formatting failure).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The signed-in person with at least `min`, and the page context; otherwise the error page.
pub async fn signed_in(state: &AppState, parts: &Parts, min: Role) -> Result<Ctx, PageError> {
    let p = match state.principal(parts).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(ApiError::Unauthorized) => {
            return Err(PageError::SignIn(Ctx::new(parts, None).here))
        }
        Err(ApiError::Forbidden(why)) => {
            return Err(PageError::Refused(Ctx::new(parts, None), why))
        }
        Err(e) => return Err(PageError::Internal(Ctx::new(parts, None), e.to_string())),
    };
    let role = p.role;
    let c = Ctx::new(parts, Some(p));
    if role < min {
        return Err(PageError::Role(c, role, min));
    }
    Ok(c)
}

/// Maps an API error on a page to its page.
pub fn api_error(c: Ctx, e: ApiError) -> PageError {
    match e {
        ApiError::NotFound => PageError::NotFound(c),
        ApiError::Forbidden(m) | ApiError::Conflict(m) => PageError::Refused(c, m),
        other => PageError::Internal(c, other.to_string()),
    }
}

async fn fallback(State(state): State<AppState>, parts: Parts) -> Response {
    if parts.uri.path().starts_with("/api/") {
        return ApiError::NotFound.into_response();
    }
    let user = state.principal(&parts).await.ok().flatten();
    PageError::NotFound(Ctx::new(&parts, user)).into_response()
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// A post-sign-in or post-switch destination on this site, else `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

async fn switch_lang(Path(lang): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let Some(lang) = Lang::parse(&lang) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, safe_next(q.next.as_deref())),
            (SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    c: Ctx,
    next: String,
    email: String,
    error: Option<String>,
}

async fn sign_in_page(parts: Parts, Query(q): Query<NextQuery>) -> Response {
    let c = Ctx::new(&parts, None);
    render(&SignInPage {
        c,
        next: safe_next(q.next.as_deref()),
        email: String::new(),
        error: None,
    })
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    parts: Parts,
    Form(f): Form<SignInForm>,
) -> Response {
    let c = Ctx::new(&parts, None);
    let next = safe_next(f.next.as_deref());
    let error = match state.sign_in(&parts, &f.email, &f.password).await {
        Ok(cookie) => {
            let mut r = (StatusCode::SEE_OTHER, [(LOCATION, next)]).into_response();
            r.headers_mut().insert(SET_COOKIE, cookie);
            return r;
        }
        Err(SignInFailure::Refused) => c.tr.t("signin.refused").to_string(),
        Err(SignInFailure::Throttled(s)) => c.tr.f1("signin.throttled", &s),
        Err(SignInFailure::Other(e)) => {
            tracing::warn!(error = %e, "dashboard sign-in");
            c.tr.t("signin.error").to_string()
        }
    };
    let page = SignInPage {
        c,
        next,
        email: text::clip(&f.email, 320),
        error: Some(error),
    };
    (StatusCode::UNAUTHORIZED, render(&page)).into_response()
}

async fn sign_out(State(state): State<AppState>, parts: Parts) -> Response {
    let p = match state.principal(&parts).await {
        Ok(Some(p)) => p,
        _ => return (StatusCode::SEE_OTHER, [(LOCATION, "/sign-in")]).into_response(),
    };
    let mut r = (StatusCode::SEE_OTHER, [(LOCATION, "/sign-in")]).into_response();
    if let Ok(cookie) = state.sign_out(&parts, &p).await {
        r.headers_mut().insert(SET_COOKIE, cookie);
    }
    r
}
