//! Fills a sled store with many users and tasks, for benchmarks.
//!
//! ```sh
//! cargo run --release -p taskcore --example seed_store -- DATA_DIR [USERS] [TASKS]
//! ```
//!
//! Defaults: 200 users, 1,000,000 tasks spread over them, written by 64
//! concurrent writers through the store's normal (durable) path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use taskcore::{Email, SledConfig, SledStore, TaskDraft, TaskStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: seed_store DATA_DIR [USERS] [TASKS]")?;
    let users: u64 = args.next().map_or(Ok(200), |s| s.parse())?;
    let tasks: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let store: Arc<dyn TaskStore> = Arc::new(SledStore::open(SledConfig::new(&dir))?);

    let started = Instant::now();
    let mut owners = Vec::new();
    for i in 0..users {
        let email = Email::parse(&format!(
            "seed-{i}-{}@example.com",
            uuid::Uuid::now_v7().simple()
        ))?;
        // A fixed, valid PHC string: seeded users are not meant to log in.
        owners.push(store.create_user(&email, "$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVk$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await?.id);
    }
    let owners = Arc::new(owners);
    let next = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..64 {
        let (store, owners, next) = (store.clone(), owners.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tasks {
                    return Ok::<_, taskcore::StoreError>(());
                }
                let owner = owners[(i % owners.len() as u64) as usize];
                let draft = TaskDraft::new(&format!("Seeded task {i}"))
                    .map_err(|e| taskcore::StoreError::backend(e.to_string()))?;
                store.create_task(owner, draft, u64::MAX).await?;
            }
        }));
    }
    for writer in writers {
        writer.await??;
    }
    store.flush().await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {users} users and {tasks} tasks in {secs:.1}s ({:.0} tasks/s)",
        tasks as f64 / secs
    );
    Ok(())
}
