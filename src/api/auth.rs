//! Authentication as ServiceStack's JWT provider does it: a token from
//! `Authorization: Bearer` or the `ss-tok` cookie, verified with the configured key and
//! algorithm, `exp`/`nbf` checked with at most 60 s leeway, issuer and audience when set.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// The largest clock skew tolerated on `exp` and `nbf`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// The role every session endpoint requires.
pub const USER_ROLE: &str = "User";

/// The name of ServiceStack's JWT cookie.
pub const TOKEN_COOKIE: &str = "ss-tok";

/// Why an authenticator could not be built from the given settings.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither a secret nor a public key was given.
    #[error(
        "no JWT verification key: pass --jwt-secret SECRET (or set SESSIOND_JWT_SECRET) for HS256 tokens, \
         or --jwt-public-key FILE.pem (or SESSIOND_JWT_PUBLIC_KEY) for RS256/ES256 tokens"
    )]
    NoKey,
    /// Both a secret and a public key were given.
    #[error("give either --jwt-secret or --jwt-public-key, not both")]
    TwoKeys,
    /// The secret is empty.
    #[error("--jwt-secret is empty")]
    EmptySecret,
    /// The PEM is neither an RSA nor a P-256 EC public key.
    #[error("--jwt-public-key is not an RSA or EC public key in PEM form: {0}")]
    BadPublicKey(String),
}

/// How tokens are verified.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// HS256 shared secret.
    pub secret: Option<String>,
    /// PEM public key (RSA for RS256, EC P-256 for ES256).
    pub public_key_pem: Option<Vec<u8>>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
}

/// The verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user id (`sub`), which is the user's endpoint id.
    pub user_id: String,
    /// The token's roles.
    pub roles: Vec<String>,
}

/// The role that passes every role check, as in ServiceStack (`RoleNames.Admin`).
pub const SERVICESTACK_ADMIN_ROLE: &str = "Admin";

impl Principal {
    /// Whether the caller has `role`; `Admin` has every role, as ServiceStack's
    /// `HasAllRoles` rules (case-sensitive, like its `List.Contains`).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r == role || r == SERVICESTACK_ADMIN_ROLE)
    }
}

/// The claims `sessiond token` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perms: Vec<String>,
}

/// The claims read from a verified token; jsonwebtoken checks `exp`, `nbf`, `iss` and
/// `aud` itself, whatever their JSON shape.
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    #[serde(default)]
    sub: String,
    #[serde(default, alias = "Roles", deserialize_with = "string_list")]
    roles: Vec<String>,
}

/// A `roles` claim as ServiceStack reads it: a JSON array of strings, or one string of
/// comma-separated names (`"User,Admin"`), items trimmed and empty ones dropped.
fn string_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<String>),
        One(String),
    }
    let items = match List::deserialize(d)? {
        List::Many(items) => items,
        List::One(s) => s.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect())
}

/// Verifies request credentials.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds an authenticator; refuses settings without exactly one usable key.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let (key, algorithm) = match (&settings.secret, &settings.public_key_pem) {
            (None, None) => return Err(AuthConfigError::NoKey),
            (Some(_), Some(_)) => return Err(AuthConfigError::TwoKeys),
            (Some(s), None) if s.is_empty() => return Err(AuthConfigError::EmptySecret),
            (Some(s), None) => (DecodingKey::from_secret(s.as_bytes()), Algorithm::HS256),
            (None, Some(pem)) => match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (key, Algorithm::RS256),
                Err(_) => DecodingKey::from_ec_pem(pem)
                    .map(|key| (key, Algorithm::ES256))
                    .map_err(|e| AuthConfigError::BadPublicKey(e.to_string()))?,
            },
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = MAX_LEEWAY.as_secs();
        validation.validate_nbf = true;
        // jsonwebtoken checks `iss`/`aud` only when the token has them: a configured
        // issuer or audience must also make the claim required.
        let mut required = HashSet::from(["exp".to_owned(), "sub".to_owned()]);
        match &settings.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &settings.issuer {
            validation.set_issuer(&[iss]);
            required.insert("iss".to_owned());
        }
        validation.required_spec_claims = required;
        Ok(Self { key, validation })
    }

    /// Verifies the request's token and returns the caller.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let token = token_from(headers).ok_or(ApiError::NotAuthenticated)?;
        let data = jsonwebtoken::decode::<VerifiedClaims>(token, &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                _ => ApiError::TokenInvalid,
            })?;
        if data.claims.sub.is_empty() {
            return Err(ApiError::TokenInvalid);
        }
        Ok(Principal {
            user_id: data.claims.sub,
            roles: data.claims.roles,
        })
    }

    /// Verifies the token and requires `role`.
    pub fn require_role(&self, headers: &HeaderMap, role: &str) -> Result<Principal, ApiError> {
        self.require_any_role(headers, &[role])
    }

    /// Verifies the token and requires at least one of `roles`.
    pub fn require_any_role(
        &self,
        headers: &HeaderMap,
        roles: &[&str],
    ) -> Result<Principal, ApiError> {
        let principal = self.authenticate(headers)?;
        if roles.iter().any(|role| principal.has_role(role)) {
            Ok(principal)
        } else {
            Err(ApiError::InvalidRole)
        }
    }
}

/// The bearer token from `Authorization`, else the `ss-tok` cookie.
fn token_from(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // A present Authorization header that is not a bearer token (Basic, say) is not
        // credentials this service accepts, whatever cookies say.
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .then(|| token.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// What `sessiond token` needs to mint a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// HS256 secret.
    pub secret: String,
    /// The user id.
    pub sub: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Lifetime from now.
    pub ttl: Duration,
    /// `iss`, when wanted.
    pub issuer: Option<String>,
    /// `aud`, when wanted.
    pub audience: Option<String>,
}

/// Mints an HS256 token, for demos and tests.
pub fn mint_token(req: &TokenRequest) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub: req.sub.clone(),
        exp: now.saturating_add(req.ttl.as_secs()),
        iat: Some(now),
        iss: req.issuer.clone(),
        aud: req.audience.clone(),
        name: None,
        roles: req.roles.clone(),
        perms: Vec::new(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(req.secret.as_bytes()),
    )
}
