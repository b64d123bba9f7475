//! Every way to present a bad access token is a 401 with the right challenge.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

/// Checks a token on a read and a write endpoint.
async fn assert_refused(app: &App, token: &str, what: &str) {
    for (method, path) in [
        (Method::GET, "/api/auth/me"),
        (Method::GET, "/api/tasks"),
        (Method::POST, "/api/tasks"),
    ] {
        let body = json!({"title": "x"});
        let resp = app
            .call(
                method.clone(),
                path,
                Some(token),
                Some(&body).filter(|_| method == Method::POST),
            )
            .await;
        assert_eq!(
            resp.status,
            401,
            "{what}: {method} {path} answered {}: {}",
            resp.status,
            resp.short()
        );
        resp.unauthorized("invalid_token", true);
    }
}

#[tokio::test]
async fn a_forged_token_with_the_right_key_and_claims_is_accepted() {
    // The control for every attack below: the forging itself is right.
    let app = spawn_app().await;
    let u = app.register().await;
    let token = forge(&good_claims(&u));
    let me = app
        .call(Method::GET, "/api/auth/me", Some(&token), None)
        .await
        .expect(200)
        .json();
    assert_eq!(me["id"], u.id);
}

#[tokio::test]
async fn missing_tokens_and_other_schemes_are_missing_token() {
    let app = spawn_app().await;
    let u = app.register().await;
    app.call(Method::GET, "/api/tasks", None, None)
        .await
        .unauthorized("missing_token", false);
    app.call(Method::GET, "/api/auth/me", None, None)
        .await
        .unauthorized("missing_token", false);
    for value in [
        format!("Basic {}", URL_SAFE_NO_PAD.encode("a:b")),
        format!("Token {}", u.token),
        u.token.clone(),
    ] {
        let resp = send(
            app.req(Method::GET, "/api/tasks")
                .header("authorization", value.clone()),
        )
        .await;
        resp.unauthorized("missing_token", false);
    }
}

#[tokio::test]
async fn each_token_attack_is_refused() {
    let app = spawn_app().await;
    let u = app.register().await;
    let victim = app.register().await;
    let good = good_claims(&u);
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));

    let attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            ),
        ),
        (
            "alg None",
            format!("{}.{}.", b64(&json!({"alg": "None"})), b64(&good)),
        ),
        (
            "alg HS512 with the server's key",
            forge_with(&json!({"alg": "HS512", "typ": "JWT"}), &good, SECRET),
        ),
        (
            "another key",
            forge_with(
                &hs256,
                &good,
                "another-secret-that-is-long-enough-0123456789",
            ),
        ),
        (
            "expired past the leeway",
            forge(&with(
                &with(&good, "exp", json!(now() - 60)),
                "iat",
                json!(now() - 960),
            )),
        ),
        (
            "wrong iss",
            forge(&with(&good, "iss", json!("someone-else"))),
        ),
        (
            "wrong aud",
            forge(&with(&good, "aud", json!("someone-else"))),
        ),
        ("no iss", forge(&with(&good, "iss", Value::Null))),
        ("no aud", forge(&with(&good, "aud", Value::Null))),
        ("no exp", forge(&with(&good, "exp", Value::Null))),
        (
            "unknown sub",
            forge(&with(&good, "sub", json!(uuid::Uuid::now_v7()))),
        ),
        (
            "sub of another user with my sid",
            forge(&with(&good, "sub", json!(victim.id))),
        ),
        (
            "unknown sid",
            forge(&with(&good, "sid", json!(uuid::Uuid::now_v7()))),
        ),
        ("no sid", forge(&with(&good, "sid", Value::Null))),
        ("garbage", "garbage".to_string()),
        ("three garbage parts", "abc.def.ghi".to_string()),
        ("tampered payload", {
            let mut parts: Vec<String> = u.token.split('.').map(String::from).collect();
            parts[1] = b64(&with(&claims_of(&u.token), "sub", json!(victim.id)));
            parts.join(".")
        }),
        (
            "signature stripped",
            u.token
                .rsplit_once('.')
                .map(|(m, _)| format!("{m}."))
                .expect("jwt"),
        ),
    ];
    for (what, token) in &attacks {
        assert_refused(&app, token, what).await;
    }
    // The victim's tasks stayed out of reach, and the real tokens still work.
    app.get(&u, "/api/auth/me").await.expect(200);
    app.get(&victim, "/api/auth/me").await.expect(200);
}

#[tokio::test]
async fn a_logged_out_sid_is_refused_even_in_a_fresh_token() {
    let app = spawn_app().await;
    let u = app.register().await;
    let claims = good_claims(&u);
    app.call(Method::POST, "/api/auth/logout", Some(&u.token), None)
        .await
        .expect(204);
    assert_refused(&app, &u.token, "logged-out token").await;
    assert_refused(&app, &forge(&claims), "fresh token on a logged-out sid").await;
}

#[tokio::test]
async fn a_validly_signed_token_of_a_user_this_server_never_had_is_refused() {
    // A token from another server with the same secret names a user this one never had.
    let other = spawn_app().await;
    let stranger = other.register().await;
    let app = spawn_app().await;
    assert_refused(&app, &stranger.token, "token of another server's user").await;
}
