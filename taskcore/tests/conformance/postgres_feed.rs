//! The change feed on PostgreSQL where only a shared database shows it:
//! two replicas (two `PgStore`s on one database) writing at once while a
//! reader follows the feed, signals that cross replicas, the plan of the
//! feed's statement, and pruning.

use crate::support::{Fixture, user};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use taskcore::store::NewSession;
use taskcore::store::postgres::testing::{execute, explain_changes, listening, query_i64};
use taskcore::{
    Change, FeedPosition, ListQuery, PgConfig, PgStore, Position, Precondition, Recur, SessionId,
    StoreError, Task, TaskDraft, TaskId, TaskPatch, TaskRef, TaskStore, Timestamp, Title, UserId,
};

/// A second store on the fixture's database: another replica.
async fn replica(f: &Fixture) -> PgStore {
    let url = f.pg_url.clone().expect("a PostgreSQL fixture");
    PgStore::connect(PgConfig::new(url))
        .await
        .expect("connects")
}

/// Every live task of `owner`, by id.
async fn live_tasks(store: &dyn TaskStore, owner: UserId) -> HashMap<TaskId, Task> {
    let query = ListQuery {
        limit: 200,
        ..ListQuery::default()
    };
    let mut tasks = HashMap::new();
    let mut after: Option<Position> = None;
    loop {
        let page = store
            .list_tasks(owner, &query, after.as_ref())
            .await
            .expect("lists");
        tasks.extend(page.tasks.into_iter().map(|t| (t.id, t)));
        match page.next {
            Some(next) => after = Some(next),
            None => return tasks,
        }
    }
}

/// What a reader of the feed knows: each task it heard of, in the state
/// it last read (`None`: deleted), and where it stands.
#[derive(Default)]
struct Follower {
    known: HashMap<TaskId, Option<Task>>,
    position: Option<FeedPosition>,
    /// Every id it ever read as a live task.
    seen: HashSet<TaskId>,
}

impl Follower {
    /// Reads one page from `store`; whether more was waiting. Positions
    /// never go back, and no page names a task twice.
    async fn read(&mut self, store: &dyn TaskStore, owner: UserId, limit: usize) -> bool {
        let page = store
            .changes(owner, self.position, limit)
            .await
            .expect("reads the feed");
        assert!(page.changes.len() <= limit);
        let mut ids = HashSet::new();
        for change in page.changes {
            assert!(ids.insert(change.task_id()), "a task twice in one page");
            match change {
                Change::Task { task } => {
                    self.seen.insert(task.id);
                    self.known.insert(task.id, Some(task));
                }
                Change::TaskDeleted { id, .. } => {
                    self.known.insert(id, None);
                }
            }
        }
        if let Some(before) = self.position {
            assert!(
                page.next.after >= before.after,
                "the position went back: {before:?} then {:?}",
                page.next
            );
        }
        self.position = Some(page.next);
        page.more
    }

    /// Reads until the feed has nothing more.
    async fn catch_up(&mut self, store: &dyn TaskStore, owner: UserId, limit: usize) {
        while self.read(store, owner, limit).await {}
    }
}

fn retitled(title: &str) -> TaskPatch {
    TaskPatch {
        title: Some(Title::parse(title).expect("valid")),
        ..TaskPatch::default()
    }
}

/// One writer's run: creates, edits (some completing a recurring task,
/// whose successor is a change of its own) and deletes of its own tasks,
/// in an order a seed decides.
async fn write_a_while(store: Arc<dyn TaskStore>, owner: UserId, seed: u64, writes: usize) {
    let mut state = seed;
    let mut mine: Vec<TaskId> = Vec::new();
    for i in 0..writes {
        // A small linear congruential generator: the same run each time.
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = (state >> 33) as usize;
        match (pick % 10, mine.is_empty()) {
            (0..=3, _) | (_, true) => {
                let mut draft = TaskDraft::new(&format!("w{seed} t{i}")).expect("valid");
                if pick.is_multiple_of(3) {
                    draft.due = Some(Timestamp::parse("2027-01-04T09:00:00Z").expect("a time"));
                    draft.recur = Some(Recur::parse("FREQ=DAILY").expect("a rule"));
                }
                let task = store.create_task(owner, draft, 100_000).await;
                mine.push(task.expect("creates").id);
            }
            (4..=7, false) => {
                let id = mine[pick % mine.len()];
                let patch = if pick.is_multiple_of(2) {
                    TaskPatch {
                        completed: Some(true),
                        ..TaskPatch::default()
                    }
                } else {
                    retitled(&format!("w{seed} edit {i}"))
                };
                store
                    .update_task(owner, TaskRef::Id(id), patch, &Precondition::None)
                    .await
                    .expect("updates");
            }
            _ => {
                let id = mine.swap_remove(pick % mine.len());
                store
                    .delete_task(owner, TaskRef::Id(id), &Precondition::None)
                    .await
                    .expect("deletes");
            }
        }
    }
}

/// "Never skips": writers on two replicas at once, and a reader that
/// follows the feed through both replicas in small pages, from a full sync
/// that starts while they write. What it read adds up to the final state:
/// every live task in its final version, every task it saw that is gone
/// read as deleted, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_on_two_replicas_misses_nothing_of_concurrent_writers() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let a: Arc<dyn TaskStore> = f.store.clone();
    let b: Arc<dyn TaskStore> = Arc::new(replica(&f).await);
    let ada = user(&*a, "ada").await;
    // Bob writes too: none of his changes may reach ada's feed.
    let bob = user(&*a, "bob").await;
    let mut writers = Vec::new();
    for seed in 0..6u64 {
        let store = if seed.is_multiple_of(2) {
            a.clone()
        } else {
            b.clone()
        };
        let owner = if seed == 5 { bob.id } else { ada.id };
        writers.push(tokio::spawn(write_a_while(store, owner, seed + 1, 60)));
    }
    let mut follower = Follower::default();
    let mut reads = 0usize;
    while !writers.iter().all(|w| w.is_finished()) {
        let store = if reads.is_multiple_of(2) { &*a } else { &*b };
        follower.read(store, ada.id, 7).await;
        reads += 1;
    }
    for writer in writers {
        writer.await.expect("the writer finished");
    }
    follower.catch_up(&*b, ada.id, 7).await;
    assert!(reads > 1, "the reader read while the writers wrote");

    let live = live_tasks(&*a, ada.id).await;
    let read_live: HashMap<TaskId, Task> = follower
        .known
        .iter()
        .filter_map(|(id, task)| task.clone().map(|t| (*id, t)))
        .collect();
    assert_eq!(
        read_live.len(),
        live.len(),
        "the live tasks read are the live tasks"
    );
    for (id, task) in &live {
        assert_eq!(
            read_live.get(id),
            Some(task),
            "task {id} in its final version"
        );
    }
    for id in &follower.seen {
        if !live.contains_key(id) {
            assert_eq!(follower.known.get(id), Some(&None), "{id} read as deleted");
        }
    }
    let bobs = live_tasks(&*a, bob.id).await;
    assert!(
        follower.known.keys().all(|id| !bobs.contains_key(id)),
        "nothing of bob's in ada's feed"
    );
    // The feed ends where the counter is, on either replica.
    let latest = b.latest_change(ada.id).await.expect("reads");
    assert_eq!(follower.position, Some(FeedPosition::after(latest)));
    assert_eq!(a.latest_change(ada.id).await.expect("reads"), latest);
}

/// Waits for one signal on `subscription`, at most a second.
async fn woken(subscription: &mut taskcore::store::Subscription, what: &str) {
    tokio::time::timeout(Duration::from_secs(1), subscription.changed())
        .await
        .unwrap_or_else(|_| panic!("{what} did not wake the other replica within a second"));
}

/// A change committed through one replica wakes the streams of its user
/// on another within a second (`LISTEN`/`NOTIFY`), and only theirs; so
/// does the end of a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_wakes_the_users_streams_on_another() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let a = f.pg.clone().expect("a PostgreSQL fixture");
    let b = replica(&f).await;
    assert!(
        listening(&b, Duration::from_secs(10)).await,
        "the second replica listens"
    );
    let ada = user(&a, "ada").await;
    let bob = user(&a, "bob").await;
    let mut ada_on_b = b.signals().subscribe(ada.id);
    let mut bob_on_b = b.signals().subscribe(bob.id);

    let task = a
        .create_task(ada.id, TaskDraft::new("one").expect("valid"), 100)
        .await
        .expect("creates");
    woken(&mut ada_on_b, "a create").await;
    a.update_task(
        ada.id,
        TaskRef::Id(task.id),
        retitled("two"),
        &Precondition::None,
    )
    .await
    .expect("updates");
    woken(&mut ada_on_b, "an update").await;
    a.delete_task(ada.id, TaskRef::Id(task.id), &Precondition::None)
        .await
        .expect("deletes");
    woken(&mut ada_on_b, "a delete").await;
    // Notifications arrive in order: bob's would have come before.
    assert!(
        tokio::time::timeout(Duration::ZERO, bob_on_b.changed())
            .await
            .is_err(),
        "bob's streams sleep on"
    );

    let now = Timestamp::now();
    let session = NewSession {
        id: SessionId::generate(),
        user_id: ada.id,
        created_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
        refresh_hash: [7; 32],
        refresh_expires_at: now.plus(Duration::from_secs(600)),
    };
    let sid = session.id;
    a.create_session(session, 10).await.expect("logs in");
    assert!(a.revoke_session(sid).await.expect("revokes"));
    woken(&mut ada_on_b, "a revoked session").await;
    assert!(a.delete_user(ada.id).await.expect("deletes"));
    woken(&mut ada_on_b, "a deleted user").await;
}

/// Whether a plan line is an index scan (plain or index-only) of `index`.
fn scans(plan: &[String], index: &str) -> bool {
    plan.iter()
        .any(|line| line.contains("Index") && line.contains(&format!("using {index} on")))
}

/// A feed read of a user with many tasks and deletions is two index ranges
/// from the position, each stopping after the page: no scan of the
/// user's tasks, whatever their number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_read_is_two_index_ranges_from_the_position() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let pg = f.pg.clone().expect("a PostgreSQL fixture");
    let url = f.pg_url.clone().expect("a PostgreSQL fixture");
    let ada = user(&*f.store, "ada").await;
    let bob = user(&*f.store, "bob").await;
    // 30,000 tasks of each, changes 1..30,000, and 10,000 deletions after
    // them, written directly.
    let insert = |owner: UserId| {
        format!(
            "INSERT INTO tasks (owner, id, number, title, title_key, description, completed,
                                priority, tags, created_at, updated_at, version, change_seq)
             SELECT '{owner}', uuid_in(lpad(to_hex(n), 32, '0')::cstring), n, 't' || n, 't' || n,
                    '', false, 0, '{{}}', 0, 0, 1, n
               FROM generate_series(1, 30000) AS n;
             INSERT INTO task_tombstones (owner, id, number, deleted_at, change_seq)
             SELECT '{owner}', uuid_in(lpad(to_hex(n), 32, '0')::cstring), n, n, n
               FROM generate_series(30001, 40000) AS n;
             UPDATE users SET next_task_number = 40001, live_tasks = 30000, last_change = 40000
              WHERE id = '{owner}';"
        )
    };
    execute(&url, &insert(ada.id)).await.expect("inserts");
    execute(&url, &insert(bob.id)).await.expect("inserts");
    execute(
        &url,
        "ANALYZE tasks; ANALYZE task_tombstones; ANALYZE users",
    )
    .await
    .expect("analyzes");

    for from in [
        None,
        Some(FeedPosition::after(29_990)),
        Some(FeedPosition::after(39_990)),
        Some(FeedPosition {
            after: 100,
            full_until: Some(35_000),
        }),
    ] {
        let plan = explain_changes(&pg, ada.id, from, 50)
            .await
            .expect("explains");
        let text = plan.join("\n");
        assert!(scans(&plan, "tasks_by_change"), "{from:?}:\n{text}");
        assert!(
            scans(&plan, "task_tombstones_by_change"),
            "{from:?}:\n{text}"
        );
        assert!(
            !plan
                .iter()
                .any(|line| line.contains("Seq Scan on task") || line.contains("Bitmap")),
            "{from:?}: reads more than the ranges:\n{text}"
        );
        // Each range stops after the page (51 rows) at most.
        for line in plan.iter().filter(|l| l.contains("Index")) {
            let rows: u64 = line
                .split("rows=")
                .nth(1)
                .and_then(|rest| rest.split([' ', ')']).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(rows <= 51, "{from:?}: a range read {rows} rows:\n{text}");
        }
    }
    // And what it reads is right: the tail of the tasks, then deletions.
    let page = pg
        .changes(ada.id, Some(FeedPosition::after(29_995)), 10)
        .await
        .expect("reads");
    let numbers: Vec<(&str, u64)> = page
        .changes
        .iter()
        .map(|c| match c {
            Change::Task { task } => ("task", task.number),
            Change::TaskDeleted { number, .. } => ("deleted", *number),
        })
        .collect();
    let expected: Vec<(&str, u64)> = (29_996..=30_000)
        .map(|n| ("task", n))
        .chain((30_001..=30_005).map(|n| ("deleted", n)))
        .collect();
    assert_eq!(numbers, expected);
    assert!(page.more);
    assert_eq!(page.next, FeedPosition::after(30_005));
    // A full sync shows live tasks only, and its last page ends at the counter.
    let full = pg.changes(ada.id, None, 50).await.expect("reads");
    assert_eq!(
        full.next,
        FeedPosition {
            after: 50,
            full_until: Some(40_000)
        }
    );
    let last = pg
        .changes(
            ada.id,
            Some(FeedPosition {
                after: 29_990,
                full_until: Some(40_000),
            }),
            50,
        )
        .await
        .expect("reads");
    assert_eq!(last.changes.len(), 10, "no deletion in a full sync");
    assert!(!last.more);
    assert_eq!(last.next, FeedPosition::after(40_000));
}

/// Pruning takes old deletions out of the feed, and only those; the ids
/// stay refused for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_deletions_leave_the_feed_but_their_ids_stay_refused() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let store = f.store.clone();
    let ada = user(&*store, "ada").await;
    let bob = user(&*store, "bob").await;
    let mut made = Vec::new();
    for title in ["old", "newer", "kept"] {
        let task = store
            .create_task(ada.id, TaskDraft::new(title).expect("valid"), 100)
            .await
            .expect("creates");
        made.push(task);
    }
    let before_deletes = store.latest_change(ada.id).await.expect("reads");
    for task in &made[..2] {
        store
            .delete_task(ada.id, TaskRef::Id(task.id), &Precondition::None)
            .await
            .expect("deletes");
    }
    // Bob's deletion, older than the cut, is pruned too.
    let bobs = store
        .create_task(bob.id, TaskDraft::new("bob's").expect("valid"), 100)
        .await
        .expect("creates");
    store
        .delete_task(bob.id, TaskRef::Id(bobs.id), &Precondition::None)
        .await
        .expect("deletes");
    let since = Some(FeedPosition::after(before_deletes));
    let page = store.changes(ada.id, since, 100).await.expect("reads");
    let deleted_at: Vec<(TaskId, Timestamp)> = page
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::TaskDeleted { id, deleted_at, .. } => Some((*id, *deleted_at)),
            Change::Task { .. } => None,
        })
        .collect();
    assert_eq!(
        deleted_at.iter().map(|d| d.0).collect::<Vec<_>>(),
        vec![made[0].id, made[1].id]
    );
    let (old, newer) = (deleted_at[0], deleted_at[1]);
    assert!(old.1 < newer.1, "deleted one after the other");

    // Up to (not including) the newer deletion: the old one goes.
    assert_eq!(store.prune_deletions(newer.1).await.expect("prunes"), 1);
    let page = store.changes(ada.id, since, 100).await.expect("reads");
    let ids: Vec<TaskId> = page.changes.iter().map(Change::task_id).collect();
    assert_eq!(ids, vec![newer.0], "only the newer deletion is left");
    // Everything older than now, bob's included; nothing twice.
    let later = Timestamp::now().plus(Duration::from_secs(1));
    assert_eq!(store.prune_deletions(later).await.expect("prunes"), 2);
    assert_eq!(store.prune_deletions(later).await.expect("prunes"), 0);
    let page = store.changes(ada.id, since, 100).await.expect("reads");
    assert!(page.changes.is_empty(), "{:?}", page.changes);
    assert!(!page.more);

    // The ids stay refused, pruned or not, and the feed goes on.
    for id in [old.0, newer.0] {
        let again = store
            .create_task_with_id(ada.id, id, TaskDraft::new("again").expect("valid"), 100)
            .await;
        assert!(
            matches!(again, Err(StoreError::AlreadyExists)),
            "{id}: {again:?}"
        );
    }
    let fresh = store
        .create_task(ada.id, TaskDraft::new("fresh").expect("valid"), 100)
        .await
        .expect("creates");
    let page = store.changes(ada.id, since, 100).await.expect("reads");
    assert_eq!(
        page.changes,
        vec![Change::Task { task: fresh }],
        "the next write is the next change"
    );
}

/// A listener whose connection is cut connects again, wakes every stream
/// (they may have missed signals meanwhile), and hears changes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_lost_its_connection_listens_again_and_wakes_every_stream() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let url = f.pg_url.clone().expect("a PostgreSQL fixture");
    let a = f.pg.clone().expect("a PostgreSQL fixture");
    let b = replica(&f).await;
    assert!(listening(&a, Duration::from_secs(10)).await);
    assert!(listening(&b, Duration::from_secs(10)).await);
    let ada = user(&a, "ada").await;
    let mut ada_on_b = b.signals().subscribe(ada.id);
    // Both replicas' listeners, as a restarted server or a network cut ends them.
    let cut = query_i64(
        &url,
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND query = 'LISTEN taskserver_changes'",
    )
    .await
    .expect("terminates");
    assert_eq!(cut, [2], "one listener per replica");
    tokio::time::timeout(Duration::from_secs(10), ada_on_b.changed())
        .await
        .expect("the stream is woken once the listener is back");
    a.create_task(ada.id, TaskDraft::new("after").expect("valid"), 100)
        .await
        .expect("creates");
    woken(&mut ada_on_b, "a create after the reconnection").await;
}

/// How many connections of the database listen for changes now.
async fn listeners(url: &str) -> i64 {
    query_i64(
        url,
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND query = 'LISTEN taskserver_changes'",
    )
    .await
    .expect("counts")[0]
}

/// A store's listener goes with the store: opening and dropping replicas
/// leaves no connection behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_store_leaves_no_listening_connection() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let url = f.pg_url.clone().expect("a PostgreSQL fixture");
    let a = f.pg.clone().expect("a PostgreSQL fixture");
    assert!(listening(&a, Duration::from_secs(10)).await);
    for _ in 0..3 {
        let b = replica(&f).await;
        assert!(listening(&b, Duration::from_secs(10)).await);
        assert_eq!(listeners(&url).await, 2);
        drop(b);
        // The server notices a closed connection at once; give it a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while listeners(&url).await != 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the dropped replica's listener still has its connection"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
