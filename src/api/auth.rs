//! Authentication as ServiceStack's JWT provider does it: a token from
//! `Authorization: Bearer` or the `ss-tok` cookie, verified with one of the configured keys
//! (several at once, so keys rotate without downtime; see [`super::keys`]), `exp`/`nbf`
//! checked with at most 60 s leeway, issuer and audience when set.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::keys::{Jwks, VerifyKey};
use super::verified::{self, KeySet, VerifiedTokens};

/// The largest clock skew tolerated on `exp` and `nbf`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// The role every session endpoint requires.
pub const USER_ROLE: &str = "User";

/// The name of ServiceStack's JWT cookie.
pub const TOKEN_COOKIE: &str = "ss-tok";

/// Why an authenticator could not be built from the given settings.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither a secret nor a public key nor a JWKS was given.
    #[error(
        "no JWT verification key: pass --jwt-secret SECRET (or set SESSIOND_JWT_SECRET) for HS256 tokens, \
         --jwt-public-key FILE.pem (or SESSIOND_JWT_PUBLIC_KEY) for RS256/ES256 tokens, \
         or --jwt-jwks FILE|URL (or SESSIOND_JWT_JWKS)"
    )]
    NoKey,
    /// A secret is empty.
    #[error("--jwt-secret is empty")]
    EmptySecret,
    /// The PEM is neither an RSA nor a P-256 EC public key.
    #[error("--jwt-public-key is not an RSA or EC public key in PEM form: {0}")]
    BadPublicKey(String),
}

/// How tokens are verified.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// HS256 shared secrets; any of them verifies.
    pub secrets: Vec<String>,
    /// PEM public keys (RSA for RS256, EC P-256 for ES256); any of them verifies.
    pub public_keys_pem: Vec<Vec<u8>>,
    /// A JWKS whose keys verify too, chosen by `kid`.
    pub jwks: Option<Arc<Jwks>>,
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
    /// When the token expires (`exp`), seconds since the epoch.
    pub expires_at: Option<u64>,
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
    #[serde(default)]
    exp: Option<f64>,
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
    /// The fixed keys (secrets and PEM public keys).
    keys: Vec<VerifyKey>,
    jwks: Option<Arc<Jwks>>,
    validation: Validation,
    /// Shared by clones, which verify alike.
    verified: Arc<VerifiedTokens<Principal>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys)
            .field("jwks", &self.jwks)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused, before it becomes an API error.
enum Refusal {
    /// Its `kid` names no key held (the JWKS may have rotated).
    UnknownKid(String),
    /// Anything else.
    Api(ApiError),
}

impl Authenticator {
    /// Builds an authenticator; refuses settings without a usable key.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let mut keys = Vec::new();
        for secret in &settings.secrets {
            if secret.is_empty() {
                return Err(AuthConfigError::EmptySecret);
            }
            keys.push(VerifyKey {
                kid: None,
                key: DecodingKey::from_secret(secret.as_bytes()),
                algorithm: Algorithm::HS256,
            });
        }
        for pem in &settings.public_keys_pem {
            let (key, algorithm) = match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (key, Algorithm::RS256),
                Err(_) => DecodingKey::from_ec_pem(pem)
                    .map(|key| (key, Algorithm::ES256))
                    .map_err(|e| AuthConfigError::BadPublicKey(e.to_string()))?,
            };
            keys.push(VerifyKey {
                kid: None,
                key,
                algorithm,
            });
        }
        if keys.is_empty() && settings.jwks.is_none() {
            return Err(AuthConfigError::NoKey);
        }
        let mut validation = Validation::new(Algorithm::HS256);
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
        Ok(Self {
            keys,
            jwks: settings.jwks.clone(),
            validation,
            verified: Arc::new(VerifiedTokens::new(verified::CAPACITY, MAX_LEEWAY)),
        })
    }

    /// The JWKS this authenticator reads, to keep it refreshed.
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        self.jwks.as_ref()
    }

    /// Verifies the request's token and returns the caller. A token whose `kid` the JWKS
    /// does not hold is refused here; [`Self::authenticate_fresh`] fetches the JWKS again
    /// for it first.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let token = token_from(headers).ok_or(ApiError::NotAuthenticated)?;
        self.verify(token).map_err(|refusal| match refusal {
            Refusal::UnknownKid(_) => ApiError::TokenInvalid,
            Refusal::Api(error) => error,
        })
    }

    /// [`Self::authenticate`], but a token signed with a key the JWKS did not hold when
    /// last fetched fetches it again (at most once per cooldown) and is verified again.
    pub async fn authenticate_fresh(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let token = token_from(headers).ok_or(ApiError::NotAuthenticated)?;
        match self.verify(token) {
            Ok(principal) => Ok(principal),
            Err(Refusal::Api(error)) => Err(error),
            Err(Refusal::UnknownKid(kid)) => {
                let refreshed = match &self.jwks {
                    Some(jwks) => jwks.refetch_for(&kid).await,
                    None => false,
                };
                if !refreshed {
                    return Err(ApiError::TokenInvalid);
                }
                self.verify(token).map_err(|refusal| match refusal {
                    Refusal::UnknownKid(_) => ApiError::TokenInvalid,
                    Refusal::Api(error) => error,
                })
            }
        }
    }

    /// Verifies a token, or finds it verified against the keys held now and not expired
    /// since (see [`super::verified`]).
    fn verify(&self, token: &str) -> Result<Principal, Refusal> {
        let published = self.jwks.as_ref().map(|jwks| jwks.keys());
        if let Some(principal) = self.verified.get(token, &published) {
            return Ok(principal);
        }
        let principal = self.verify_signature(token, &published)?;
        // A token without `exp` is refused above; none is ever kept.
        if let Some(exp) = principal.expires_at {
            self.verified
                .insert(token, principal.clone(), exp, published);
        }
        Ok(principal)
    }

    /// Verifies a token with every key that could have signed it: the fixed keys of its
    /// algorithm, and the JWKS key of its `kid` (or, without a `kid`, every JWKS key of
    /// its algorithm) among `published`.
    fn verify_signature(&self, token: &str, published: &KeySet) -> Result<Principal, Refusal> {
        let invalid = Refusal::Api(ApiError::TokenInvalid);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid)?;
        let from_jwks = published.iter().flat_map(|keys| keys.iter()).filter(|k| {
            header
                .kid
                .as_deref()
                .map_or(k.algorithm == header.alg, |kid| {
                    k.kid.as_deref() == Some(kid)
                })
        });
        let fixed = self.keys.iter().filter(|k| k.algorithm == header.alg);
        for key in from_jwks.chain(fixed) {
            let mut validation = self.validation.clone();
            validation.algorithms = vec![key.algorithm];
            match jsonwebtoken::decode::<VerifiedClaims>(token, &key.key, &validation) {
                Ok(data) if data.claims.sub.is_empty() => {
                    return Err(Refusal::Api(ApiError::TokenInvalid));
                }
                Ok(data) => {
                    return Ok(Principal {
                        user_id: data.claims.sub,
                        roles: data.claims.roles,
                        // Whole seconds: `exp` may be fractional.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        expires_at: data.claims.exp.map(|exp| exp.max(0.0) as u64),
                    });
                }
                // Another key may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                    return Err(Refusal::Api(ApiError::TokenExpired));
                }
                Err(_) => return Err(Refusal::Api(ApiError::TokenInvalid)),
            }
        }
        match (&header.kid, published) {
            (Some(kid), Some(keys)) if !keys.iter().any(|k| k.kid.as_ref() == Some(kid)) => {
                Err(Refusal::UnknownKid(kid.clone()))
            }
            _ => Err(Refusal::Api(ApiError::TokenInvalid)),
        }
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
