//! Single sign-on with OpenID Connect: the authorization code flow with PKCE, `state` and
//! `nonce` (the `openidconnect` crate), discovery from the issuer URL (done at the first
//! sign-in and kept), the ID token's signature and claims validated, a claim (e.g. `groups`)
//! mapped to a role, and the person linked to their account by verified email (so a local
//! account and an SSO identity with the same email are one person). Just-in-time creation of
//! accounts is off unless configured.
//!
//! `GET /api/v1/sso/login?next=/path` stores the attempt (state hash, nonce, PKCE verifier)
//! in the database, sets a short-lived cookie binding it to this browser, and redirects to
//! the provider. `GET /api/v1/sso/callback` takes the attempt once (a replayed state finds
//! nothing), exchanges the code with the PKCE verifier, validates the ID token against the
//! nonce, and starts a session.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IdToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use storage::Role;
use tokio::sync::OnceCell;

use crate::session::Source;
use crate::{ApiError, AppState};

/// The cookie binding an SSO attempt to the browser that started it.
const SSO_COOKIE: &str = "interdict_sso";
/// How long an attempt may take, from redirect to callback.
const ATTEMPT_MS: i64 = 10 * 60 * 1000;

/// `[sso]` in `server.toml`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Issuer URL (discovery at `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// Client id registered with the provider.
    pub client_id: String,
    /// The client secret itself (set by the server from `client_secret_file` or
    /// `client_secret_env`; never written in `server.toml`).
    #[serde(skip)]
    pub client_secret: String,
    /// A file whose first line is the client secret.
    #[serde(default)]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// An environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// This server's callback URL, as registered: `https://HOST/api/v1/sso/callback`.
    pub redirect_url: String,
    /// Scopes besides `openid` (default: `email`, `profile`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim whose values map to roles (a string or an array of strings).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim value → role; the highest role among the person's values wins. A person with no
    /// mapped value cannot sign in.
    pub roles: BTreeMap<String, Role>,
    /// Create an account at first sign-in (default off: an admin adds people first, with
    /// `interdict user add --sso-only`).
    #[serde(default)]
    pub create_accounts: bool,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the client secret.
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("role_claim", &self.role_claim)
            .field("roles", &self.roles)
            .field("create_accounts", &self.create_accounts)
            .finish_non_exhaustive()
    }
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_role_claim() -> String {
    "groups".into()
}

/// Every claim besides the standard ones, kept as JSON for the role mapping.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims(pub BTreeMap<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

type RawIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a valid ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, present and verified (`email_verified` true).
    pub email: Option<String>,
    /// `name`.
    pub name: String,
    /// The role claim's values.
    pub groups: Vec<String>,
}

/// Why single sign-on failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Configuration or discovery.
    #[error("single sign-on is misconfigured: {0}")]
    Config(String),
    /// The provider could not be reached or answered badly.
    #[error("the identity provider failed: {0}")]
    Provider(String),
    /// The ID token failed validation (signature, issuer, audience, expiry, nonce).
    #[error("the ID token is not valid: {0}")]
    Token(String),
}

/// A configured, discovered provider.
pub struct Oidc {
    config: OidcConfig,
    metadata: OnceCell<CoreProviderMetadata>,
    http: openidconnect::reqwest::Client,
}

impl Oidc {
    /// A provider from its configuration (discovery happens at first use).
    pub fn new(config: OidcConfig) -> Result<Oidc, OidcError> {
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| OidcError::Config(format!("issuer: {e}")))?;
        RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| OidcError::Config(format!("redirect_url: {e}")))?;
        if config.roles.is_empty() {
            return Err(OidcError::Config(
                "[sso.roles] maps no claim value to a role".into(),
            ));
        }
        let http = openidconnect::reqwest::ClientBuilder::new()
            // The OAuth flow never follows redirects (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(Oidc {
            config,
            metadata: OnceCell::new(),
            http,
        })
    }

    /// The provider's discovered metadata (fetched once).
    pub async fn metadata(&self) -> Result<&CoreProviderMetadata, OidcError> {
        self.metadata
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|e| OidcError::Config(e.to_string()))?;
                CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| OidcError::Provider(format!("discovery: {e}")))
            })
            .await
    }

    /// Validates a raw ID token (signature with the provider's keys, issuer, audience,
    /// expiry, nonce) as of `now` (None: the clock), and reads the identity.
    pub async fn verify_id_token(
        &self,
        raw: &str,
        nonce: &str,
        now: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Identity, OidcError> {
        let md = self.metadata().await?;
        let token =
            RawIdToken::from_str(raw).map_err(|e| OidcError::Token(format!("malformed: {e}")))?;
        let mut verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.config.client_id.clone()),
            ClientSecret::new(self.config.client_secret.clone()),
            IssuerUrl::new(self.config.issuer.clone())
                .map_err(|e| OidcError::Config(e.to_string()))?,
            md.jwks().clone(),
        );
        if let Some(t) = now {
            verifier = verifier.set_time_fn(move || t);
        }
        let claims = token
            .claims(&verifier, &Nonce::new(nonce.to_string()))
            .map_err(|e| OidcError::Token(e.to_string()))?;
        let email = claims
            .email()
            .filter(|_| claims.email_verified() == Some(true))
            .map(|e| e.as_str().to_string());
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        let groups = match claims.additional_claims().0.get(&self.config.role_claim) {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .take(1000)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Identity {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            email,
            name,
            groups,
        })
    }

    /// The highest role mapped from the identity's claim values.
    pub fn role_for(&self, id: &Identity) -> Option<Role> {
        id.groups
            .iter()
            .filter_map(|g| self.config.roles.get(g).copied())
            .max()
    }

    fn redirect(&self) -> Result<RedirectUrl, OidcError> {
        RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| OidcError::Config(e.to_string()))
    }

    /// The provider's authorization URL for a new attempt, with its state, nonce and PKCE
    /// verifier.
    fn start(
        &self,
        md: &CoreProviderMetadata,
    ) -> Result<(String, CsrfToken, Nonce, PkceCodeVerifier), OidcError> {
        let client = CoreClient::from_provider_metadata(
            md.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect()?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.config.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok((url.to_string(), state, nonce, verifier))
    }

    /// Exchanges the code (with the PKCE verifier) for the raw ID token.
    async fn exchange(
        &self,
        md: &CoreProviderMetadata,
        code: String,
        verifier: String,
    ) -> Result<String, OidcError> {
        let client = CoreClient::from_provider_metadata(
            md.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect()?);
        let req = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier));
        let resp = req
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Provider(format!("token endpoint: {e}")))?;
        resp.id_token()
            .map(|t| t.to_string())
            .ok_or_else(|| OidcError::Provider("the token response has no ID token".into()))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

fn sso(state: &AppState) -> Result<Arc<Oidc>, ApiError> {
    state.oidc.clone().ok_or(ApiError::NotFound)
}

fn provider_error(e: OidcError) -> ApiError {
    tracing::warn!(error = %e, "single sign-on failed");
    match e {
        OidcError::Token(m) => ApiError::Forbidden(format!(
            "single sign-on refused: the ID token is not valid ({m})"
        )),
        OidcError::Config(_) | OidcError::Provider(_) => ApiError::Unavailable,
    }
}

/// `GET /api/v1/sso/login?next=/path`.
pub(crate) async fn login(
    State(state): State<AppState>,
    src: Source,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let oidc = sso(&state)?;
    // Each attempt stores a row: bounded per address (60 per throttling window).
    let window = state.config.session.failure_window;
    if let Some(wait) = state
        .accounts
        .over(&format!("sso:{}", src.address), 60, window)
    {
        return Ok(crate::session::too_many(wait));
    }
    let Query(q) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let next = q.next.unwrap_or_else(|| "/".into());
    if !crate::session::safe_next(&next) {
        let shown: String = next.chars().take(256).collect();
        state
            .store
            .record_security_event(
                "session.open_redirect_refused",
                "anonymous",
                json!({"next": shown}),
                &src.audit("anonymous"),
            )
            .await?;
        return Err(ApiError::Invalid(
            "next must be a path on this site (starting with one /)".into(),
        ));
    }
    let md = oidc.metadata().await.map_err(provider_error)?;
    let (url, csrf, nonce, verifier) = oidc.start(md).map_err(provider_error)?;
    state
        .store
        .put_sso_pending(
            csrf.secret(),
            &storage::SsoPending {
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                next,
            },
            ATTEMPT_MS,
        )
        .await?;
    let secure = if state.accounts.secure {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SSO_COOKIE}={}; Path=/api/v1/sso; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
        storage::hash_secret(csrf.secret())
    );
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(
        LOCATION,
        HeaderValue::from_str(&url).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    h.insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn sso_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| *n == SSO_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// `GET /api/v1/sso/callback?code=&state=`.
pub(crate) async fn callback(
    State(state): State<AppState>,
    src: Source,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let oidc = sso(&state)?;
    let Query(q) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let audit = src.audit("anonymous");
    let fail = |reason: String| {
        let state = state.clone();
        let audit = audit.clone();
        async move {
            crate::bump(&state.metrics.auth_failures);
            state
                .store
                .record_sign_in_failure(None, "sso", &reason, &audit)
                .await
        }
    };
    if let Some(e) = q.error {
        let e: String = e.chars().take(100).collect();
        fail(format!("oidc_provider_error: {e}")).await?;
        return Err(ApiError::Forbidden(format!(
            "the identity provider refused the sign-in ({e})"
        )));
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err(ApiError::Invalid("code and state are required".into()));
    };
    if code.len() > 4096 || st.len() > 512 {
        return Err(ApiError::Invalid("code or state too long".into()));
    }
    // The attempt must have been started by this browser, and works once.
    let bound = sso_cookie(&headers)
        .is_some_and(|c| storage::secrets_equal(&c, &storage::hash_secret(&st)));
    let pending = state.store.take_sso_pending(&st, ATTEMPT_MS).await?;
    let (Some(pending), true) = (pending, bound) else {
        fail("oidc_state_unknown_or_replayed".into()).await?;
        return Err(ApiError::Forbidden(
            "single sign-on refused: unknown, expired or already used state; start again".into(),
        ));
    };
    let md = oidc.metadata().await.map_err(provider_error)?;
    let raw = match oidc.exchange(md, code, pending.pkce_verifier).await {
        Ok(r) => r,
        Err(e) => {
            fail(format!("oidc_code_exchange: {e}")).await?;
            return Err(provider_error(e));
        }
    };
    let id = match oidc.verify_id_token(&raw, &pending.nonce, None).await {
        Ok(id) => id,
        Err(e) => {
            fail(format!("oidc_id_token: {e}")).await?;
            return Err(provider_error(e));
        }
    };
    let Some(email) = id.email.clone() else {
        fail(format!("oidc_no_verified_email: {}", id.subject)).await?;
        return Err(ApiError::Forbidden(
            "single sign-on refused: the provider gave no verified email".into(),
        ));
    };
    let Some(role) = oidc.role_for(&id) else {
        fail(format!("oidc_no_role_mapped: {email}")).await?;
        return Err(ApiError::Forbidden(
            "single sign-on refused: none of your groups is mapped to a role here".into(),
        ));
    };
    let user = state
        .store
        .sso_account(
            &email,
            &id.name,
            role,
            oidc.config.create_accounts,
            &src.audit("sso"),
        )
        .await?;
    let Some(user) = user else {
        fail(format!("oidc_no_account: {email}")).await?;
        return Err(ApiError::Forbidden(
            "single sign-on refused: no active account for this identity; ask an admin".into(),
        ));
    };
    let cfg = &state.config.session;
    let absolute = i64::try_from(cfg.absolute.as_millis()).unwrap_or(i64::MAX);
    let secret = state
        .store
        .start_session(&user.id, "oidc", absolute, &src.audit(&user.id))
        .await?;
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(
        LOCATION,
        HeaderValue::from_str(&pending.next).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    h.append(
        SET_COOKIE,
        crate::session::cookie_header(&state, &secret, cfg.absolute.as_secs())?,
    );
    h.append(
        SET_COOKIE,
        HeaderValue::from_static("interdict_sso=; Path=/api/v1/sso; Max-Age=0"),
    );
    Ok(r)
}
