//! External identity providers: a JWK set served by the test on port 0
//! (keys generated here), PEM public keys and a shared secret; what is
//! accepted, what is refused, key rotation, bounded refetching, a provider
//! that is down, and how external users are kept apart.

use crate::helpers::*;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use taskserver::Config;
use warp::Filter;

/// The provider's `iss` and the audience it issues tokens for.
const ISS: &str = "https://auth.example.test";
const AUD: &str = "https://tasks.example.test";
/// The secret shared with the provider in the HS256 setup.
const EXTERNAL_SECRET: &str = "shared-with-the-identity-provider-0123456789";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A provider's signing key: signs a JWT as its algorithm.
enum Private {
    Ed(sig::Ed25519KeyPair),
    Ec(sig::EcdsaKeyPair),
    Rsa(sig::RsaKeyPair),
}

struct Keys {
    ed: Private,
    ed_other: Private,
    ec: Private,
    rsa: Private,
}

/// Keys are generated once per test binary (RSA generation is slow in debug builds).
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        ed: Private::Ed(sig::Ed25519KeyPair::generate().expect("ed25519")),
        ed_other: Private::Ed(sig::Ed25519KeyPair::generate().expect("ed25519")),
        ec: Private::Ec(
            sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("p-256"),
        ),
        rsa: Private::Rsa(
            sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa"),
        ),
    })
}

impl Private {
    /// The public JWK, with `kid` and, when given, `alg`.
    fn jwk(&self, kid: &str, alg: Option<&str>) -> Value {
        let mut jwk = match self {
            Private::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
            Private::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Private::Rsa(k) => {
                let public = k.public_key();
                json!({"kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero())})
            }
        };
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    /// The public key as PEM (SubjectPublicKeyInfo).
    fn public_pem(&self) -> String {
        let der = self.public_der();
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    fn public_der(&self) -> Vec<u8> {
        match self {
            Private::Ed(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Private::Ec(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Private::Rsa(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
        }
    }

    /// A JWT with this header and claims, signed as `alg` (EdDSA, ES256, RS256 or PS256).
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            b64(&serde_json::to_vec(header).expect("json")),
            b64(&serde_json::to_vec(claims).expect("json"))
        );
        let signature = match self {
            Private::Ed(k) => k.sign(message.as_bytes()).as_ref().to_vec(),
            Private::Ec(k) => k
                .sign(&SystemRandom::new(), message.as_bytes())
                .expect("sign")
                .as_ref()
                .to_vec(),
            Private::Rsa(k) => {
                let padding: &'static dyn sig::RsaEncoding = match header["alg"].as_str() {
                    Some("PS256") => &sig::RSA_PSS_SHA256,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(padding, &SystemRandom::new(), message.as_bytes(), &mut out)
                    .expect("sign");
                out
            }
        };
        format!("{message}.{}", b64(&signature))
    }

    /// A token for `claims` with `alg` and `kid` in its header.
    fn token(&self, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        self.sign(&header, claims)
    }
}

/// Claims of a valid external token for `sub`, good for 10 minutes.
fn claims(sub: &str) -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": sub, "iat": now(), "exp": now() + 600})
}

fn new_sub() -> String {
    format!("user-{}", uuid::Uuid::now_v7())
}

/// A JWK set endpoint on port 0 whose set can be swapped and which counts its fetches.
struct Provider {
    url: String,
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    up: Arc<AtomicBool>,
}

impl Provider {
    async fn start(set: Value, up: bool) -> Provider {
        let shared = Arc::new(Mutex::new(set));
        let fetches = Arc::new(AtomicUsize::new(0));
        let is_up = Arc::new(AtomicBool::new(up));
        let (s, f, u) = (shared.clone(), fetches.clone(), is_up.clone());
        let route = warp::path!("api" / "auth" / "jwks").map(move || {
            f.fetch_add(1, Ordering::SeqCst);
            if !u.load(Ordering::SeqCst) {
                return warp::http::Response::builder()
                    .status(503)
                    .body("down".to_string())
                    .expect("response");
            }
            let body = s.lock().expect("lock").to_string();
            warp::http::Response::builder()
                .header("content-type", "application/json")
                .body(body)
                .expect("response")
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Provider {
            url: format!("http://{addr}/api/auth/jwks"),
            set: shared,
            fetches,
            up: is_up,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn serve(&self, set: Value) {
        *self.set.lock().expect("lock") = set;
    }
}

/// The usual provider set: Ed25519 (alg named), P-256 and RSA (no alg), RSA for PS256.
fn standard_set() -> Value {
    let k = keys();
    json!({"keys": [
        k.ed.jwk("ed", Some("EdDSA")),
        k.ec.jwk("ec", None),
        k.rsa.jwk("rsa", None),
        k.rsa.jwk("rsa-pss", Some("PS256")),
        // A symmetric key in a JWK set must be ignored.
        {"kty": "oct", "kid": "oct", "k": b64(EXTERNAL_SECRET.as_bytes()), "alg": "HS256"},
    ]})
}

/// A server trusting `provider`'s JWK set for ISS/AUD.
async fn spawn_trusting(provider: &Provider, tweak: impl FnOnce(&mut Config)) -> App {
    let url = provider.url.clone();
    spawn_with(move |c| {
        c.jwt_jwks_url = Some(url);
        c.jwt_issuer = Some(ISS.into());
        c.jwt_audience = Some(AUD.into());
        tweak(c);
    })
    .await
}

async fn me(app: &App, token: &str) -> Resp {
    send(app.authed(Method::GET, "/api/auth/me", token)).await
}

#[tokio::test]
async fn tokens_signed_with_each_algorithm_of_the_jwk_set_are_accepted() {
    let provider = Provider::start(standard_set(), true).await;
    let app = spawn_trusting(&provider, |_| {}).await;
    let k = keys();
    let cases = [
        (&k.ed, "EdDSA", "ed"),
        (&k.ec, "ES256", "ec"),
        (&k.rsa, "RS256", "rsa"),
        (&k.rsa, "PS256", "rsa-pss"),
    ];
    for (key, alg, kid) in cases {
        let sub = new_sub();
        let email = format!("{kid}@example.com");
        let token = key.token(alg, Some(kid), &with(&claims(&sub), "email", json!(email)));
        let user = me(&app, &token).await.expect(200).json();
        assert_eq!(user["email"], json!(email), "{alg}");
        // Without a kid, each key is tried in turn.
        let token = key.token(alg, None, &claims(&sub));
        let again = me(&app, &token).await.expect(200).json();
        assert_eq!(
            again["id"], user["id"],
            "{alg}: same issuer and sub, same user"
        );
        let created = send(
            app.authed(Method::POST, "/api/tasks", &token)
                .json(&json!({"title": alg})),
        )
        .await;
        created.expect(201);
    }
    let ready = send(app.req(Method::GET, "/readyz")).await;
    ready.expect(200);
}

#[tokio::test]
async fn forged_foreign_and_mismatched_tokens_are_401() {
    let provider = Provider::start(standard_set(), true).await;
    let app = spawn_trusting(&provider, |_| {}).await;
    let k = keys();
    let sub = new_sub();
    let good = claims(&sub);
    // The control: the same claims, properly signed, pass.
    me(&app, &k.ed.token("EdDSA", Some("ed"), &good))
        .await
        .expect(200);

    let tampered = {
        let token = k.ed.token("EdDSA", Some("ed"), &good);
        let parts: Vec<&str> = token.split('.').collect();
        let payload =
            b64(&serde_json::to_vec(&with(&good, "sub", json!("someone-else"))).expect("json"));
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let unsigned = |header: Value| {
        format!(
            "{}.{}.",
            b64(&serde_json::to_vec(&header).expect("json")),
            b64(&serde_json::to_vec(&good).expect("json"))
        )
    };
    let hmac_over = |kid: Option<&str>, secret: &[u8]| {
        let mut header = json!({"alg": "HS256", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let message = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&header).expect("json")),
            b64(&serde_json::to_vec(&good).expect("json"))
        );
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            message.as_bytes(),
        );
        format!("{message}.{}", b64(tag.as_ref()))
    };
    let ed_raw = match &k.ed {
        Private::Ed(key) => key.public_key().as_ref().to_vec(),
        _ => unreachable!(),
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "a key not in the set, claiming a known kid",
            k.ed_other.token("EdDSA", Some("ed"), &good),
        ),
        (
            "a key not in the set, no kid",
            k.ed_other.token("EdDSA", None, &good),
        ),
        (
            "a key not in the set, its own kid",
            k.ed_other.token("EdDSA", Some("mine"), &good),
        ),
        ("a tampered payload", tampered),
        ("alg none", unsigned(json!({"alg": "none", "typ": "JWT"}))),
        (
            "alg none with a kid",
            unsigned(json!({"alg": "none", "kid": "ed"})),
        ),
        (
            "HS256 over the RSA public key PEM",
            hmac_over(Some("rsa"), k.rsa.public_pem().as_bytes()),
        ),
        (
            "HS256 over the RSA public key DER",
            hmac_over(Some("rsa"), &k.rsa.public_der()),
        ),
        (
            "HS256 over the Ed25519 public key",
            hmac_over(Some("ed"), &ed_raw),
        ),
        (
            "HS256 over the Ed25519 PEM, no kid",
            hmac_over(None, k.ed.public_pem().as_bytes()),
        ),
        (
            "HS256 with the set's ignored symmetric key",
            hmac_over(Some("oct"), EXTERNAL_SECRET.as_bytes()),
        ),
        (
            "ES256 header on the Ed25519 key",
            k.ed.token("ES256", Some("ed"), &good),
        ),
        (
            "RS256 on the key the set names PS256",
            k.rsa.token("RS256", Some("rsa-pss"), &good),
        ),
        (
            "a wrong iss",
            k.ed.token(
                "EdDSA",
                Some("ed"),
                &with(&good, "iss", json!("https://evil.example")),
            ),
        ),
        (
            "a wrong aud",
            k.ed.token(
                "EdDSA",
                Some("ed"),
                &with(&good, "aud", json!("https://other.example")),
            ),
        ),
        (
            "no aud",
            k.ed.token("EdDSA", Some("ed"), &with(&good, "aud", Value::Null)),
        ),
        (
            "no sub",
            k.ed.token("EdDSA", Some("ed"), &with(&good, "sub", Value::Null)),
        ),
        (
            "no exp",
            k.ed.token("EdDSA", Some("ed"), &with(&good, "exp", Value::Null)),
        ),
        (
            "expired 2 minutes ago",
            k.ed.token("EdDSA", Some("ed"), &with(&good, "exp", json!(now() - 120))),
        ),
        (
            "not valid for 5 minutes",
            k.ed.token("EdDSA", Some("ed"), &with(&good, "nbf", json!(now() + 300))),
        ),
        // The local secret never verifies an external token, nor the reverse.
        ("the local secret with the external iss", forge(&good)),
        (
            "iss taskserver signed by a provider key",
            k.ed.token(
                "EdDSA",
                Some("ed"),
                &with(&good, "iss", json!("taskserver")),
            ),
        ),
    ];
    for (what, token) in cases {
        let r = me(&app, &token).await;
        assert_eq!(r.status, 401, "{what}: {}", r.short());
        r.unauthorized("invalid_token", true);
    }
    // An audience list that contains ours is fine.
    me(
        &app,
        &k.ec
            .token("ES256", Some("ec"), &with(&good, "aud", json!(["x", AUD]))),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_shared_secret_and_pem_public_keys_verify_external_tokens() {
    let k = keys();
    let dir = tempfile::tempdir().expect("tempdir");
    let ed_pem = dir.path().join("ed.pem");
    let rsa_pem = dir.path().join("rsa.pem");
    std::fs::write(&ed_pem, k.ed.public_pem()).expect("write");
    std::fs::write(&rsa_pem, k.rsa.public_pem()).expect("write");
    let app = spawn_with(|c| {
        c.jwt_public_keys = vec![ed_pem, rsa_pem];
        c.jwt_external_secret = Some(EXTERNAL_SECRET.into());
        c.jwt_issuer = Some(ISS.into());
        c.jwt_audience = Some(AUD.into());
    })
    .await;
    let sub = new_sub();
    let hs = forge_with(&json!({"alg": "HS256"}), &claims(&sub), EXTERNAL_SECRET);
    let id = me(&app, &hs).await.expect(200).json()["id"].clone();
    let ed = k.ed.token("EdDSA", None, &claims(&sub));
    assert_eq!(me(&app, &ed).await.expect(200).json()["id"], id);
    let rs = k.rsa.token("RS256", Some("whatever-kid"), &claims(&sub));
    assert_eq!(me(&app, &rs).await.expect(200).json()["id"], id);
    // Refused: the external secret with the local issuer, an HMAC over the
    // PEM text, a P-256 key that was not configured, and the external secret
    // as an HS512 key.
    let local_iss = with(
        &with(&claims(&sub), "iss", json!("taskserver")),
        "aud",
        json!("taskserver"),
    );
    for token in [
        forge_with(&json!({"alg": "HS256"}), &local_iss, EXTERNAL_SECRET),
        forge_with(&json!({"alg": "HS256"}), &claims(&sub), &k.ed.public_pem()),
        k.ec.token("ES256", None, &claims(&sub)),
        forge_with(&json!({"alg": "HS512"}), &claims(&sub), EXTERNAL_SECRET),
    ] {
        me(&app, &token).await.unauthorized("invalid_token", true);
    }
    // Local accounts keep working beside them.
    let local = app.register().await;
    app.get(&local, "/api/auth/me").await.expect(200);
    assert_ne!(app.get(&local, "/api/auth/me").await.json()["id"], id);
    send(app.req(Method::GET, "/readyz")).await.expect(200);
}

#[tokio::test]
async fn a_rotated_key_set_is_picked_up_without_a_restart() {
    let k = keys();
    let provider = Provider::start(json!({"keys": [k.ed.jwk("old", None)]}), true).await;
    let app = spawn_trusting(&provider, |_| {}).await;
    let sub = new_sub();
    let old = k.ed.token("EdDSA", Some("old"), &claims(&sub));
    let id = me(&app, &old).await.expect(200).json()["id"].clone();
    let before = provider.fetches();

    // The provider rotates to a new key with a new kid.
    provider.serve(json!({"keys": [k.ec.jwk("new", Some("ES256"))]}));
    let new = k.ec.token("ES256", Some("new"), &claims(&sub));
    let user = me(&app, &new).await.expect(200).json();
    assert_eq!(user["id"], id, "the same user across the rotation");
    assert_eq!(
        provider.fetches(),
        before + 1,
        "one refetch for the new kid"
    );
    // The old key is gone from the set, so its tokens are refused now.
    me(&app, &old).await.unauthorized("invalid_token", true);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_the_set_a_bounded_number_of_times() {
    let k = keys();
    let provider = Provider::start(standard_set(), true).await;
    let app = spawn_trusting(&provider, |_| {}).await;
    let good = k.ed.token("EdDSA", Some("ed"), &claims(&new_sub()));
    me(&app, &good).await.expect(200);
    let before = provider.fetches();
    assert!(before >= 1, "fetched at start");
    // The provider goes down: a failed fetch keeps the keys there were.
    provider.up.store(false, Ordering::SeqCst);

    let started = Instant::now();
    let app = Arc::new(app);
    let mut requests = Vec::new();
    for i in 0..200 {
        let app = app.clone();
        let token = k.ed_other.token(
            "EdDSA",
            Some(&format!("made-up-{i}-{}", uuid::Uuid::now_v7())),
            &claims(&new_sub()),
        );
        requests.push(tokio::spawn(async move { me(&app, &token).await.status }));
    }
    for request in requests {
        assert_eq!(request.await.expect("join"), 401);
    }
    let flood = provider.fetches() - before;
    assert!(
        (1..=2).contains(&flood),
        "200 unknown kids in {:?} caused {flood} fetches",
        started.elapsed()
    );
    // The keys loaded before the failed fetch still verify.
    me(&app, &good).await.expect(200);
    send(app.req(Method::GET, "/readyz")).await.expect(200);
}

#[tokio::test]
async fn the_server_starts_while_the_provider_is_down_and_recovers_when_it_is_back() {
    let k = keys();
    let provider = Provider::start(standard_set(), false).await;
    let started = Instant::now();
    let app = spawn_trusting(&provider, |_| {}).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "start is not held up"
    );
    assert!(provider.fetches() >= 1, "tried at start");
    let ready = send(app.req(Method::GET, "/readyz")).await;
    ready.problem(503, "not_ready");
    let token = k.ed.token("EdDSA", Some("ed"), &claims(&new_sub()));
    me(&app, &token).await.unauthorized("invalid_token", true);
    // Local accounts do not depend on the provider.
    let local = app.register().await;
    app.get(&local, "/api/auth/me").await.expect(200);

    provider.up.store(true, Ordering::SeqCst);
    // Within the 10 s bound on refetches, the token starts to work.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = me(&app, &token).await;
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {} after the provider came back",
            r.short()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    send(app.req(Method::GET, "/readyz")).await.expect(200);
    assert!(provider.fetches() <= 4, "{} fetches", provider.fetches());
}

#[tokio::test]
async fn external_users_see_only_their_own_tasks() {
    let k = keys();
    let provider = Provider::start(standard_set(), true).await;
    let app = spawn_trusting(&provider, |_| {}).await;
    let alice = k.ed.token(
        "EdDSA",
        Some("ed"),
        &with(&claims(&new_sub()), "email", json!("alice@example.com")),
    );
    let bob = k.ec.token("ES256", Some("ec"), &claims(&new_sub()));
    let bob_user = me(&app, &bob).await.expect(200).json();
    assert_eq!(bob_user["email"], Value::Null, "no email claim, no email");

    let task = send(
        app.authed(Method::POST, "/api/tasks", &alice)
            .json(&json!({"title": "alice's"})),
    )
    .await
    .expect(201)
    .json();
    let path = task_path(&task["id"]);
    send(app.authed(Method::GET, &path, &alice))
        .await
        .expect(200);
    send(app.authed(Method::GET, &path, &bob))
        .await
        .problem(404, "not_found");
    send(app.authed(Method::DELETE, &path, &bob))
        .await
        .problem(404, "not_found");
    let bobs = send(app.authed(Method::GET, "/api/tasks", &bob))
        .await
        .expect(200)
        .json();
    assert!(tasks_of(&bobs).is_empty(), "bob sees none of alice's tasks");
    let alices = send(app.authed(Method::GET, "/api/tasks", &alice))
        .await
        .expect(200)
        .json();
    assert_eq!(ids(&tasks_of(&alices)), vec![s(&task["id"])]);
}

#[tokio::test]
async fn a_local_account_and_an_external_user_with_the_same_email_are_different_users() {
    let k = keys();
    let provider = Provider::start(standard_set(), true).await;
    let app = spawn_trusting(&provider, |_| {}).await;
    let email = unique_email();
    let local = User::from_session(&app.register_as(&email, PASSWORD).await.expect(201).json());
    let external = k.ed.token(
        "EdDSA",
        Some("ed"),
        &with(&claims(&new_sub()), "email", json!(email)),
    );
    let local_me = app.get(&local, "/api/auth/me").await.expect(200).json();
    let external_me = me(&app, &external).await.expect(200).json();
    assert_eq!(local_me["email"], external_me["email"]);
    assert_ne!(local_me["id"], external_me["id"]);
    let task = app.task(&local, "local only").await;
    send(app.authed(Method::GET, &task_path(&task["id"]), &external))
        .await
        .problem(404, "not_found");
    // The same sub from another issuer would be another user too: the local
    // secret cannot speak for the provider.
    let c = claims_of(&local.token);
    let impostor = forge(
        &json!({"iss": ISS, "aud": AUD, "sub": c["sub"], "sid": c["sid"], "exp": now() + 600}),
    );
    me(&app, &impostor)
        .await
        .unauthorized("invalid_token", true);
}

#[tokio::test]
async fn an_external_user_deletes_their_account_with_the_token_alone() {
    let k = keys();
    let provider = Provider::start(standard_set(), true).await;
    let app = spawn_trusting(&provider, |_| {}).await;
    let email = unique_email();
    let local = User::from_session(&app.register_as(&email, PASSWORD).await.expect(201).json());
    let kept = app.task(&local, "local").await;
    let external = k.ed.token(
        "EdDSA",
        Some("ed"),
        &with(&claims(&new_sub()), "email", json!(email)),
    );
    let before = me(&app, &external).await.expect(200).json();
    send(
        app.authed(Method::POST, "/api/tasks", &external)
            .json(&json!({"title": "external"})),
    )
    .await
    .expect(201);
    send(app.authed(Method::DELETE, "/api/auth/me", &external))
        .await
        .expect(204);
    // The local account with the same email is untouched.
    assert_eq!(app.fetch(&local, &kept["id"]).await, kept);
    app.login(&email, PASSWORD).await.expect(200);
    // The provider still vouches for the token: it is a new, empty user.
    let after = me(&app, &external).await.expect(200).json();
    assert_ne!(after["id"], before["id"]);
    let page = send(app.authed(Method::GET, "/api/tasks", &external))
        .await
        .expect(200)
        .json();
    assert!(tasks_of(&page).is_empty());
}

#[tokio::test]
async fn concurrent_first_requests_of_a_new_external_user_create_one_user() {
    let k = keys();
    let provider = Provider::start(standard_set(), true).await;
    let app = Arc::new(spawn_trusting(&provider, |_| {}).await);
    let token = k.ed.token("EdDSA", Some("ed"), &claims(&new_sub()));
    let mut requests = Vec::new();
    for _ in 0..16 {
        let (app, token) = (app.clone(), token.clone());
        requests.push(tokio::spawn(async move {
            send(
                app.authed(Method::POST, "/api/tasks", &token)
                    .json(&json!({"title": "t"})),
            )
            .await
            .expect(201)
            .json()
        }));
    }
    for request in requests {
        request.await.expect("join");
    }
    let page = send(app.authed(Method::GET, "/api/tasks?limit=100", &token))
        .await
        .expect(200)
        .json();
    assert_eq!(
        tasks_of(&page).len(),
        16,
        "every task landed with the one user"
    );
}

#[tokio::test]
async fn without_local_accounts_only_external_tokens_work() {
    let k = keys();
    let provider = Provider::start(standard_set(), true).await;
    // A local account made before the switch.
    let app = spawn_trusting(&provider, |_| {}).await;
    let email = unique_email();
    let local = app.register().await;
    app.register_as(&email, PASSWORD).await.expect(201);
    let app = app.restart(|c| c.no_local_accounts = true).await;
    app.register_as(&unique_email(), PASSWORD)
        .await
        .problem(403, "local_accounts_disabled");
    app.login(&email, PASSWORD)
        .await
        .problem(403, "local_accounts_disabled");
    app.refresh(&local.refresh)
        .await
        .problem(403, "local_accounts_disabled");
    app.get(&local, "/api/auth/me")
        .await
        .unauthorized("invalid_token", true);

    let token = k.ed.token("EdDSA", Some("ed"), &claims(&new_sub()));
    me(&app, &token).await.expect(200);
    // Logout with an external token revokes nothing: the provider owns sessions.
    send(app.authed(Method::POST, "/api/auth/logout", &token))
        .await
        .expect(204);
    me(&app, &token).await.expect(200);
    // An external user may make API tokens for scripts.
    let created = send(
        app.authed(Method::POST, "/api/auth/tokens", &token)
            .json(&json!({"name": "ci"})),
    )
    .await
    .expect(201)
    .json();
    let api = s(&created["token"]);
    assert_eq!(
        me(&app, &api).await.expect(200).json()["id"],
        me(&app, &token).await.json()["id"]
    );
}

#[tokio::test]
async fn an_app_mounting_the_filters_itself_gets_the_key_set_loaded() {
    use std::sync::Arc;
    let provider = Provider::start(standard_set(), true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path().join("data")).jwt_secret(SECRET);
    config.jwt_jwks_url = Some(provider.url.clone());
    config.jwt_issuer = Some(ISS.into());
    config.jwt_audience = Some(AUD.into());
    let store =
        taskcore::SledStore::open(taskcore::SledConfig::new(&config.data_dir)).expect("store");
    let state = taskserver::AppState::new(config, Arc::new(store))
        .await
        .expect("state");
    assert_eq!(
        provider.fetches(),
        1,
        "the set is fetched before the state is ready"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = App::remote(&format!("http://{}", listener.local_addr().expect("addr")));
    tokio::spawn(
        warp::serve(taskserver::routes(state))
            .incoming(listener)
            .run(),
    );
    send(app.req(Method::GET, "/readyz")).await.expect(200);
    let token = keys().ed.token("EdDSA", Some("ed"), &claims(&new_sub()));
    send(app.authed(Method::GET, "/api/tasks", &token))
        .await
        .expect(200);
    assert_eq!(provider.fetches(), 1, "a known kid needs no refetch");
}
