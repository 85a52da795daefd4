//! Provider type keys: `OidcUser<P>` uses the provider named `P::NAME` in the configuration.

/// A type that names a configured provider: `OidcUser<P>` uses `[oidc.providers.<P::NAME>]`.
///
/// Declare one with the [`provider!`](crate::provider!) macro.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{provider, Provider};
///
/// provider!(pub Corporate = "corporate");
/// assert_eq!(Corporate::NAME, "corporate");
/// ```
pub trait Provider: Send + Sync + 'static {
    /// The provider's name in the configuration.
    const NAME: &'static str;
}

/// The provider named `default`, used by a plain `OidcUser`.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{DefaultProvider, Provider};
///
/// assert_eq!(DefaultProvider::NAME, "default");
/// ```
#[derive(Debug)]
pub struct DefaultProvider;

impl Provider for DefaultProvider {
    const NAME: &'static str = "default";
}

/// Declares a [`Provider`] type key.
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket_openidconnect::{provider, OidcUser};
///
/// provider!(Google = "google");
///
/// #[get("/google")]
/// fn google(user: OidcUser<Google>) -> String {
///     user.claims().subject().to_owned()
/// }
/// ```
#[macro_export]
macro_rules! provider {
    ($vis:vis $name:ident = $config_name:literal) => {
        #[doc = concat!("The `", $config_name, "` OpenID provider.")]
        #[derive(Debug)]
        $vis struct $name;
        impl $crate::Provider for $name {
            const NAME: &'static str = $config_name;
        }
    };
}
