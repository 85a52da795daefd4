//! The protocols' data and checks, without I/O: authorization responses and their parameters,
//! response types and modes, JWS signatures, ID tokens, logout tokens, access-token claims,
//! token responses and provider metadata. Every check here is a function of its inputs (the
//! time included), tested without a network or a web framework.

pub(crate) mod access_token;
pub(crate) mod callback;
pub(crate) mod client_assertion;
pub(crate) mod dpop;
pub(crate) mod grant;
pub(crate) mod id_token;
pub(crate) mod issuer;
pub(crate) mod jwe;
pub(crate) mod jwk;
pub(crate) mod jws;
pub(crate) mod logout_token;
pub(crate) mod metadata;
pub(crate) mod request_object;
pub(crate) mod response;
pub(crate) mod rp_keys;
pub(crate) mod secret;
pub(crate) mod token_response;
