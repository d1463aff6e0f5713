//! The keys tokens may be signed with: fixed ones (HS256 secrets, PEM public keys) and a
//! JWKS document (a file or a URL) refreshed periodically, its keys chosen by `kid`. Any
//! key whose algorithm matches the token's may verify it, so a key can be rotated without
//! downtime: publish the new one beside the old, then retire the old.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a JWKS is fetched again, by default.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// How soon a token with an unknown `kid` may fetch the JWKS again, by default.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// One key that may verify a token.
#[derive(Clone)]
pub struct VerifyKey {
    /// The JWKS `kid`, for keys from a JWKS.
    pub kid: Option<String>,
    /// The key.
    pub key: DecodingKey,
    /// The one algorithm it verifies.
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Where a JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A local file (read again at every refresh).
    File(std::path::PathBuf),
    /// An `http://` or `https://` URL.
    Url(String),
}

impl std::str::FromStr for JwksSource {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if s.starts_with("http://") || s.starts_with("https://") {
            Self::Url(s.to_owned())
        } else {
            Self::File(s.into())
        })
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

/// How a JWKS is kept fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// The document.
    pub source: JwksSource,
    /// How often it is fetched again.
    pub refresh: Duration,
    /// How soon an unknown `kid` may fetch it again.
    pub cooldown: Duration,
}

/// Why a JWKS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// It could not be read or fetched.
    #[error("fetching the JWKS from {source_name}: {detail}")]
    Fetch {
        /// The file or URL.
        source_name: String,
        /// What went wrong.
        detail: String,
    },
    /// It is not a JWKS.
    #[error("the JWKS from {source_name} is not a JSON Web Key Set: {detail}")]
    Parse {
        /// The file or URL.
        source_name: String,
        /// What went wrong.
        detail: String,
    },
}

/// A JWKS's current keys, shared by every verification and refreshed in the background.
pub struct Jwks {
    settings: JwksSettings,
    keys: RwLock<Arc<Vec<VerifyKey>>>,
    client: reqwest::Client,
    /// When the last fetch started; an unknown `kid` waits for the cooldown after it.
    last_fetch: Mutex<Option<Instant>>,
    /// Serialises fetches, so a burst of unknown `kid`s fetches once.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("source", &self.settings.source)
            .field("keys", &self.keys().len())
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// Fetches the JWKS once; refuses to start without a usable one.
    pub async fn load(settings: JwksSettings) -> Result<Arc<Self>, JwksError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| JwksError::Fetch {
                source_name: settings.source.to_string(),
                detail: e.to_string(),
            })?;
        let jwks = Arc::new(Self {
            settings,
            keys: RwLock::new(Arc::new(Vec::new())),
            client,
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        });
        jwks.fetch().await?;
        Ok(jwks)
    }

    /// The keys as last fetched.
    pub fn keys(&self) -> Arc<Vec<VerifyKey>> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether a key with this `kid` is known.
    pub fn knows(&self, kid: &str) -> bool {
        self.keys().iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Fetches the JWKS again for a token whose `kid` is unknown, unless the last fetch
    /// was within the cooldown; returns whether the `kid` is known afterwards.
    pub async fn refetch_for(&self, kid: &str) -> bool {
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if self.knows(kid) {
            return true;
        }
        let recent = self
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < self.settings.cooldown);
        if recent {
            return false;
        }
        if let Err(error) = self.fetch().await {
            tracing::warn!(%error, "JWKS refetch for an unknown kid failed; keeping the keys held");
        }
        self.knows(kid)
    }

    /// Refreshes the keys every [`JwksSettings::refresh`] until shutdown; a failed fetch
    /// keeps the keys held.
    pub async fn refresh_until(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.refresh) => {}
                () = shutdown.cancelled() => return,
            }
            let _one = self.fetching.lock().await;
            if let Err(error) = self.fetch().await {
                tracing::warn!(%error, "JWKS refresh failed; keeping the keys held");
            }
        }
    }

    async fn fetch(&self) -> Result<(), JwksError> {
        *self
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        let source_name = self.settings.source.to_string();
        let fetch_error = |detail: String| JwksError::Fetch {
            source_name: source_name.clone(),
            detail,
        };
        let bytes = match &self.settings.source {
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| fetch_error(e.to_string()))?,
            JwksSource::Url(url) => {
                let response = self
                    .client
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| fetch_error(e.to_string()))?;
                if response
                    .content_length()
                    .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
                {
                    return Err(fetch_error("the document is too large".to_owned()));
                }
                response
                    .bytes()
                    .await
                    .map_err(|e| fetch_error(e.to_string()))?
                    .to_vec()
            }
        };
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(fetch_error("the document is too large".to_owned()));
        }
        let keys = parse_jwks(&bytes).map_err(|detail| JwksError::Parse {
            source_name: source_name.clone(),
            detail,
        })?;
        let kids: Vec<&str> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        tracing::info!(source = %source_name, ?kids, "JWKS loaded");
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(())
    }
}

/// The signing keys of a JWKS document. Keys for encryption, and keys of a kind or
/// algorithm this service does not verify, are left out; a document with no usable key
/// is refused (it would lock every user out).
pub fn parse_jwks(bytes: &[u8]) -> Result<Vec<VerifyKey>, String> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let keys: Vec<VerifyKey> = set.keys.iter().filter_map(verify_key).collect();
    if keys.is_empty() {
        return Err("it holds no signing key this service can use".to_owned());
    }
    Ok(keys)
}

fn verify_key(jwk: &Jwk) -> Option<VerifyKey> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (_, Some(declared)) => declared.to_string().parse().ok()?,
        (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (AlgorithmParameters::OctetKeyPair(_), None) => Algorithm::EdDSA,
        // A symmetric key must say what it is for.
        (AlgorithmParameters::OctetKey(_), None) => return None,
    };
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        key: DecodingKey::from_jwk(jwk).ok()?,
        algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_signing_keys_and_refuses_a_set_without_any() {
        let ec = r#"{"kty":"EC","crv":"P-256","kid":"a","use":"sig",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let enc = r#"{"kty":"EC","crv":"P-256","kid":"b","use":"enc",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let keys = parse_jwks(format!(r#"{{"keys":[{ec},{enc}]}}"#).as_bytes()).expect("a set");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("a"));
        assert_eq!(keys[0].algorithm, Algorithm::ES256);
        assert!(parse_jwks(format!(r#"{{"keys":[{enc}]}}"#).as_bytes()).is_err());
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"not json").is_err());
    }

    #[test]
    fn a_source_is_a_url_or_a_file() {
        assert_eq!(
            "https://idp/.well-known/jwks.json".parse::<JwksSource>(),
            Ok(JwksSource::Url("https://idp/.well-known/jwks.json".into()))
        );
        assert_eq!(
            "keys.json".parse::<JwksSource>(),
            Ok(JwksSource::File("keys.json".into()))
        );
    }
}
