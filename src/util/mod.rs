//! Helpers every layer may use: the clock, random values, the hash of several texts, form
//! parameters, URL checks, text that is safe to log, Rocket's secret-key format, and one
//! single-flight cache. Nothing here
//! knows OpenID Connect.

pub(crate) mod clock;
pub(crate) mod digest;
pub(crate) mod metrics;
pub(crate) mod params;
pub(crate) mod random;
pub(crate) mod secret_key;
pub(crate) mod single_flight;
pub(crate) mod text;
pub(crate) mod url;
