//! The fairing: reads the configuration at ignite, builds the runtime, mounts the routes,
//! registers the login catcher; discovers the providers at liftoff; turns a response into a
//! silent re-authentication when a guard prepared one.

use std::future::Future;
use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{Responder, Response};
use rocket::{Build, Orbit, Rocket};

use crate::client::app_token::AppTokens;
use crate::client::bearer::AccessTokenValidator;
use crate::client::downstream::DownstreamTokens;
use crate::client::refresh::Refresher;
use crate::client::RelyingParty;
use crate::config::OidcConfig;
use crate::error::{AuthError, ConfigError};
use crate::session::Stores;
use crate::util::metrics;
use crate::web::cookies::CookieSettings;
use crate::web::login_hook::{LoginEvent, LoginHookFn};
use crate::web::logout_hook::{LogoutHookFn, SessionEnded};
use crate::web::runtime::{ErrorViewFn, OidcRuntime};
use crate::web::session_jar::SessionJar;
use crate::web::verdict::SilentRefresh;
use crate::web::{callback, catcher, jwks, login, logout, provider_logout};

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
    on_login: Option<Arc<LoginHookFn>>,
    on_logout: Option<Arc<LogoutHookFn>>,
    register_catcher: bool,
}

impl OpenIdConnect {
    /// The fairing, configured from the `oidc` table of Rocket's configuration.
    pub fn fairing() -> Self {
        OpenIdConnect {
            error_view: None,
            on_login: None,
            on_logout: None,
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

    /// Calls `hook` with every login that passed the protocol's checks (a new login, a
    /// step-up, a silent re-authentication), before it becomes the browser's session: to keep
    /// an audit trail, provision the user in the application's database, or refuse them.
    /// `Ok(())` lets the login through; `Err(reason)` refuses it: no session (one the browser
    /// had is ended too), the error view with 403 `access_denied` and `reason` as its
    /// description (shown to the user: say nothing private; an own [`error_view`](Self::error_view)
    /// must escape it, as the built-in page does), and a log line. The hook runs once per
    /// login, on the callback's request, before the session is stored, and may await (a
    /// database, an API); a refresh of a session's tokens does not call it.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket_openidconnect::OpenIdConnect;
    ///
    /// let fairing = OpenIdConnect::fairing().on_login(|event| async move {
    ///     let email = event.session().claims().str("email").unwrap_or_default();
    ///     if email.ends_with("@example.com") {
    ///         Ok(())
    ///     } else {
    ///         Err("only example.com accounts may use this application".into())
    ///     }
    /// });
    /// ```
    pub fn on_login<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(LoginEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.on_login = Some(Arc::new(move |event| Box::pin(hook(event))));
        self
    }

    /// Tells `hook` of every session that ends, whoever ends it
    /// ([`LogoutChannel`](crate::LogoutChannel)): the user at a logout route, the provider
    /// (back-channel or front-channel), the application ([`OidcSessions`](crate::OidcSessions),
    /// [`CurrentSession::end`](crate::CurrentSession::end)), or a login the `on_login` hook
    /// refused. Called after the session has ended, on a task of
    /// its own: it never delays the answer (a provider's back-channel request included) and
    /// cannot undo the logout. A session that merely expires is not reported.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket_openidconnect::OpenIdConnect;
    ///
    /// let fairing = OpenIdConnect::fairing().on_logout(|ended| async move {
    ///     log::info!(
    ///         "audit: {} logout of {} at {}",
    ///         ended.channel().as_str(),
    ///         ended.subject().unwrap_or("?"),
    ///         ended.provider()
    ///     );
    /// });
    /// ```
    pub fn on_logout<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(SessionEnded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_logout = Some(Arc::new(move |ended| Box::pin(hook(ended))));
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
        metrics::describe();
        let config = match OidcConfig::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(error) => {
                report(&error);
                return Err(rocket);
            }
        };
        let base_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| default_base_url(&rocket));
        let secret_key = rocket.figment().extract_inner::<String>("secret_key").ok();
        let runtime = match self.runtime(config, &base_url, secret_key.as_deref()) {
            Ok(runtime) => runtime,
            Err(error) => {
                log::error!("OpenID Connect: {error}");
                return Err(rocket);
            }
        };
        warn_about(&runtime.rp, &base_url);
        let rp = runtime.rp.clone();
        let mut rocket = rocket
            .manage(runtime)
            .mount(&rp.config.logout_path, logout::logout_routes())
            .mount(
                &rp.config.backchannel_logout_path,
                provider_logout::backchannel_routes(),
            )
            .mount(
                &rp.config.frontchannel_logout_path,
                provider_logout::frontchannel_routes(),
            );
        for path in rp.redirect_paths() {
            rocket = rocket.mount(path, callback::callback_routes());
        }
        if let Some(path) = &rp.config.login_path {
            rocket = rocket.mount(path, login::login_routes());
        }
        if let Some(path) = &rp.config.jwks_path {
            rocket = rocket.mount(path, jwks::jwks_routes());
        }
        Ok(if self.register_catcher {
            rocket.register("/", catcher::catchers())
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
        if let Some(runtime) = OidcRuntime::fetch(rocket) {
            let rp = runtime.rp.clone();
            rocket::tokio::spawn(async move {
                for provider in rp.providers.values() {
                    let _ = provider.ready().await;
                }
            });
            // Each provider's discovery document is read again now and then, in the
            // background, so that changed endpoints take effect without a restart.
            for (name, provider) in &runtime.rp.providers {
                let interval = provider.config.metadata_refresh_interval;
                if interval == 0 || provider.config.metadata.is_some() {
                    continue;
                }
                let (rp, name) = (runtime.rp.clone(), name.clone());
                rocket::tokio::spawn(async move {
                    let period = std::time::Duration::from_secs(interval);
                    loop {
                        rocket::tokio::time::sleep(period).await;
                        if let Some(provider) = rp.providers.get(&name) {
                            provider.refresh_metadata().await;
                        }
                    }
                });
            }
            // Logins that are never finished leave the pending count as time passes, without
            // an event: the gauge is set again every few seconds.
            #[cfg(feature = "metrics")]
            {
                // Weak: the task ends with the application.
                let rp = Arc::downgrade(&runtime.rp);
                rocket::tokio::spawn(async move {
                    loop {
                        rocket::tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        let Some(rp) = rp.upgrade() else { break };
                        let now = crate::util::clock::unix_now();
                        for (name, provider) in &rp.providers {
                            metrics::pending_logins(name, provider.pending.current(now));
                        }
                    }
                });
            }
        }
    }
}

impl OpenIdConnect {
    /// The relying party and its features' state, for `config` served at `base_url`.
    fn runtime(
        &self,
        config: OidcConfig,
        base_url: &str,
        secret_key: Option<&str>,
    ) -> Result<OidcRuntime, String> {
        check_previous_keys(&config, secret_key)?;
        let stores = Stores::from_config(&config)?;
        let server_sessions = stores.server_sessions(&config, secret_key.map(str::as_bytes))?;
        let rp = Arc::new(RelyingParty::new(
            config,
            base_url,
            secret_key.map(str::as_bytes),
        )?);
        // Without a secret key (development), nonces are this process's own.
        let nonce_secret = match secret_key {
            Some(secret) => secret.as_bytes().to_vec(),
            None => crate::util::random::random_token().into_bytes(),
        };
        let cookies = Arc::new(CookieSettings::new(
            &rp.config,
            rp.secure,
            rp.secure_context,
        ));
        Ok(OidcRuntime {
            records: stores.records,
            refresher: Arc::new(Refresher::new(rp.clone())),
            access_tokens: Arc::new(AccessTokenValidator::new(rp.clone(), &nonce_secret)),
            app_tokens: Arc::new(AppTokens::new(rp.clone())),
            downstream: Arc::new(DownstreamTokens::new(rp.clone())),
            sessions: Arc::new(SessionJar::new(cookies.clone(), server_sessions)),
            cookies,
            error_view: self.error_view.clone(),
            on_login: self.on_login.clone(),
            on_logout: self.on_logout.clone(),
            rp,
        })
    }
}

/// Older secret keys make sense only beside a current one, and must differ from it.
fn check_previous_keys(config: &OidcConfig, secret_key: Option<&str>) -> Result<(), String> {
    if config.previous_secret_keys.is_empty() {
        return Ok(());
    }
    let Some(current) = secret_key else {
        return Err(
            "oidc.previous_secret_keys: needs Rocket's `secret_key` (the current key, \
                    as a string)"
                .into(),
        );
    };
    match config
        .previous_secret_keys
        .iter()
        .position(|k| k.secret() == current)
    {
        Some(index) => Err(format!(
            "oidc.previous_secret_keys[{index}]: is the current secret_key"
        )),
        None => Ok(()),
    }
}

/// `http://<address>:<port>` from Rocket's own configuration.
fn default_base_url(rocket: &Rocket<Build>) -> String {
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
}

/// What works, but not as a production setup would want: plain http, shared callback paths,
/// `form_post` where browsers will refuse its cookie.
fn warn_about(rp: &RelyingParty, base_url: &str) {
    if !rp.secure {
        log::warn!(
            "OpenID Connect: {base_url} is plain http, so session cookies are not `Secure`; \
             use https in production"
        );
    }
    for provider in rp.providers.values() {
        if provider.uris.shares_redirect_path {
            log::info!(
                "OpenID Connect: provider `{}` shares its callback path with another provider, \
                 so its responses must carry `iss` (RFC 9207); give it its own `redirect_path` \
                 if it does not send one",
                provider.name
            );
        }
        if provider.config.response_mode().is_form_post() && !rp.secure_context {
            log::warn!(
                "OpenID Connect: provider `{}` uses response_mode `form_post`, which needs a \
                 `SameSite=None; Secure` cookie that browsers refuse over plain http on \
                 {base_url}: logins will fail until the application is served over https",
                provider.name
            );
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
