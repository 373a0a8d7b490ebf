//! Accounts and API tokens over HTTP (admins): users created, disabled, re-enabled, their
//! role changed, their sessions ended; tokens created for an account, listed and revoked.
//! Each change is one storage call that writes its event with the actor and the source.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use storage::{ApiPrincipal, NewUser, Role};

use crate::handlers::{body, to_json, ApiResult};
use crate::session::Source;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserBody {
    #[serde(default)]
    email: Option<String>,
    display_name: String,
    role: Role,
    /// Initial local password (persons); none: single sign-on only, or set later.
    #[serde(default)]
    password: Option<String>,
    /// A service account: acts only through tokens.
    #[serde(default)]
    service: bool,
}

pub(crate) async fn list_users(State(state): State<AppState>) -> ApiResult {
    to_json(&state.store.users().await?)
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
    b: Result<Json<NewUserBody>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    let password_hash = match b.password {
        None => None,
        Some(pw) => Some(
            tokio::task::spawn_blocking(move || storage::hash_password(&pw))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(|e| ApiError::Invalid(format!("password: {e}")))?,
        ),
    };
    let user = state
        .store
        .create_user(
            &NewUser {
                service: b.service,
                email: b.email,
                display_name: b.display_name,
                role: b.role,
                password_hash,
            },
            &src.audit(&p.id),
        )
        .await?;
    to_json(&user)
}

fn not_self(p: &ApiPrincipal, id: &str, what: &str) -> Result<(), ApiError> {
    if p.id == id {
        return Err(ApiError::Conflict(format!(
            "you cannot {what} your own account; ask another admin"
        )));
    }
    Ok(())
}

pub(crate) async fn disable_user(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
    Path(id): Path<String>,
) -> ApiResult {
    not_self(&p, &id, "disable")?;
    to_json(
        &state
            .store
            .set_user_active(&id, false, &src.audit(&p.id))
            .await?,
    )
}

pub(crate) async fn enable_user(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(
        &state
            .store
            .set_user_active(&id, true, &src.audit(&p.id))
            .await?,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleBody {
    role: Role,
}

impl RoleBody {
    /// A role change from the dashboard's form.
    pub(crate) fn new(role: Role) -> Self {
        RoleBody { role }
    }
}

pub(crate) async fn set_role(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
    Path(id): Path<String>,
    b: Result<Json<RoleBody>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    not_self(&p, &id, "change the role of")?;
    to_json(
        &state
            .store
            .set_user_role(&id, b.role, &src.audit(&p.id))
            .await?,
    )
}

pub(crate) async fn sign_out_user(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
    Path(id): Path<String>,
) -> ApiResult {
    let n = state.store.end_all_sessions(&id, &src.audit(&p.id)).await?;
    Ok(Json(json!({"user_id": id, "sessions_ended": n})))
}

pub(crate) async fn list_tokens(State(state): State<AppState>) -> ApiResult {
    to_json(&state.store.api_tokens(None).await?)
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
    Path(id): Path<String>,
) -> ApiResult {
    state.store.revoke_token(&id, &src.audit(&p.id)).await?;
    Ok(Json(json!({"revoked": id})))
}
