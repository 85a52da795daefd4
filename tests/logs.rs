//! Nothing this library logs contains a token, a code or a secret, in success or failure.

mod support;

use rocket::http::{Accept, Status};
use rocket_openidconnect::testing::{Signing, TestProvider, TokenEndpoint};
use serde_json::Value;

#[rocket::async_test]
async fn logs_never_contain_tokens_codes_or_secrets() {
    support::logs::capture();

    let provider = TestProvider::start().await;
    let client = support::client(&provider).await;
    let mut secrets = vec![provider.client_secret().to_owned()];

    // A successful login.
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = provider.authorize(&authorize_url).await;
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    secrets.push(code);
    assert_eq!(
        provider.deliver(&client, &callback).await.status,
        Status::SeeOther
    );
    let page = client
        .get("/")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    let page: Value = serde_json::from_str(&page).unwrap();
    secrets.push(page["access_token"].as_str().unwrap().to_owned());
    client.get("/logout").dispatch().await;

    // Failures of every layer.
    for behaviour in [Signing::BadSignature, Signing::None] {
        provider.configure(|b| b.signing = behaviour);
        assert_ne!(provider.login(&client, "/").await.status, Status::SeeOther);
    }
    provider.configure(|b| {
        b.signing = Signing::Valid;
        b.token_endpoint = TokenEndpoint::InvalidGrant;
    });
    assert_ne!(provider.login(&client, "/").await.status, Status::SeeOther);
    provider.configure(|b| {
        b.token_endpoint = TokenEndpoint::Normal;
        b.userinfo_sub = Some("mallory".into());
    });
    assert_ne!(provider.login(&client, "/").await.status, Status::SeeOther);

    // The front channel: tokens in the fragment, relayed by POST; a success and a refusal.
    provider.configure(|b| b.userinfo_sub = None);
    let implicit = support::client_with(
        provider
            .app_figment()
            .merge(("oidc.providers.default.response_type", "id_token token")),
    )
    .await;
    let start = implicit.get("/").header(Accept::HTML).dispatch().await;
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = provider.authorize(&authorize_url).await;
    let fragment = callback.split_once('#').expect("a fragment").1.to_owned();
    for (name, value) in url::form_urlencoded::parse(fragment.as_bytes()) {
        if name == "access_token" {
            secrets.push(value.into_owned());
        }
    }
    assert_eq!(
        provider.deliver(&implicit, &callback).await.status,
        Status::SeeOther
    );
    implicit.get("/logout").dispatch().await;
    provider.configure(|b| {
        b.id_token_claims = Some(std::sync::Arc::new(
            |c: &mut serde_json::Map<String, Value>| {
                c.insert("at_hash".into(), "wrong".into());
            },
        ))
    });
    assert_ne!(
        provider.login(&implicit, "/").await.status,
        Status::SeeOther
    );

    // Every code and token the provider issued: those the browser saw, and those only the
    // application ever had (the token responses' access and refresh tokens and ID tokens).
    let issued = provider.issued_tokens();
    assert!(
        issued.contains(&secrets[1]),
        "the first login's code is recorded"
    );
    assert!(
        issued
            .iter()
            .any(|t| !secrets.contains(t) && !t.starts_with("eyJ")),
        "tokens the browser never saw (refresh tokens) are checked too"
    );
    secrets.extend(issued);

    let records = support::logs::records();
    assert!(
        records
            .iter()
            .any(|r| r.contains("login via `default` completed")),
        "{records:?}"
    );
    assert!(
        records.iter().any(|r| r.contains("signature")),
        "{records:?}"
    );
    assert!(records.iter().any(|r| r.contains("at_hash")), "{records:?}");
    for record in &records {
        support::assert_no_secret_in("the log", record, &secrets);
    }
}
