//! Auth rate limits (`--auth-rate-limit on`), client addresses behind trusted proxies.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use taskserver::config::{Switch, parse_trusted_proxy};

async fn limited_app(trusted: &[&str]) -> App {
    let proxies: Vec<_> = trusted
        .iter()
        .map(|p| parse_trusted_proxy(p).expect("cidr"))
        .collect();
    spawn_with(move |c| {
        c.auth_rate_limit = Switch::On;
        c.trusted_proxies = proxies;
    })
    .await
}

/// A refresh with a bad token, optionally "from" an `X-Forwarded-For` chain.
async fn refresh_from(app: &App, xff: Option<&str>) -> Resp {
    let mut request = app
        .req(Method::POST, "/api/auth/refresh")
        .json(&json!({"refresh_token": "nope"}));
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    send(request).await
}

/// A login, optionally "from" an `X-Forwarded-For` chain.
async fn login_from(app: &App, email: &str, password: &str, xff: Option<&str>) -> Resp {
    let mut request = app
        .req(Method::POST, "/api/auth/login")
        .json(&json!({"email": email, "password": password}));
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    send(request).await
}

#[track_caller]
fn assert_limited(resp: &Resp) {
    resp.problem(429, "rate_limited");
    let retry = resp.header("retry-after").expect("Retry-After on a 429");
    let secs: u64 = retry
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After in seconds: {retry:?}"));
    assert!((1..=3600).contains(&secs), "Retry-After {secs}");
}

#[tokio::test]
async fn sixty_auth_requests_per_address_per_minute() {
    let app = limited_app(&[]).await;
    let u = app.register().await; // 1
    for i in 2..=60 {
        let resp = refresh_from(&app, None).await;
        assert_eq!(resp.status, 401, "request {i}: {}", resp.short());
    }
    assert_limited(&refresh_from(&app, None).await);
    // Even the right password: 429 comes before anything else.
    assert_limited(&login_from(&app, &u.email, PASSWORD, None).await);
    assert_limited(&app.register_as(&unique_email(), PASSWORD).await);
    // A wrong method still answers 405, before the limit.
    let resp = app.call(Method::GET, "/api/auth/login", None, None).await;
    resp.problem(405, "method_not_allowed");
    // Other endpoints are not limited.
    app.get(&u, "/api/auth/me").await.expect(200);
    app.task(&u, "still works").await;
}

#[tokio::test]
async fn ten_failed_logins_per_email_and_address() {
    let app = limited_app(&[]).await;
    let u = app.register().await;
    for i in 0..10 {
        let resp = login_from(&app, &u.email, "wrong password", None).await;
        assert_eq!(resp.status, 401, "failure {i}: {}", resp.short());
    }
    // The right password now looks exactly like a further guess.
    assert_limited(&login_from(&app, &u.email, PASSWORD, None).await);
    assert_limited(&login_from(&app, &u.email.to_uppercase(), PASSWORD, None).await);
    // Another email from the same address is not affected.
    let other = app.register().await;
    login_from(&app, &other.email, PASSWORD, None)
        .await
        .expect(200);
    // Nor is the existing session.
    app.get(&u, "/api/auth/me").await.expect(200);
}

#[tokio::test]
async fn a_hundred_failed_logins_per_email_from_all_addresses() {
    let app = limited_app(&["127.0.0.1", "::1"]).await;
    let u = app.register().await;
    for i in 0..100 {
        let xff = format!("198.51.{}.{}", i / 200, i % 200 + 1);
        let resp = login_from(&app, &u.email, "wrong password", Some(&xff)).await;
        assert_eq!(resp.status, 401, "failure {i}: {}", resp.short());
    }
    assert_limited(&login_from(&app, &u.email, PASSWORD, Some("203.0.113.200")).await);
    let other = app.register().await;
    login_from(&app, &other.email, PASSWORD, Some("203.0.113.200"))
        .await
        .expect(200);
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_behind_a_trusted_proxy() {
    let app = limited_app(&["127.0.0.0/8", "::1"]).await;
    for i in 0..60 {
        // The first entries are the client's to forge; the last untrusted one counts.
        let xff = format!("10.0.0.{i}, 203.0.113.7");
        assert_eq!(
            refresh_from(&app, Some(&xff)).await.status,
            401,
            "request {i}"
        );
    }
    assert_limited(&refresh_from(&app, Some("203.0.113.7")).await);
    assert_limited(&refresh_from(&app, Some("192.0.2.1, 203.0.113.7")).await);
    assert_limited(&refresh_from(&app, Some("203.0.113.7, 127.0.0.1")).await);
    // Other clients behind the same proxy are not limited.
    refresh_from(&app, Some("203.0.113.8"))
        .await
        .unauthorized("invalid_refresh_token", false);
    refresh_from(&app, Some("203.0.113.7, 203.0.113.9"))
        .await
        .unauthorized("invalid_refresh_token", false);
    refresh_from(&app, None)
        .await
        .unauthorized("invalid_refresh_token", false);
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64() {
    let app = limited_app(&["127.0.0.1"]).await;
    for i in 0..60 {
        let xff = format!("2001:db8:1:2::{:x}", i + 1);
        assert_eq!(
            refresh_from(&app, Some(&xff)).await.status,
            401,
            "request {i}"
        );
    }
    assert_limited(&refresh_from(&app, Some("2001:db8:1:2:ffff:ffff:ffff:ffff")).await);
    refresh_from(&app, Some("2001:db8:1:3::1"))
        .await
        .unauthorized("invalid_refresh_token", false);
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_from_an_untrusted_peer() {
    let app = limited_app(&[]).await;
    for i in 0..60 {
        let xff = format!("203.0.113.{}", i + 1);
        assert_eq!(
            refresh_from(&app, Some(&xff)).await.status,
            401,
            "request {i}"
        );
    }
    assert_limited(&refresh_from(&app, Some("198.51.100.77")).await);
}

#[tokio::test]
async fn limits_are_off_when_switched_off() {
    let app = spawn_app().await;
    let u = app.register().await;
    for _ in 0..12 {
        login_from(&app, &u.email, "wrong password", None)
            .await
            .expect(401);
    }
    for _ in 0..60 {
        refresh_from(&app, None).await.expect(401);
    }
    login_from(&app, &u.email, PASSWORD, None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_answered_without_errors() {
    let app = spawn_app().await;
    let u = app.register().await;
    let logins = (0..64).map(|i| {
        let password = if i % 2 == 0 {
            PASSWORD
        } else {
            "wrong password"
        };
        login_from(&app, &u.email, password, None)
    });
    for (i, resp) in futures_util::future::join_all(logins)
        .await
        .iter()
        .enumerate()
    {
        match resp.status {
            200 if i % 2 == 0 => {}
            401 if i % 2 == 1 => resp.unauthorized("invalid_credentials", false),
            503 => {
                resp.problem(503, "overloaded");
                assert!(
                    resp.header("retry-after").is_some(),
                    "Retry-After on overloaded"
                );
            }
            other => panic!("login {i}: {other} {}", resp.short()),
        }
    }
}

#[tokio::test]
async fn wrong_passwords_when_deleting_the_account_count_as_failed_logins() {
    let app = limited_app(&[]).await;
    let u = app.register().await;
    let delete = |password: &str| {
        let request = app
            .authed(Method::DELETE, "/api/auth/me", &u.token)
            .json(&json!({"password": password}));
        send(request)
    };
    for i in 1..=10 {
        let resp = delete("wrong password").await;
        assert_eq!(resp.status, 401, "attempt {i}: {}", resp.short());
    }
    // Past the limit, even the right password is refused, here and at login.
    assert_limited(&delete(PASSWORD).await);
    assert_limited(&login_from(&app, &u.email, PASSWORD, None).await);
    app.get(&u, "/api/auth/me").await.expect(200);
}
