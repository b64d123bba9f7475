//! Mounting the task API inside your own warp application, next to its own routes.
//!
//! [`taskserver::routes`] answers only `/api/...`, `/healthz`, `/readyz` and
//! `/metrics`, and rejects every other path, so it combines with `.or()` and
//! the application keeps the rest: here `GET /` (a static page) and `GET /hello`.
//!
//! ```sh
//! cargo run -p examples --example mount_in_your_app            # http://127.0.0.1:3000
//! cargo run -p examples --example mount_in_your_app -- 0       # any free port
//! cargo run -p examples --example mount_in_your_app -- --self-test
//! ```
//!
//! It prints `listening on http://ADDR` and serves until Ctrl-C. The store is
//! in a temporary directory unless `TASKSERVER_DATA_DIR` names one. With
//! `--self-test` it starts on a free port, sends a few requests to its own
//! routes and to the API with `reqwest`, prints what came back and exits.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use taskserver::{AppState, Config};
use tokio::net::TcpListener;
use warp::Filter;
use warp::http::StatusCode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const INDEX: &str = "<!doctype html>
<title>My app</title>
<h1>My app</h1>
<p>My own pages live here; the task API is under <code>/api</code>.</p>
";

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("mount_in_your_app: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let self_test = args.iter().any(|a| a == "--self-test");
    let port: u16 = match args.iter().find(|a| !a.starts_with("--")) {
        _ if self_test => 0,
        Some(port) => port.parse().map_err(|_| format!("not a port: {port}"))?,
        None => 3000,
    };

    // The store and the API's state, exactly as the taskserver binary builds them.
    let temp = tempfile::tempdir()?;
    let data_dir = std::env::var_os("TASKSERVER_DATA_DIR")
        .map_or_else(|| temp.path().join("store"), Into::into);
    // The library reads no flags or environment: this app chose the data directory.
    let config = Config::new(&data_dir);
    let sled = taskcore::SledConfig::new(&data_dir);
    let store = tokio::task::spawn_blocking(move || taskcore::SledStore::open(sled)).await??;
    let state = AppState::new(config, Arc::new(store)).await?;

    // The application's own routes, then the API: each takes the paths it knows.
    let index = warp::get()
        .and(warp::path::end())
        .map(|| warp::reply::html(INDEX));
    let hello = warp::get()
        .and(warp::path("hello"))
        .and(warp::path::end())
        .map(|| "hello from your app\n");
    let app = index
        .or(hello)
        .or(taskserver::routes(state.clone()))
        .recover(not_found);

    // Bind first, so port 0 works and the real address can be printed.
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        warp::serve(app)
            .incoming(listener)
            .graceful(async {
                let _ = stopped.await;
            })
            .run(),
    );

    let outcome = if self_test {
        self_test_requests(addr).await
    } else {
        tokio::signal::ctrl_c().await?;
        println!("stopping");
        Ok(())
    };

    let _ = stop.send(());
    server.await?;
    // Make every write durable before the process ends.
    state.store().flush().await?;
    outcome
}

/// Paths that neither the application nor the API took.
async fn not_found(rejection: warp::Rejection) -> Result<impl warp::Reply, warp::Rejection> {
    if rejection.is_not_found() {
        Ok(warp::reply::with_status(
            "no such page\n",
            StatusCode::NOT_FOUND,
        ))
    } else {
        Err(rejection)
    }
}

/// A few requests to both halves of the application, checked.
async fn self_test_requests(addr: SocketAddr) -> Result<(), BoxError> {
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let expect = |what: &str, got: reqwest::StatusCode, want: u16| -> Result<(), BoxError> {
        println!("{what} -> {got}");
        if got.as_u16() == want {
            Ok(())
        } else {
            Err(format!("{what}: expected {want}, got {got}").into())
        }
    };

    let page = http.get(format!("{base}/")).send().await?;
    expect("GET /", page.status(), 200)?;
    let hello = http.get(format!("{base}/hello")).send().await?;
    expect("GET /hello", hello.status(), 200)?;
    println!("  {}", hello.text().await?.trim());
    let health = http.get(format!("{base}/healthz")).send().await?;
    expect("GET /healthz", health.status(), 200)?;

    let register = http
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({
            "email": "ada@example.com",
            "password": "correct horse battery",
        }))
        .send()
        .await?;
    expect("POST /api/auth/register", register.status(), 201)?;
    let session: serde_json::Value = register.json().await?;
    let token = session["access_token"]
        .as_str()
        .ok_or("no access_token in the response")?
        .to_string();

    let create = http
        .post(format!("{base}/api/tasks"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Mount the API", "priority": "high"}))
        .send()
        .await?;
    expect("POST /api/tasks", create.status(), 201)?;
    println!(
        "  etag {}",
        create
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    );

    let list = http
        .get(format!("{base}/api/tasks"))
        .bearer_auth(&token)
        .send()
        .await?;
    expect("GET /api/tasks", list.status(), 200)?;
    let page: serde_json::Value = list.json().await?;
    for task in page["tasks"].as_array().ok_or("no tasks array")? {
        println!(
            "  #{} {} ({})",
            task["number"], task["title"], task["priority"]
        );
    }

    let anonymous = http.get(format!("{base}/api/tasks")).send().await?;
    expect("GET /api/tasks without a token", anonymous.status(), 401)?;
    let unknown_api = http.get(format!("{base}/api/nope")).send().await?;
    expect("GET /api/nope", unknown_api.status(), 404)?;
    let unknown = http.get(format!("{base}/nope")).send().await?;
    expect("GET /nope", unknown.status(), 404)?;
    println!("self-test passed");
    Ok(())
}
