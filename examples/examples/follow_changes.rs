//! Following a user's changes live with `Client::events`: each change
//! prints one line (its kind, the task's number and title) as it happens,
//! from any device or program of that user.
//!
//! ```sh
//! cargo run -p examples --example follow_changes -- --spawn                # self-contained, checks itself
//! TASKS_EMAIL=ada@example.com TASKS_PASSWORD='correct horse battery' \
//!   cargo run -p examples --example follow_changes -- http://127.0.0.1:8080
//! TASKS_TOKEN=tsk_... cargo run -p examples --example follow_changes      # an API token instead
//! ```
//!
//! Without `--spawn` it follows the account named by `TASKS_EMAIL` and
//! `TASKS_PASSWORD` (or the token in `TASKS_TOKEN`) on the server at the
//! first argument, else `TASKSERVER_URL`, else `http://127.0.0.1:8080`,
//! from now until Ctrl-C; add a task with `taskcli` or curl and watch it
//! appear. The stream reconnects by itself (a server restart, an access
//! token that expires) and misses nothing in between.
//!
//! With `--spawn` it starts a server in this process, registers a user,
//! follows its changes while another task creates two tasks, completes one
//! and deletes the other, checks that it saw exactly those four changes, in
//! order, and exits 0 (1 with the reason otherwise, within 30 s).

use examples::{BoxError, LocalServer, server_url};
use futures_util::{Stream, TryStreamExt};
use std::time::Duration;
use taskclient::{Change, Client, LiveChange, TaskDraft, TaskRef, Title};
use taskcore::UserId;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("follow_changes: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--spawn") {
        let server = LocalServer::start().await?;
        let result = tokio::time::timeout(Duration::from_secs(30), self_check(&server.url())).await;
        server.stop().await?;
        return result.map_err(|_| "the changes did not all arrive within 30 s")?;
    }
    follow(&server_url(&args)).await
}

/// One line per change: `task  #3  [x] Buy oat milk` or `task_deleted  #4`.
fn describe(change: &Change) -> String {
    match change {
        Change::Task { task } => {
            let done = if task.completed { "x" } else { " " };
            format!(
                "{:<13} #{:<3} [{done}] {}",
                change.kind(),
                task.number,
                task.title
            )
        }
        Change::TaskDeleted { number, .. } => format!("{:<13} #{number}", change.kind()),
    }
}

/// Follows an existing account from now on, until Ctrl-C.
async fn follow(url: &str) -> Result<(), BoxError> {
    let client = match std::env::var("TASKS_TOKEN") {
        Ok(token) => Client::builder()
            .base_url(url)
            .access_token(token)
            .build()?,
        Err(_) => {
            let (Ok(email), Ok(password)) = (
                std::env::var("TASKS_EMAIL"),
                std::env::var("TASKS_PASSWORD"),
            ) else {
                return Err(
                    "set TASKS_EMAIL and TASKS_PASSWORD (or TASKS_TOKEN) to the account \
                            to follow, or pass --spawn"
                        .into(),
                );
            };
            let client = Client::new(url)?;
            // With a refresh token, the stream renews the access token by itself.
            client.login(&email, &password).await?;
            client
        }
    };
    println!("following the changes at {url} (Ctrl-C to stop)");
    let mut events = std::pin::pin!(client.events(None));
    loop {
        tokio::select! {
            next = events.try_next() => match next? {
                Some(live) => println!("{}", describe(&live.change)),
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// A user, a stream, a writer in another task; the stream must show each write.
async fn self_check(url: &str) -> Result<(), BoxError> {
    let client = Client::new(url)?;
    let email = format!("follow-{}@example.com", UserId::generate().0.simple());
    client.register(&email, "correct horse battery").await?;

    // Start from where the feed stands now (a full sync, empty for a new
    // user): the stream then has a cursor, so no change can slip by before
    // it is connected.
    let mut cursor = None;
    let mut pages = std::pin::pin!(client.changes(None));
    while let Some(page) = pages.try_next().await? {
        cursor = Some(page.cursor);
    }
    let mut events = std::pin::pin!(client.events(cursor));

    // The writer makes one change, then waits until the stream has shown
    // it: the feed gives each task once in its latest state, so changes
    // made faster than they are read would arrive merged.
    let (seen, mut wait_seen) = mpsc::channel::<()>(1);
    let writer = tokio::spawn({
        let client = client.clone();
        async move {
            let milk = client.create(Title::parse("Buy oat milk")?).send().await?;
            wait_seen.recv().await;
            let report = client
                .create_task(&TaskDraft::new("Write the report")?)
                .await?;
            wait_seen.recv().await;
            client
                .update(TaskRef::Id(milk.id))
                .completed(true)
                .send()
                .await?;
            wait_seen.recv().await;
            client.delete_task(TaskRef::Id(report.id), None).await?;
            Ok::<_, BoxError>(())
        }
    });

    let expected = [
        "task          #1   [ ] Buy oat milk",
        "task          #2   [ ] Write the report",
        "task          #1   [x] Buy oat milk",
        "task_deleted  #2",
    ];
    // Both at once, so that a failed write ends the check with its error.
    let writing = async { writer.await? };
    let (received, ()) = tokio::try_join!(receive(&mut events, expected.len(), &seen), writing)?;
    for (got, want) in received.iter().zip(expected) {
        if got != want {
            return Err(format!("expected `{want}`, received `{got}`").into());
        }
    }
    println!("received exactly the {} changes made", expected.len());
    Ok(())
}

/// Prints and collects `count` changes, acknowledging each one to the writer.
async fn receive(
    events: &mut (impl Stream<Item = taskclient::Result<LiveChange>> + Unpin),
    count: usize,
    seen: &mpsc::Sender<()>,
) -> Result<Vec<String>, BoxError> {
    let mut lines = Vec::new();
    while lines.len() < count {
        let live = events.try_next().await?.ok_or("the event stream ended")?;
        let line = describe(&live.change);
        println!("{line}");
        lines.push(line);
        // The writer is gone after its last change: nobody to tell then.
        let _ = seen.try_send(());
    }
    Ok(lines)
}
