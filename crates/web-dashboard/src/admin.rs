//! Administration (admin only): users and roles, API tokens, the enrollment secret, and the
//! stale window of the overview. Every change goes through the API server's own code path
//! (events name the admin).

use api_server::storage::{now_ms, Role};
use api_server::AppState;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::pages::{stale_window_s, STALE_WINDOW_KEY};
use crate::text::show;
use crate::{api_error, render, signed_in, url_encode, Ctx, PageError};

type PageResult = Result<Response, PageError>;

const ROLES: [Role; 5] = [
    Role::Auditor,
    Role::Viewer,
    Role::Analyst,
    Role::Approver,
    Role::Admin,
];

pub(crate) struct RoleOpt {
    value: &'static str,
    selected: bool,
}

pub(crate) struct UserRow {
    email: String,
    name: String,
    role: &'static str,
    status: String,
    last: String,
    action: String,
    select_id: String,
    select_label: String,
    roles: Vec<RoleOpt>,
    is_self: bool,
}

pub(crate) struct TokenRow {
    id: String,
    name: String,
    role: &'static str,
    account: String,
    created: String,
    status: &'static str,
    action: Option<String>,
    label: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    c: Ctx,
    as_of: String,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    stale_minutes: String,
    notice: Option<String>,
    error: Option<String>,
    secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdminQuery {
    done: Option<String>,
}

async fn admin_page(
    state: &AppState,
    c: Ctx,
    notice: Option<String>,
    error: Option<String>,
    secret: Option<String>,
) -> PageResult {
    let tr = c.tr;
    let me = c.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    let users = match state.store().users().await {
        Ok(u) => u,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let tokens = match state.store().api_tokens(None).await {
        Ok(t) => t,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let users = users
        .iter()
        .map(|u| {
            let who = show(u.email.as_deref().unwrap_or(&u.display_name));
            UserRow {
                email: show(u.email.as_deref().unwrap_or("")),
                name: show(&u.display_name),
                role: u.role.as_str(),
                status: show(&u.status),
                last: tr.otime(&u.last_sign_in_at),
                action: format!("/admin/users/{}/role", url_encode(&u.id)),
                select_id: format!("role-{}", url_encode(&u.id)),
                select_label: tr.f1("admin.role.label", &who),
                roles: ROLES
                    .iter()
                    .map(|r| RoleOpt {
                        value: r.as_str(),
                        selected: *r == u.role,
                    })
                    .collect(),
                is_self: u.id == me,
            }
        })
        .collect();
    let tokens = tokens
        .iter()
        .map(|t| TokenRow {
            id: show(&t.id),
            name: show(&t.name),
            role: t.role.as_str(),
            account: show(t.user_id.as_deref().unwrap_or("")),
            created: tr.time(&t.created_at),
            status: if t.revoked_at.is_some() {
                tr.t("admin.revoked")
            } else {
                tr.t("admin.active")
            },
            action: t
                .revoked_at
                .is_none()
                .then(|| format!("/admin/tokens/{}/revoke", url_encode(&t.id))),
            label: tr.f1("admin.revoke.label", &show(&t.name)),
        })
        .collect();
    let stale_minutes = (stale_window_s(state).await / 60).to_string();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = AdminPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now_ms())),
        users,
        tokens,
        stale_minutes,
        notice,
        error,
        secret,
        c,
    };
    Ok((status, render(&page)).into_response())
}

pub(crate) async fn admin(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<AdminQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Admin).await?;
    let notice = match q.done.as_deref() {
        Some("role") => Some(c.tr.t("admin.role.done").to_string()),
        Some("stale") => Some(c.tr.f1("admin.stale.saved", &(stale_window_s(&state).await / 60))),
        _ => None,
    };
    admin_page(&state, c, notice, None, None).await
}

fn back(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct RoleForm {
    role: String,
}

pub(crate) async fn set_role(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
    Form(f): Form<RoleForm>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Admin).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/admin".into()));
    };
    let Some(role) = ROLES.iter().copied().find(|r| r.as_str() == f.role) else {
        return Err(PageError::NotFound(c));
    };
    match state.set_user_role(&parts, p, &id, role).await {
        Ok(()) => Ok(back("/admin?done=role")),
        Err(e) => Err(api_error(c, e)),
    }
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Admin).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/admin".into()));
    };
    match state.revoke_token(&parts, p, &id).await {
        Ok(()) => Ok(back("/admin")),
        Err(e) => Err(api_error(c, e)),
    }
}

pub(crate) async fn rotate(State(state): State<AppState>, parts: Parts) -> PageResult {
    let c = signed_in(&state, &parts, Role::Admin).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/admin".into()));
    };
    match state.rotate_enroll_secret(p).await {
        // Shown once, in this answer only (not in a redirect's URL).
        Ok(secret) => {
            let text = c.tr.f1("admin.enroll.new", &secret);
            admin_page(&state, c, None, None, Some(text)).await
        }
        Err(e) => Err(api_error(c, e)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct StaleForm {
    minutes: String,
}

pub(crate) async fn set_stale(
    State(state): State<AppState>,
    parts: Parts,
    Form(f): Form<StaleForm>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Admin).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/admin".into()));
    };
    let minutes = f
        .minutes
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|m| (1..=525_600).contains(m));
    let Some(minutes) = minutes else {
        let msg = c.tr.t("admin.stale.bad").to_string();
        return admin_page(&state, c, None, Some(msg), None).await;
    };
    match state
        .set_setting(&parts, &p, STALE_WINDOW_KEY, &(minutes * 60).to_string())
        .await
    {
        Ok(()) => Ok(back("/admin?done=stale")),
        Err(e) => Err(api_error(c, e)),
    }
}
