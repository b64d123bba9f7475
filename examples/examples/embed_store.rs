//! Embedding the store: `taskcore` used as a library, with no server and no HTTP.
//!
//! Opens a sled store, creates a user, then creates, lists, updates and
//! deletes that user's tasks through the scoped handle
//! `store.tasks_of(user_id)`: the only way in to tasks, so code working for
//! one user cannot reach another user's tasks.
//!
//! ```sh
//! cargo run -p examples --example embed_store            # in a temporary directory
//! cargo run -p examples --example embed_store -- ./data  # in ./data (kept; run it twice)
//! ```
//!
//! A data directory belongs to one process at a time: stop a `taskserver`
//! using it before pointing this example at it.

use std::time::Duration;
use taskcore::auth::password::{hash_password, verify_password};
use taskcore::{
    Email, ListQuery, Password, Precondition, Priority, SledConfig, SledStore, Sort, StatusFilter,
    StoreError, Tags, TaskDraft, TaskPatch, TaskRef, TaskStore, Timestamp, User,
};

/// The most live tasks one user may have here (the server's default).
const MAX_TASKS: u64 = 100_000;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("embed_store: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    // A directory from the command line, else a temporary one removed at the end.
    let temp = tempfile::tempdir()?;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => temp.path().join("store"),
    };

    // Opening is blocking I/O: keep it off the async workers.
    let config = SledConfig::new(&dir);
    let sled = tokio::task::spawn_blocking(move || SledStore::open(config)).await??;
    println!("opened the store in {}", sled.path().display());
    let store: &dyn TaskStore = &sled;

    let user = find_or_create_user(store, "ada@example.com", "correct horse battery").await?;
    let tasks = store.tasks_of(user.id);
    println!("user {} has {} live tasks", user.id, tasks.count().await?);

    // Create: drafts are validated when built, so the store only sees valid tasks.
    let tomorrow = Timestamp::now().plus(Duration::from_secs(24 * 3600));
    let mut milk = TaskDraft::new("Buy oat milk")?;
    milk.priority = Priority::High;
    milk.tags = Tags::parse(["home", "shopping"])?;
    milk.due = Some(tomorrow);
    let milk = tasks.create(milk, MAX_TASKS).await?;
    let report = tasks
        .create(TaskDraft::new("Write the report")?, MAX_TASKS)
        .await?;
    let mut call = TaskDraft::new("Call the plumber")?;
    call.priority = Priority::Low;
    let call = tasks.create(call, MAX_TASKS).await?;
    for task in [&milk, &report, &call] {
        println!(
            "created #{} {:?} (priority {}, version {})",
            task.number, task.title, task.priority, task.version
        );
    }

    // Update with a precondition: only if nobody changed it since we read it.
    let done = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    let seen = Precondition::Versions(vec![report.version]);
    let report = tasks
        .update(TaskRef::Id(report.id), done.clone(), &seen)
        .await?;
    println!(
        "completed #{} at {} (now version {})",
        report.number,
        report.completed_at.map_or("?".into(), |t| t.to_string()),
        report.version
    );
    // The same precondition again is stale now: refused, nothing changes.
    match tasks.update(TaskRef::Id(report.id), done, &seen).await {
        Err(StoreError::VersionMismatch) => {
            println!("a second update with the old version is refused: version mismatch")
        }
        other => return Err(format!("expected a version mismatch, got {other:?}").into()),
    }

    // List pending tasks, most important first, two per page to show paging.
    let query = ListQuery {
        status: StatusFilter::Pending,
        sort: Sort::parse("-priority").ok_or("bad sort")?,
        limit: 2,
        ..ListQuery::default()
    };
    let mut after = None;
    let mut page_number = 1;
    loop {
        let page = tasks.list(&query, after.as_ref()).await?;
        for task in &page.tasks {
            println!(
                "page {page_number}: #{} [{}] {} {:?}",
                task.number, task.priority, task.title, task.tags
            );
        }
        match page.next {
            Some(position) => after = Some(position),
            None => break,
        }
        page_number += 1;
    }

    // Get by number, delete, and see it gone.
    let by_number = tasks.get(TaskRef::Number(call.number)).await?;
    println!(
        "task number {} is {:?}",
        call.number,
        by_number.map(|t| t.title)
    );
    tasks
        .delete(TaskRef::Number(call.number), &Precondition::None)
        .await?;
    match tasks.get(TaskRef::Number(call.number)).await? {
        None => println!("deleted #{}", call.number),
        Some(_) => return Err("the task is still there".into()),
    }
    match tasks
        .delete(TaskRef::Number(call.number), &Precondition::None)
        .await
    {
        Err(StoreError::NotFound) => println!("deleting it again: not found"),
        other => return Err(format!("expected not found, got {other:?}").into()),
    }

    println!("user {} has {} live tasks", user.id, tasks.count().await?);
    store.flush().await?;
    Ok(())
}

/// The account for `email`: created with an argon2id hash of the password,
/// or (when a kept directory already has it) checked against the stored hash.
async fn find_or_create_user(
    store: &dyn TaskStore,
    email: &str,
    password: &str,
) -> Result<User, BoxError> {
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    // argon2 is deliberately slow: hash on a blocking thread.
    let hashing = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&hashing)).await??;
    match store.create_user(&email, &hash).await {
        Ok(user) => {
            println!("created user {email}");
            Ok(user)
        }
        Err(StoreError::EmailTaken) => {
            let credentials = store
                .credentials(&email)
                .await?
                .ok_or("the email is taken but has no credentials")?;
            if !verify_password(&password, &credentials.password_hash) {
                return Err("the stored password is not the example's".into());
            }
            println!("found user {email} (password checked)");
            Ok(credentials.user)
        }
        Err(e) => Err(e.into()),
    }
}
