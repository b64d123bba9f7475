//! The `taskclient` SDK against a running server: register or log in, create
//! tasks, walk every page of a list, complete a task with `If-Match`, match
//! on errors, log out.
//!
//! ```sh
//! cargo run -p examples --example sdk_client -- --spawn                  # starts its own server
//! cargo run -p examples --example sdk_client -- http://127.0.0.1:8080    # against yours
//! TASKSERVER_URL=http://tasks.internal:8080 cargo run -p examples --example sdk_client
//! ```
//!
//! Without `--spawn` the URL is the first argument, else `TASKSERVER_URL`,
//! else `http://127.0.0.1:8080`. The account is a new random one, unless
//! `TASKS_EMAIL` and `TASKS_PASSWORD` name an existing one (then it logs in).

use examples::{BoxError, LocalServer, server_url};
use futures_util::TryStreamExt;
use std::time::Duration;
use taskclient::{Client, Error};
use taskcore::{
    ListQuery, Priority, Sort, StatusFilter, Tags, TaskDraft, TaskPatch, TaskRef, Timestamp, UserId,
};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("sdk_client: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // With --spawn: a whole server in this process, on a free port and a temporary store.
    let server = if args.iter().any(|a| a == "--spawn") {
        Some(LocalServer::start().await?)
    } else {
        None
    };
    let url = match &server {
        Some(server) => server.url(),
        None => server_url(&args),
    };

    let result = demo(&url).await;
    if let Some(server) = server {
        server.stop().await?;
    }
    result
}

async fn demo(url: &str) -> Result<(), BoxError> {
    // Timeouts and retries have defaults; the callback sees every refreshed
    // token pair, so a real program would persist it there.
    let client = Client::builder()
        .base_url(url)
        .on_token_refresh(|_pair| println!("(a new token pair went to the callback)"))
        .build()?;

    match client.health().await {
        Ok(health) => println!("{url} is up: {}", health.status),
        Err(e @ Error::Transport(_)) => {
            return Err(
                format!("{e} (start one with `cargo run -p taskserver`, or pass --spawn)").into(),
            );
        }
        Err(e) => return Err(e.into()),
    }

    // Register, or log in when the account exists already (409 Conflict).
    let (email, password) = match (
        std::env::var("TASKS_EMAIL"),
        std::env::var("TASKS_PASSWORD"),
    ) {
        (Ok(email), Ok(password)) => (email, password),
        _ => (
            format!("sdk-{}@example.com", UserId::generate().0.simple()),
            "correct horse battery".to_string(),
        ),
    };
    let session = match client.register(&email, &password).await {
        Ok(session) => {
            println!("registered {email}");
            session
        }
        Err(Error::Conflict { .. }) => {
            let session = client.login(&email, &password).await?;
            println!("logged in as {email}");
            session
        }
        Err(Error::Validation { errors }) => {
            for e in &errors {
                eprintln!("  {}: {}", e.field, e.message);
            }
            return Err("the server refused the email or password".into());
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "user {}, access token valid for {}s",
        session.user.id, session.expires_in
    );

    // Create a few tasks: drafts are the domain types, validated before sending.
    let now = Timestamp::from_micros(Timestamp::now().as_secs() * 1_000_000).ok_or("clock")?;
    let in_days = |days: u64| now.plus(Duration::from_secs(days * 24 * 3600));
    let mut created = Vec::new();
    for (title, priority, tags, due) in [
        (
            "Buy oat milk",
            Priority::High,
            vec!["home"],
            Some(in_days(1)),
        ),
        (
            "Write the report",
            Priority::Medium,
            vec!["work"],
            Some(in_days(3)),
        ),
        ("Call the plumber", Priority::Low, vec!["home"], None),
        (
            "Renew the passport",
            Priority::None,
            vec![],
            Some(in_days(30)),
        ),
        ("Water the plants", Priority::Low, vec!["home"], None),
    ] {
        let mut draft = TaskDraft::new(title)?;
        draft.priority = priority;
        draft.tags = Tags::parse(tags)?;
        draft.due = due;
        let task = client.create_task(&draft).await?;
        println!("created #{} {}", task.number, task.title);
        created.push(task);
    }

    // Every task, across pages of two: `pages` yields pages, `all_tasks` tasks.
    let by_priority = ListQuery {
        sort: Sort::parse("-priority").ok_or("bad sort")?,
        limit: 2,
        ..ListQuery::default()
    };
    let pages: Vec<_> = client.pages(by_priority.clone()).try_collect().await?;
    println!(
        "{} tasks in {} pages of at most 2",
        created.len(),
        pages.len()
    );
    let mut all = std::pin::pin!(client.all_tasks(by_priority));
    while let Some(task) = all.try_next().await? {
        let due = task.due.map_or("-".to_string(), |d| d.to_string());
        println!(
            "  #{:<2} {:<7} {:<20} due {}",
            task.number,
            task.priority.as_str(),
            task.title,
            due
        );
    }

    // Complete one, only if it is still at the version we have (If-Match).
    let report = &created[1];
    let done = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    let updated = client
        .update_task(TaskRef::Id(report.id), &done, Some(report.version))
        .await?;
    println!(
        "completed #{} (version {} -> {})",
        updated.number, report.version, updated.version
    );
    // The old version again: the server refuses with 412, which is its own variant.
    match client
        .update_task(TaskRef::Id(report.id), &done, Some(report.version))
        .await
    {
        Err(Error::VersionMismatch) => {
            println!(
                "updating with the stale version {}: refused (412)",
                report.version
            )
        }
        other => return Err(format!("expected a version mismatch, got {other:?}").into()),
    }

    // Errors are an enum: match on what happened, not on status codes.
    match client.get_task(TaskRef::Number(9999)).await {
        Err(Error::NotFound) => println!("task #9999: not found (404)"),
        Ok(task) => println!("task #9999 exists: {}", task.title),
        Err(e) => return Err(e.into()),
    }

    let plumber = &created[2];
    client
        .delete_task(TaskRef::Number(plumber.number), None)
        .await?;
    println!("deleted #{}", plumber.number);

    let pending = ListQuery {
        status: StatusFilter::Pending,
        ..ListQuery::default()
    };
    let pending = client.collect_tasks(pending).await?;
    println!("{} pending tasks left", pending.len());

    // Log out: the session ends on the server, and the client forgets its tokens.
    let old = client.tokens().ok_or("the client holds no tokens")?;
    client.logout().await?;
    println!(
        "logged out; the client holds tokens: {}",
        client.tokens().is_some()
    );
    // The old access token is refused at once, with a code saying why.
    let stale = Client::builder()
        .base_url(url)
        .access_token(old.access_token)
        .build()?;
    match stale.me().await {
        Err(e @ Error::Unauthorized { .. }) => println!(
            "the old access token: {} ({})",
            e,
            e.code().unwrap_or("no code")
        ),
        other => return Err(format!("expected unauthorized, got {other:?}").into()),
    }
    Ok(())
}
