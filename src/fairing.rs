//! The fairing: reads the configuration at ignite, mounts the callback and logout routes,
//! registers the login catcher and holds the shared state.

use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::{Build, Orbit, Rocket};

use crate::config::OidcConfig;
use crate::cookies::CookieSettings;
use crate::error::{AuthError, ConfigError};
use crate::flow::RelyingParty;
use crate::guard::SilentRefresh;
use crate::routes;

type ErrorViewFn =
    dyn for<'r> Fn(&AuthError, &'r Request<'_>) -> response::Result<'static> + Send + Sync;

/// What the fairing manages: the relying party core, cookie settings and the error view.
pub(crate) struct OidcRuntime {
    pub rp: Arc<RelyingParty>,
    pub cookies: Arc<CookieSettings>,
    pub sessions: Arc<crate::sessions::Sessions>,
    pub error_view: Option<Arc<ErrorViewFn>>,
}

/// The OpenID Connect fairing.
///
/// # Example
///
/// ```no_run
/// use rocket::{get, launch, routes};
/// use rocket_openidconnect::{OidcUser, OpenIdConnect};
///
/// #[get("/")]
/// fn index(user: OidcUser) -> String {
///     format!("Hello, {}", user.claims().subject())
/// }
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(OpenIdConnect::fairing())
///         .mount("/", routes![index])
/// }
/// ```
#[derive(Clone)]
pub struct OpenIdConnect {
    error_view: Option<Arc<ErrorViewFn>>,
    register_catcher: bool,
}

impl OpenIdConnect {
    /// The fairing, configured from the `oidc` table of Rocket's configuration.
    pub fn fairing() -> Self {
        OpenIdConnect {
            error_view: None,
            register_catcher: true,
        }
    }

    /// Does not register the 401 catcher at `/`, for applications that have their own there
    /// (Rocket refuses two catchers for one status and base). Their catcher must then call
    /// [`login_catcher`](crate::login_catcher) for logins to start. See its example.
    pub fn without_catcher(mut self) -> Self {
        self.register_catcher = false;
        self
    }

    /// Replaces the built-in error page. The view receives the [`AuthError`] (with
    /// [`status_code`](AuthError::status_code), [`error_code`](AuthError::error_code) and
    /// [`description`](AuthError::description), like Flask-pyoidc's `error_view` receives
    /// `error` and `error_description`) and returns any responder.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::http::Status;
    /// use rocket::serde::json::{json, Json};
    /// use rocket_openidconnect::OpenIdConnect;
    ///
    /// let fairing = OpenIdConnect::fairing().error_view(|error| {
    ///     let status = Status::from_code(error.status_code()).unwrap_or(Status::BadRequest);
    ///     (status, Json(json!({
    ///         "error": error.error_code(),
    ///         "error_description": error.description(),
    ///     })))
    /// });
    /// ```
    pub fn error_view<F, R>(mut self, view: F) -> Self
    where
        F: Fn(&AuthError) -> R + Send + Sync + 'static,
        R: for<'r> Responder<'r, 'static>,
    {
        self.error_view = Some(Arc::new(move |error, req| view(error).respond_to(req)));
        self
    }
}

#[rocket::async_trait]
impl Fairing for OpenIdConnect {
    fn info(&self) -> Info {
        Info {
            name: "OpenID Connect",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let config = match OidcConfig::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(error) => {
                report(&error);
                return Err(rocket);
            }
        };
        let base_url = config.base_url.clone().unwrap_or_else(|| {
            let figment = rocket.figment();
            let ip: std::net::IpAddr = figment
                .extract_inner("address")
                .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
            let port: u16 = figment.extract_inner("port").unwrap_or(8000);
            let address = if ip.is_unspecified() {
                "127.0.0.1".to_string()
            } else if ip.is_ipv6() {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            format!("http://{address}:{port}")
        });
        let rp = match RelyingParty::new(config, &base_url) {
            Ok(rp) => rp,
            Err(error) => {
                log::error!("OpenID Connect: {error}");
                return Err(rocket);
            }
        };
        if !rp.secure {
            log::warn!(
                "OpenID Connect: {base_url} is plain http, so session cookies are not `Secure`; \
                 use https in production"
            );
        }
        for provider in rp.providers.values().filter(|p| p.shares_redirect_path) {
            log::info!(
                "OpenID Connect: provider `{}` shares its callback path with another provider, \
                 so its responses must carry `iss` (RFC 9207); give it its own `redirect_path` \
                 if it does not send one",
                provider.name
            );
        }
        for (name, provider) in &rp.config.providers {
            if provider.response_mode() == crate::ResponseMode::FormPost && !rp.secure_context {
                log::warn!(
                    "OpenID Connect: provider `{name}` uses response_mode `form_post`, which \
                     needs a `SameSite=None; Secure` cookie that browsers refuse over plain http \
                     on {base_url}: logins will fail until the application is served over https"
                );
            }
        }
        let cookies = Arc::new(CookieSettings::new(
            &rp.config,
            rp.secure,
            rp.secure_context,
        ));
        let sessions = match session_store(&rocket, &rp, cookies.clone()) {
            Ok(sessions) => Arc::new(sessions),
            Err(error) => {
                log::error!("OpenID Connect: {error}");
                return Err(rocket);
            }
        };
        let logout_path = rp.config.logout_path.clone();
        let redirect_paths = rp.redirect_paths();
        let login_path = rp.config.login_path.clone();
        let channel_paths = (
            rp.config.backchannel_logout_path.clone(),
            rp.config.frontchannel_logout_path.clone(),
        );
        let runtime = OidcRuntime {
            rp: Arc::new(rp),
            cookies,
            sessions,
            error_view: self.error_view.clone(),
        };
        let mut rocket = rocket
            .manage(runtime)
            .mount(logout_path, crate::logout_routes::logout_routes());
        let (backchannel, frontchannel) = channel_paths;
        rocket = rocket
            .mount(
                backchannel,
                crate::provider_logout_routes::backchannel_routes(),
            )
            .mount(
                frontchannel,
                crate::provider_logout_routes::frontchannel_routes(),
            );
        for path in redirect_paths {
            rocket = rocket.mount(path, routes::callback_routes());
        }
        if let Some(path) = login_path {
            rocket = rocket.mount(path, routes::login_routes());
        }
        Ok(if self.register_catcher {
            rocket.register("/", routes::catchers())
        } else {
            rocket
        })
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        // A silent re-authentication is due: the guard prepared it and the handler ran; now
        // the browser goes to the provider instead. Only if the pending-login cookie made it
        // into this response (a failed request drops it).
        let Some((url, cookie)) = SilentRefresh::take(req) else {
            return;
        };
        let prefix = format!("{cookie}=");
        let set_cookies: Vec<String> = res.headers().get("Set-Cookie").map(str::to_owned).collect();
        let pending_cookie_set = set_cookies.iter().any(|c| c.starts_with(&prefix));
        if res.status().class().is_success() && pending_cookie_set {
            // A new response: nothing of the page (body, content headers, caching) remains
            // but the cookies.
            let mut redirect = Response::build()
                .status(Status::SeeOther)
                .raw_header("Location", url)
                .raw_header("Cache-Control", "no-store")
                .raw_header("Referrer-Policy", "no-referrer")
                .finalize();
            for cookie in set_cookies {
                redirect.adjoin_raw_header("Set-Cookie", cookie);
            }
            *res = redirect;
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        // Discover every provider in the background so the first login is fast. A failure is
        // not fatal: it is retried when a login needs the provider.
        if let Some(runtime) = rocket.state::<OidcRuntime>() {
            let rp = runtime.rp.clone();
            rocket::tokio::spawn(async move {
                for provider in rp.providers.values() {
                    let _ = provider.ready(&rp.http).await;
                }
            });
        }
    }
}

fn report(error: &ConfigError) {
    match error {
        ConfigError::Figment(figment_error) => {
            for e in (**figment_error).clone() {
                log::error!("OpenID Connect configuration: {e}");
            }
        }
        other => log::error!("OpenID Connect configuration: {other}"),
    }
}

/// Where sessions are kept (`session_store`): in cookies, or on the server under a key derived
/// from Rocket's `secret_key` (which a shared store needs configured: every instance must
/// derive the same key).
fn session_store(
    rocket: &Rocket<Build>,
    rp: &RelyingParty,
    cookies: Arc<CookieSettings>,
) -> Result<crate::sessions::Sessions, String> {
    use crate::config::SessionStoreKind;
    use crate::sessions::Sessions;
    let kind = rp.config.session_store;
    if kind == SessionStoreKind::Cookie {
        return Ok(Sessions::in_cookies(cookies));
    }
    let secret = match rocket.figment().extract_inner::<String>("secret_key") {
        Ok(secret) => secret.into_bytes(),
        Err(_) if kind == SessionStoreKind::Memory => {
            // Sessions in this process die with it: a key of this process is enough.
            let mut random = vec![0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
            random
        }
        Err(_) => {
            return Err(
                "oidc.session_store = \"redis\" needs Rocket's `secret_key`, the same \
                        on every instance (the sessions are encrypted with a key derived from it)"
                    .into(),
            )
        }
    };
    let store: Arc<dyn crate::store::Store> = match (kind, &rp.shared_store) {
        (SessionStoreKind::Redis, Some(shared)) => shared.clone(),
        (SessionStoreKind::Redis, None) => {
            return Err("oidc.session_store: `redis` needs oidc.redis_url".into())
        }
        _ => Arc::new(crate::store::MemoryStore::default()),
    };
    let inactivity = rp.config.session_inactivity_timeout;
    Ok(Sessions::on_server(cookies, store, &secret, inactivity))
}
