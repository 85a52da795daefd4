//! DPoP (RFC 9449) in the test provider, and a client key for tests of DPoP-protected APIs.

use rocket::request::{FromRequest, Outcome, Request};

use super::state::{unix_now, ProviderState};
use super::Behaviour;
use crate::protocol::dpop::{verify_proof, DpopAlgorithm, DpopKey, ProofExpectations};

/// A DPoP client key, for tests of APIs that take DPoP-bound tokens (`BearerToken` with
/// `Authorization: DPoP`): it makes proofs, and its thumbprint is what a bound token's
/// `cnf.jkt` names (see [`TestProvider::issue_dpop_bound_access_token`]).
///
/// [`TestProvider::issue_dpop_bound_access_token`]: super::TestProvider::issue_dpop_bound_access_token
///
/// # Example
///
/// ```
/// use rocket_openidconnect::testing::DpopTestKey;
///
/// let key = DpopTestKey::new();
/// let proof = key.proof("GET", "https://app.example/api", Some("the-token"), None);
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint().len(), 43);
/// ```
#[derive(Debug)]
pub struct DpopTestKey(DpopKey);

impl Default for DpopTestKey {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopTestKey {
    /// A new ES256 key.
    pub fn new() -> Self {
        DpopTestKey(DpopKey::generate(DpopAlgorithm::ES256))
    }

    /// A new Ed25519 (EdDSA) key.
    pub fn ed25519() -> Self {
        DpopTestKey(DpopKey::generate(DpopAlgorithm::EdDSA))
    }

    /// The key's RFC 7638 thumbprint (`cnf.jkt` of the tokens bound to it).
    pub fn thumbprint(&self) -> String {
        self.0.thumbprint().unwrap_or_default().to_owned()
    }

    /// A proof made now for `method` and `url`, with `ath` for `access_token` and the server's
    /// `nonce` when given.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        self.proof_at(method, url, access_token, nonce, unix_now())
    }

    /// [`proof`](Self::proof) made at `iat` (Unix time): a proof from the past or the future.
    pub fn proof_at(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        iat: i64,
    ) -> String {
        self.0
            .proof(method, url, access_token, nonce, iat)
            .expect("a generated key signs")
    }
}

/// Every `DPoP` header of a request.
pub(super) struct DpopHeaders(Vec<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for DpopHeaders {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let values = req.headers().get("DPoP").map(str::to_owned).collect();
        Outcome::Success(DpopHeaders(values))
    }
}

/// Why the provider refused a request's proof.
pub(super) enum DpopRefusal {
    /// Not one valid proof for this request.
    Invalid,
    /// Valid, but without the nonce the provider asks for (this one).
    Nonce(String),
}

impl ProviderState {
    /// The thumbprint of the key of the request's proof, if it came with one: for `method`
    /// at `path` of the provider, with `ath` of `access_token` when a token is sent, and the
    /// behaviour's nonce when it asks for one.
    pub(super) fn check_dpop(
        &self,
        headers: &DpopHeaders,
        method: &str,
        path: &str,
        access_token: Option<&str>,
        behaviour: &Behaviour,
    ) -> Result<Option<String>, DpopRefusal> {
        let proof = match headers.0.as_slice() {
            [] => return Ok(None),
            [one] => one,
            _ => return Err(DpopRefusal::Invalid),
        };
        let url = format!("{}{path}", self.issuer());
        let expect = ProofExpectations {
            htm: method,
            htu: &url,
            access_token,
            now: unix_now(),
            max_age: 60,
            skew: 5,
        };
        let proof = verify_proof(proof, &expect).map_err(|_| DpopRefusal::Invalid)?;
        let wanted = match &behaviour.dpop_nonce {
            _ if behaviour.dpop_nonce_rotates => Some(super::state::random(16)),
            Some(nonce) if proof.nonce.as_deref() != Some(nonce) => Some(nonce.clone()),
            _ => None,
        };
        if let Some(nonce) = wanted {
            use std::sync::atomic::Ordering;
            self.counters.dpop_challenges.fetch_add(1, Ordering::SeqCst);
            return Err(DpopRefusal::Nonce(nonce));
        }
        Ok(Some(proof.jkt))
    }
}
