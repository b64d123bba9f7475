//! Deleting an account (`DELETE /api/auth/me`) and the cap on API tokens.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// `DELETE /api/auth/me` with a bearer token and an optional JSON body.
pub async fn delete_account(app: &App, token: &str, body: Option<Value>) -> Resp {
    let mut request = app.authed(Method::DELETE, "/api/auth/me", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

/// A new API token's value.
async fn api_token(app: &App, u: &User) -> String {
    let created = app
        .post(u, "/api/auth/tokens", json!({"name": "ci"}))
        .await
        .expect(201)
        .json();
    s(&created["token"])
}

#[tokio::test]
async fn deleting_the_account_ends_every_token_and_frees_the_email() {
    let app = spawn_app().await;
    let ada = app.register().await;
    let other_session =
        User::from_session(&app.login(&ada.email, PASSWORD).await.expect(200).json());
    let script = api_token(&app, &ada).await;
    for title in ["milk", "report"] {
        app.task(&ada, title).await;
    }
    let bob = app.register().await;
    let bobs = app.task(&bob, "bob's").await;

    let resp = delete_account(&app, &ada.token, Some(json!({"password": PASSWORD}))).await;
    resp.expect(204);
    assert!(resp.body.is_empty());

    // Every token of the account, at once.
    for token in [&ada.token, &other_session.token, &script] {
        send(app.authed(Method::GET, "/api/tasks", token))
            .await
            .unauthorized("invalid_token", true);
    }
    app.refresh(&ada.refresh)
        .await
        .unauthorized("invalid_refresh_token", false);
    app.login(&ada.email, PASSWORD)
        .await
        .unauthorized("invalid_credentials", false);

    // Bob keeps everything.
    assert_eq!(app.fetch(&bob, &bobs["id"]).await, bobs);
    assert_eq!(app.list_all(&bob, "status=all").await, vec![bobs]);

    // The email registers again, as a new user with nothing of the old one.
    let again = User::from_session(
        &app.register_as(&ada.email, PASSWORD)
            .await
            .expect(201)
            .json(),
    );
    assert_ne!(again.id, ada.id);
    assert!(app.list_all(&again, "status=all").await.is_empty());
    app.get(&again, "/api/tasks/1")
        .await
        .problem(404, "not_found");
    let tokens = app.get(&again, "/api/auth/tokens").await.expect(200).json();
    assert_eq!(tokens["tokens"], json!([]));
    assert_eq!(app.task(&again, "first").await["number"], 1);
}

#[tokio::test]
async fn deleting_a_local_account_needs_its_password_and_a_session() {
    let app = spawn_app().await;
    let ada = app.register().await;
    let script = api_token(&app, &ada).await;
    app.task(&ada, "kept").await;

    delete_account(
        &app,
        &ada.token,
        Some(json!({"password": "wrong password"})),
    )
    .await
    .unauthorized("invalid_credentials", false);
    delete_account(&app, &ada.token, Some(json!({"password": "short"})))
        .await
        .unauthorized("invalid_credentials", false);
    delete_account(&app, &ada.token, None)
        .await
        .problem(400, "malformed_json");
    delete_account(&app, &ada.token, Some(json!({})))
        .await
        .invalid("password");
    delete_account(&app, &ada.token, Some(json!({"password": 7})))
        .await
        .invalid("password");
    delete_account(
        &app,
        &ada.token,
        Some(json!({"password": PASSWORD, "user_id": ada.id})),
    )
    .await
    .invalid("user_id");
    // An API token cannot, even with the right password.
    delete_account(&app, &script, Some(json!({"password": PASSWORD})))
        .await
        .problem(403, "api_token_not_allowed");
    send(app.req(Method::DELETE, "/api/auth/me"))
        .await
        .unauthorized("missing_token", false);

    // Nothing was deleted.
    app.get(&ada, "/api/auth/me").await.expect(200);
    assert_eq!(app.list_all(&ada, "status=all").await.len(), 1);
    send(app.authed(Method::GET, "/api/tasks", &script))
        .await
        .expect(200);

    // The method is listed where the path's methods are.
    let resp = app.post(&ada, "/api/auth/me", json!({})).await;
    resp.problem(405, "method_not_allowed");
    let allow = resp.header_list("allow");
    assert!(allow.contains(&"delete".to_string()), "{allow:?}");
    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .json();
    let op = &doc["paths"]["/api/auth/me"]["delete"];
    for status in ["204", "400", "401", "403", "422", "429"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
    let schema = &doc["components"]["schemas"]["DeleteAccountRequest"];
    assert_eq!(schema["additionalProperties"], false);
}

#[tokio::test]
async fn a_user_has_at_most_100_live_api_tokens() {
    let app = spawn_app().await;
    let ada = app.register().await;
    let mut ids = Vec::new();
    for i in 0..100 {
        let created = app
            .post(&ada, "/api/auth/tokens", json!({"name": format!("t{i}")}))
            .await
            .expect(201)
            .json();
        ids.push(s(&created["id"]));
    }
    app.post(&ada, "/api/auth/tokens", json!({"name": "one too many"}))
        .await
        .problem(403, "api_token_limit_reached");
    let listed = app.get(&ada, "/api/auth/tokens").await.expect(200).json();
    assert_eq!(listed["tokens"].as_array().expect("tokens").len(), 100);
    // Another user is not affected; revoking one makes room.
    let bob = app.register().await;
    api_token(&app, &bob).await;
    app.delete(&ada, &format!("/api/auth/tokens/{}", ids[0]))
        .await
        .expect(204);
    api_token(&app, &ada).await;
    app.post(&ada, "/api/auth/tokens", json!({"name": "again too many"}))
        .await
        .problem(403, "api_token_limit_reached");
}
