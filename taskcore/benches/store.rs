//! Micro-benchmarks of the sled store on a temporary directory: a durable
//! create (alone, and 64 at once sharing group commits, of one user or of
//! 64), reading a task by id and by number, listing a page of 50 tasks of one
//! user with and without 100,000 tasks of other users in the store, and the
//! session lookup that every request with an access token makes.
//!
//! `cargo bench -p taskcore --bench store`; `TASKCORE_BENCH_OTHER_TASKS=N`
//! changes how many tasks of other users are seeded (default 100,000).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskcore::store::NewSession;
use taskcore::{
    Email, ListQuery, SessionId, SledConfig, SledStore, StoreError, Task, TaskDraft, TaskRef,
    TaskStore, Timestamp, UserId,
};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// Tasks of other users in the big store.
const DEFAULT_OTHER_TASKS: usize = 100_000;
/// Users those tasks belong to.
const OTHER_USERS: usize = 100;
/// Creates in flight at once while seeding.
const SEED_CONCURRENCY: usize = 256;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn open_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SledStore::open(SledConfig::new(dir.path().join("data"))).expect("opens");
    (dir, store)
}

async fn new_user(store: &SledStore, name: &str) -> UserId {
    let email = Email::parse(&format!("{name}@bench.example")).expect("valid email");
    store
        .create_user(&email, "$argon2id$not-a-real-hash")
        .await
        .expect("creates the user")
        .id
}

fn draft(i: usize) -> TaskDraft {
    TaskDraft::new(&format!("Task number {i}: buy oat milk")).expect("valid title")
}

/// `count` tasks spread over `users` new users, many creates in flight at once.
async fn seed_others(store: &SledStore, users: usize, count: usize) {
    let mut owners = Vec::with_capacity(users);
    for u in 0..users {
        owners.push(new_user(store, &format!("other{u}")).await);
    }
    let mut running: JoinSet<Result<Task, StoreError>> = JoinSet::new();
    for i in 0..count {
        if running.len() >= SEED_CONCURRENCY {
            running
                .join_next()
                .await
                .expect("a create")
                .expect("joins")
                .expect("creates");
        }
        let store = store.clone();
        let owner = owners[i % users];
        running.spawn(async move { store.create_task(owner, draft(i), u64::MAX).await });
    }
    while let Some(done) = running.join_next().await {
        done.expect("joins").expect("creates");
    }
}

fn create(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, store) = open_store();
    let owner = rt.block_on(new_user(&store, "creator"));
    let mut group = c.benchmark_group("store/create_task");
    group.throughput(Throughput::Elements(1));
    group.bench_function("durable, one writer", |b| {
        b.iter(|| {
            rt.block_on(store.create_task(owner, draft(1), u64::MAX))
                .expect("creates")
        })
    });
    // 64 writers at once: what group commit is for. Of one user, their
    // transactions also contend for that user's record; of 64 users, not.
    let writers: Vec<UserId> = rt.block_on(async {
        let mut users = Vec::new();
        for w in 0..64 {
            users.push(new_user(&store, &format!("writer{w}")).await);
        }
        users
    });
    group.throughput(Throughput::Elements(64));
    for (name, owners) in [
        ("64 writers, one user", vec![owner; 64]),
        ("64 writers, 64 users", writers),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    rt.block_on(async {
                        let mut running = JoinSet::new();
                        for (i, &owner) in owners.iter().enumerate() {
                            let store = store.clone();
                            running.spawn(async move {
                                store.create_task(owner, draft(i), u64::MAX).await
                            });
                        }
                        while let Some(done) = running.join_next().await {
                            done.expect("joins").expect("creates");
                        }
                    });
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

fn get(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, store) = open_store();
    let owner = rt.block_on(new_user(&store, "reader"));
    let task = rt.block_on(async {
        for i in 0..1000 {
            store
                .create_task(owner, draft(i), u64::MAX)
                .await
                .expect("creates");
        }
        store
            .create_task(owner, draft(0), u64::MAX)
            .await
            .expect("creates")
    });
    let mut group = c.benchmark_group("store/get_task");
    group.bench_function("by id", |b| {
        b.iter(|| {
            rt.block_on(store.task(owner, black_box(TaskRef::Id(task.id))))
                .expect("reads")
                .expect("found")
        })
    });
    group.bench_function("by number", |b| {
        b.iter(|| {
            rt.block_on(store.task(owner, black_box(TaskRef::Number(task.number))))
                .expect("reads")
                .expect("found")
        })
    });
    group.finish();
}

fn list(c: &mut Criterion) {
    let rt = runtime();
    let others: usize = std::env::var("TASKCORE_BENCH_OTHER_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_OTHER_TASKS);
    let query = ListQuery::default();
    let mut group = c.benchmark_group("store/list_50");
    group.throughput(Throughput::Elements(50));
    for other_tasks in [0, others] {
        let (_dir, store) = open_store();
        let owner = rt.block_on(async {
            let start = Instant::now();
            seed_others(&store, OTHER_USERS, other_tasks).await;
            if other_tasks > 0 {
                eprintln!(
                    "seeded {other_tasks} tasks of {OTHER_USERS} other users in {:.1?}",
                    start.elapsed()
                );
            }
            let owner = new_user(&store, "lister").await;
            for i in 0..50 {
                store
                    .create_task(owner, draft(i), u64::MAX)
                    .await
                    .expect("creates");
            }
            owner
        });
        let page = rt
            .block_on(store.list_tasks(owner, &query, None))
            .expect("lists");
        assert_eq!((page.tasks.len(), page.next), (50, None));
        group.bench_function(format!("tasks, {other_tasks} other tasks"), |b| {
            b.iter(|| {
                rt.block_on(store.list_tasks(owner, black_box(&query), None))
                    .expect("lists")
            })
        });
        group.bench_function(format!("json, {other_tasks} other tasks"), |b| {
            b.iter(|| {
                rt.block_on(store.list_tasks_json(owner, black_box(&query), None))
                    .expect("lists")
            })
        });
    }
    group.finish();
}

fn session(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, store) = open_store();
    let store: Arc<dyn TaskStore> = Arc::new(store);
    let now = Timestamp::now();
    let id = rt.block_on(async {
        let mut live = None;
        for u in 0..100 {
            let user = store
                .create_user(
                    &Email::parse(&format!("s{u}@bench.example")).expect("valid"),
                    "$argon2id$not-a-real-hash",
                )
                .await
                .expect("creates the user");
            let id = SessionId::generate();
            store
                .create_session(
                    NewSession {
                        id,
                        user_id: user.id,
                        created_at: now,
                        expires_at: now.plus(Duration::from_secs(3600)),
                        refresh_hash: [u as u8; 32],
                        refresh_expires_at: now.plus(Duration::from_secs(3600)),
                    },
                    100,
                )
                .await
                .expect("creates the session");
            live = Some(id);
        }
        live.expect("a session")
    });
    c.bench_function("store/session lookup", |b| {
        b.iter_batched(
            Timestamp::now,
            |now| {
                rt.block_on(store.session(black_box(id), now))
                    .expect("reads")
                    .expect("live")
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = create, get, list, session
}
criterion_main!(benches);
