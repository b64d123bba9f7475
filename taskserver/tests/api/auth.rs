//! Register, login, me, refresh rotation and reuse, logout, sessions.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn assert_session(session: &Value, email: &str) {
    let keys: Vec<&String> = session.as_object().expect("object").keys().collect();
    for key in [
        "user",
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
    ] {
        assert!(session.get(key).is_some(), "session lacks {key}: {keys:?}");
    }
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 900, "default token TTL is 15m");
    assert_eq!(session["user"]["email"], email);
    assert_time(&session["user"]["created_at"]);
    let id = uuid::Uuid::parse_str(&s(&session["user"]["id"])).expect("user id is a UUID");
    assert_eq!(id.get_version_num(), 7, "ids are UUIDv7");
    assert!(
        session["user"].get("password").is_none() && session["user"].get("password_hash").is_none()
    );
    // At least 128 random bits.
    assert!(
        s(&session["refresh_token"]).len() >= 22,
        "refresh token too short"
    );
}

#[tokio::test]
async fn register_returns_a_session_and_me_the_user() {
    let app = spawn_app().await;
    let email = unique_email();
    let resp = app
        .register_as(&format!("  {}  ", email.to_uppercase()), PASSWORD)
        .await;
    let session = resp.expect(201).json();
    assert_session(&session, &email);
    let u = User::from_session(&session);

    let me = app.get(&u, "/api/auth/me").await.expect(200).json();
    assert_eq!(me, session["user"], "me is the registered user");
    let me_keys: Vec<&String> = me.as_object().expect("user").keys().collect();
    assert_eq!(me_keys.len(), 3, "User is {{id, email, created_at}}: {me}");

    let c = claims_of(&u.token);
    assert_eq!(c["sub"], me["id"]);
    assert_eq!(c["iss"], "taskserver");
    assert_eq!(c["aud"], "taskserver");
    assert!(c["sid"].is_string(), "claims carry a session id: {c}");
    assert_eq!(
        c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat"),
        900
    );
}

#[tokio::test]
async fn a_taken_email_is_409_in_any_case() {
    let app = spawn_app().await;
    let u = app.register().await;
    app.register_as(&u.email, "another password")
        .await
        .problem(409, "email_taken");
    app.register_as(&format!(" {} ", u.email.to_uppercase()), PASSWORD)
        .await
        .problem(409, "email_taken");
}

#[tokio::test]
async fn login_works_with_the_normalised_email_and_fails_the_same_for_unknown_and_wrong() {
    let app = spawn_app().await;
    let u = app.register().await;
    let session = app
        .login(&format!(" {} ", u.email.to_uppercase()), PASSWORD)
        .await
        .expect(200)
        .json();
    assert_session(&session, &u.email);
    assert_ne!(s(&session["access_token"]), u.token, "a new session");
    assert_ne!(s(&session["refresh_token"]), u.refresh);

    let wrong = app.login(&u.email, "wrong password!").await;
    wrong.unauthorized("invalid_credentials", false);
    let unknown = app.login(&unique_email(), PASSWORD).await;
    unknown.unauthorized("invalid_credentials", false);
    let malformed = app.login("not-an-email", PASSWORD).await;
    malformed.unauthorized("invalid_credentials", false);
    let (w, n) = (wrong.json(), unknown.json());
    assert_eq!(
        (&w["title"], &w["detail"]),
        (&n["title"], &n["detail"]),
        "unknown email and wrong password look alike"
    );
}

#[tokio::test]
async fn passwords_are_8_to_128_characters() {
    let app = spawn_app().await;
    for (password, ok) in [
        ("a".repeat(7), false),
        ("a".repeat(8), true),
        ("é".repeat(7), false), // 14 bytes, 7 characters
        ("é".repeat(8), true),
        ("a".repeat(128), true),
        ("a".repeat(129), false),
        ("é".repeat(128), true), // 256 bytes, 128 characters
    ] {
        let email = unique_email();
        let resp = app.register_as(&email, &password).await;
        if ok {
            resp.expect(201);
            app.login(&email, &password).await.expect(200);
        } else {
            resp.invalid("password");
        }
    }
}

/// An email of exactly `len` characters: a unique local part and a domain of
/// labels no longer than 63.
pub fn email_of_len(len: usize) -> String {
    let local = format!("u{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let mut domain_len = len - local.len() - 1 - ".com".len();
    let mut labels = Vec::new();
    while domain_len > 0 {
        let take = domain_len.min(60);
        // A dot separates labels and counts too; never leave a lone dot.
        let take = if domain_len > take && domain_len - take == 1 {
            take - 1
        } else {
            take
        };
        labels.push("x".repeat(take));
        // Less the label, and less the dot before the next one.
        domain_len = (domain_len - take).saturating_sub(1);
    }
    let email = format!("{local}@{}.com", labels.join("."));
    assert_eq!(email.len(), len);
    email
}

#[tokio::test]
async fn emails_are_checked() {
    let app = spawn_app().await;
    app.register_as(&email_of_len(254), PASSWORD)
        .await
        .expect(201);
    app.register_as(&email_of_len(255), PASSWORD)
        .await
        .invalid("email");
    for bad in [
        "",
        "   ",
        "plainaddress",
        "@example.com",
        "user@",
        "a b@example.com",
    ] {
        app.register_as(bad, PASSWORD).await.invalid("email");
    }
}

#[tokio::test]
async fn auth_bodies_refuse_unknown_fields_and_wrong_types() {
    let app = spawn_app().await;
    let post = |path: &'static str, body: Value| {
        let app = &app;
        async move { app.call(Method::POST, path, None, Some(&body)).await }
    };
    let email = unique_email();
    post(
        "/api/auth/register",
        json!({"email": email, "password": PASSWORD, "admin": true}),
    )
    .await
    .problem(422, "validation_failed");
    post(
        "/api/auth/register",
        json!({"email": email, "password": PASSWORD, "id": uuid::Uuid::now_v7()}),
    )
    .await
    .problem(422, "validation_failed");
    // Nothing was created by the refused requests.
    app.login(&email, PASSWORD)
        .await
        .unauthorized("invalid_credentials", false);
    post("/api/auth/register", json!({"email": email}))
        .await
        .invalid("password");
    post(
        "/api/auth/register",
        json!({"email": email, "password": 12345678}),
    )
    .await
    .invalid("password");
    post(
        "/api/auth/login",
        json!({"email": email, "password": PASSWORD, "remember": true}),
    )
    .await
    .problem(422, "validation_failed");
    post(
        "/api/auth/refresh",
        json!({"refresh_token": "x", "extra": 1}),
    )
    .await
    .problem(422, "validation_failed");
    post("/api/auth/refresh", json!({}))
        .await
        .problem(422, "validation_failed");
}

#[tokio::test]
async fn registration_can_be_closed() {
    let app = spawn_with(|c| c.no_registration = true).await;
    app.register_as(&unique_email(), PASSWORD)
        .await
        .problem(403, "registration_closed");
}

#[tokio::test]
async fn refresh_rotates_within_the_session() {
    let app = spawn_app().await;
    let u = app.register().await;
    let session = app.refresh(&u.refresh).await.expect(200).json();
    assert_session(&session, &u.email);
    let rotated = User::from_session(&session);
    assert_ne!(rotated.refresh, u.refresh, "refresh tokens rotate");
    assert_eq!(
        claims_of(&rotated.token)["sid"],
        claims_of(&u.token)["sid"],
        "same session"
    );
    app.get(&rotated, "/api/auth/me").await.expect(200);
    app.get(&u, "/api/auth/me").await.expect(200);
    // The rotated one rotates again.
    app.refresh(&rotated.refresh).await.expect(200);
    app.refresh("not-a-refresh-token")
        .await
        .unauthorized("invalid_refresh_token", false);
}

#[tokio::test]
async fn refresh_reuse_within_the_grace_is_a_plain_401_and_after_it_revokes_the_session() {
    let app = spawn_with(|c| c.refresh_reuse_grace = Duration::from_secs(2)).await;
    let u = app.register().await;
    let other = User::from_session(&app.login(&u.email, PASSWORD).await.expect(200).json());
    let rotated = User::from_session(&app.refresh(&u.refresh).await.expect(200).json());

    // Within the grace: refused, nothing revoked.
    app.refresh(&u.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
    app.get(&rotated, "/api/auth/me").await.expect(200);
    app.get(&u, "/api/auth/me").await.expect(200);

    // After the grace: reuse detection revokes the whole session.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.refresh(&u.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
    app.get(&rotated, "/api/auth/me")
        .await
        .unauthorized("invalid_token", true);
    app.get(&u, "/api/auth/me")
        .await
        .unauthorized("invalid_token", true);
    app.refresh(&rotated.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
    // Another session of the same user is untouched.
    app.get(&other, "/api/auth/me").await.expect(200);
    app.refresh(&other.refresh).await.expect(200);
}

#[tokio::test]
async fn logout_revokes_the_session_and_its_access_tokens() {
    let app = spawn_app().await;
    let u = app.register().await;
    let other = User::from_session(&app.login(&u.email, PASSWORD).await.expect(200).json());
    let resp = app
        .call(Method::POST, "/api/auth/logout", Some(&u.token), None)
        .await;
    resp.expect(204);
    assert!(resp.body.is_empty());
    app.get(&u, "/api/auth/me")
        .await
        .unauthorized("invalid_token", true);
    app.get(&u, "/api/tasks")
        .await
        .unauthorized("invalid_token", true);
    app.refresh(&u.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
    app.get(&other, "/api/auth/me").await.expect(200);
    app.call(Method::POST, "/api/auth/logout", None, None)
        .await
        .unauthorized("missing_token", false);
}

#[tokio::test]
async fn logout_with_a_refresh_token_also_ends_that_session() {
    let app = spawn_app().await;
    let u = app.register().await;
    let other = User::from_session(&app.login(&u.email, PASSWORD).await.expect(200).json());
    let body = json!({"refresh_token": other.refresh});
    app.call(
        Method::POST,
        "/api/auth/logout",
        Some(&u.token),
        Some(&body),
    )
    .await
    .expect(204);
    app.get(&u, "/api/auth/me")
        .await
        .unauthorized("invalid_token", true);
    app.get(&other, "/api/auth/me")
        .await
        .unauthorized("invalid_token", true);
    app.refresh(&other.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
    let body = json!({"refresh_token": "x", "all": true});
    let third = User::from_session(&app.login(&u.email, PASSWORD).await.expect(200).json());
    app.call(
        Method::POST,
        "/api/auth/logout",
        Some(&third.token),
        Some(&body),
    )
    .await
    .problem(422, "validation_failed");
}

#[tokio::test]
async fn the_101st_login_ends_the_oldest_session() {
    let app = spawn_app().await;
    let first = app.register().await;
    let mut sessions = vec![first.clone()];
    for _ in 0..100 {
        let session = app.login(&first.email, PASSWORD).await.expect(200).json();
        sessions.push(User::from_session(&session));
    }
    app.get(&first, "/api/auth/me")
        .await
        .unauthorized("invalid_token", true);
    app.refresh(&first.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
    for u in &sessions[1..] {
        app.get(u, "/api/auth/me").await.expect(200);
    }
}

#[tokio::test]
async fn refresh_tokens_expire_with_their_ttl() {
    let app = spawn_with(|c| c.refresh_ttl = Duration::from_secs(1)).await;
    let u = app.register().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.refresh(&u.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
}

#[tokio::test]
async fn access_tokens_expire_with_the_ttl() {
    let app = spawn_with(|c| c.token_ttl = Duration::from_secs(1)).await;
    let session = app
        .register_as(&unique_email(), PASSWORD)
        .await
        .expect(201)
        .json();
    assert_eq!(session["expires_in"], 1);
    let c = claims_of(&s(&session["access_token"]));
    assert_eq!(
        c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat"),
        1
    );
}

#[tokio::test]
async fn two_refreshes_at_the_same_moment_do_not_log_the_user_out() {
    let app = spawn_app().await;
    let u = app.register().await;
    let (a, b) = tokio::join!(app.refresh(&u.refresh), app.refresh(&u.refresh));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "one rotation wins");
    let (winner, loser) = if a.status == 200 { (a, b) } else { (b, a) };
    loser.unauthorized("invalid_refresh_token", false);
    let rotated = User::from_session(&winner.json());
    app.get(&rotated, "/api/auth/me").await.expect(200);
    app.get(&u, "/api/auth/me").await.expect(200);
    app.refresh(&rotated.refresh).await.expect(200);
}
