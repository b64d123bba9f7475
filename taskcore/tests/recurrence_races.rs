//! Property test: two connections (two tasks on a multi-threaded runtime,
//! or two replicas on one database) run random sequences of complete,
//! uncomplete, edit and delete on the tasks of one recurring series at the
//! same time. Whatever the interleaving, at the end:
//!
//! - every task of the owner is an occurrence of the series: the first
//!   task, or the successor of one (its id derived from the series and its
//!   predecessor), with the due date the rule gives it and the number of
//!   its place in the series;
//! - each occurrence got at most one successor, ever: the owner's numbers
//!   issued are exactly one per occurrence that some completion created
//!   (a second successor, even one deleted since, would take a number);
//! - the live count is the number of tasks there are.
//!
//! The test is written over [`Pair`], two handles on one store, so any
//! store runs it: sled (one store, shared by both connections) here, and
//! PostgreSQL (two `PgStore`s on one database) with the `postgres` feature
//! and `TASKSERVER_TEST_DATABASE_URL`.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::sync::Arc;
use taskcore::{
    Email, Precondition, Priority, Project, Recur, SledConfig, SledStore, StoreError, Tags, Task,
    TaskDraft, TaskId, TaskPatch, TaskRef, TaskStore, Timestamp, Title, UserId, successor_id,
};

/// How many occurrences the operations aim at: a few more than most
/// interleavings reach.
const OCCURRENCES: usize = 6;

/// Rules and first due dates: plain, month ends, several weekdays, last
/// weekdays, and one that runs out.
const RULES: [(&str, &str); 6] = [
    ("FREQ=DAILY", "2030-01-01T07:00:00Z"),
    ("FREQ=MONTHLY;BYMONTHDAY=31", "2030-01-31T12:00:00.250000Z"),
    ("FREQ=WEEKLY;BYDAY=MO,TH", "2030-01-07T09:00:00Z"),
    ("FREQ=MONTHLY;BYDAY=-1FR", "2030-01-25T17:00:00Z"),
    ("FREQ=DAILY;INTERVAL=3;COUNT=3", "2030-01-01T07:00:00Z"),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "2028-02-29T00:00:00Z",
    ),
];

/// Two handles on one store, as two connections or two replicas see it.
pub struct Pair {
    /// The first connection.
    pub a: Arc<dyn TaskStore>,
    /// The second connection.
    pub b: Arc<dyn TaskStore>,
    /// Keeps the store's data alive until the pair is dropped.
    _guard: Box<dyn std::any::Any + Send>,
}

impl Pair {
    /// One sled store, shared: sled is one process's store.
    pub fn sled() -> Pair {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(SledConfig::new(dir.path().join("data"))).expect("opens");
        let store: Arc<dyn TaskStore> = Arc::new(store);
        Pair {
            a: store.clone(),
            b: store,
            _guard: Box::new(dir),
        }
    }

    /// Two PostgreSQL stores (each with its own pool) on one new database,
    /// as two replicas; `None` when no server is configured.
    #[cfg(feature = "postgres")]
    pub async fn postgres() -> Option<Pair> {
        use taskcore::store::postgres::testing::{TestDatabase, test_database_url};
        let base = test_database_url()?;
        let database = TestDatabase::create(&base)
            .await
            .expect("creates a database");
        let connect = || taskcore::PgStore::connect(taskcore::PgConfig::new(&database.url));
        let a = connect().await.expect("connects");
        let b = connect().await.expect("connects");
        Some(Pair {
            a: Arc::new(a),
            b: Arc::new(b),
            _guard: Box::new(database),
        })
    }
}

/// What one connection does to occurrence `k` (0 is the first task).
#[derive(Clone, Debug)]
enum Op {
    Complete(usize),
    Uncomplete(usize),
    /// Completes it only if it is at this version (412 otherwise).
    CompleteAt(usize, u64),
    /// Changes a field that leaves the dates alone: 0 title, 1 a tag, 2
    /// priority, 3 another project (which writes beside the task), 4 a
    /// full replacement (PUT) that also completes it.
    Edit(usize, u8),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..OCCURRENCES;
    prop_oneof![
        4 => k.clone().prop_map(Op::Complete),
        2 => k.clone().prop_map(Op::Uncomplete),
        1 => (k.clone(), 1..5u64).prop_map(|(k, v)| Op::CompleteAt(k, v)),
        2 => (k.clone(), 0..5u8).prop_map(|(k, e)| Op::Edit(k, e)),
        1 => k.prop_map(Op::Delete),
    ]
}

/// The series as the rule makes it: each occurrence's id and due date.
struct Chain {
    ids: Vec<TaskId>,
    dues: Vec<Timestamp>,
}

impl Chain {
    fn of(first: &Task) -> Chain {
        let recur = first.recur.as_ref().expect("recurs");
        let anchor = first.due.expect("due");
        let (mut ids, mut dues) = (vec![first.id], vec![anchor]);
        while ids.len() < OCCURRENCES + 1 {
            let (Some(&last_id), Some(&last_due)) = (ids.last(), dues.last()) else {
                break;
            };
            let Some(next) = recur.next_after(anchor, last_due) else {
                break;
            };
            ids.push(successor_id(first.id, last_id));
            dues.push(next);
        }
        Chain { ids, dues }
    }

    fn id(&self, k: usize) -> TaskId {
        // Past the series' end: an id no task has.
        self.ids
            .get(k)
            .copied()
            .unwrap_or_else(|| TaskId::from_bytes([0x5a; 16]))
    }

    fn place(&self, id: TaskId) -> Option<usize> {
        self.ids.iter().position(|&i| i == id)
    }
}

fn patch_for(op: &Op, first: &Task, chain: &Chain, seed: u8) -> (TaskPatch, Precondition) {
    let complete = |done| TaskPatch {
        completed: Some(done),
        ..TaskPatch::default()
    };
    match *op {
        Op::Complete(_) => (complete(true), Precondition::None),
        Op::Uncomplete(_) => (complete(false), Precondition::None),
        Op::CompleteAt(_, version) => (complete(true), Precondition::Versions(vec![version])),
        Op::Edit(_, 0) => (
            TaskPatch {
                title: Some(Title::parse(&format!("edit {seed}")).expect("valid")),
                ..TaskPatch::default()
            },
            Precondition::None,
        ),
        Op::Edit(_, 1) => (
            TaskPatch {
                add_tags: Some(Tags::parse([format!("t{}", seed % 4).as_str()]).expect("valid")),
                ..TaskPatch::default()
            },
            Precondition::None,
        ),
        Op::Edit(_, 2) => (
            TaskPatch {
                priority: Some(Priority::ALL[usize::from(seed) % 4]),
                ..TaskPatch::default()
            },
            Precondition::None,
        ),
        Op::Edit(_, 3) => (
            TaskPatch {
                project: Some(
                    ["Home", "Home.Garden", "Work"]
                        .get(usize::from(seed) % 4)
                        .map(|p| Project::parse(p).expect("valid")),
                ),
                ..TaskPatch::default()
            },
            Precondition::None,
        ),
        Op::Edit(k, _) => {
            // A full replacement with the occurrence's own date and rule.
            let mut draft = TaskDraft::new(&first.title).expect("valid");
            draft.due = chain.dues.get(k).copied().or(first.due);
            draft.recur = first.recur.clone();
            draft.completed = true;
            (draft.into_patch(), Precondition::None)
        }
        Op::Delete(_) => (TaskPatch::default(), Precondition::None),
    }
}

/// What one connection saw: the occurrences it found completed.
async fn connection(
    store: Arc<dyn TaskStore>,
    owner: UserId,
    first: Task,
    ops: Vec<Op>,
) -> Result<Vec<usize>, String> {
    let chain = Chain::of(&first);
    let mut completed = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let k = match *op {
            Op::Complete(k)
            | Op::Uncomplete(k)
            | Op::CompleteAt(k, _)
            | Op::Edit(k, _)
            | Op::Delete(k) => k,
        };
        let target = TaskRef::Id(chain.id(k));
        let (patch, precondition) = patch_for(op, &first, &chain, i as u8);
        let result = match op {
            Op::Delete(_) => store
                .delete_task(owner, target, &precondition)
                .await
                .map(|()| None),
            _ => store
                .update_task(owner, target, patch, &precondition)
                .await
                .map(Some),
        };
        match result {
            Ok(Some(task)) if task.completed => completed.push(k),
            Ok(_) | Err(StoreError::NotFound) | Err(StoreError::VersionMismatch) => {}
            Err(e) => return Err(format!("{op:?}: {e}")),
        }
        // Let the other connection in between, sometimes.
        if i % 3 == 0 {
            tokio::task::yield_now().await;
        }
    }
    Ok(completed)
}

async fn run(pair: Pair, rule: usize, a_ops: Vec<Op>, b_ops: Vec<Op>) -> Result<(), TestCaseError> {
    let fail = |e: StoreError| TestCaseError::fail(e.to_string());
    let email = Email::parse("ada@example.com").expect("valid");
    let ada = pair
        .a
        .create_user(&email, "$argon2id$fake")
        .await
        .map_err(fail)?;
    let (text, due) = RULES[rule];
    let mut draft = TaskDraft::new("series").expect("valid");
    draft.due = Some(Timestamp::parse(due).expect("valid"));
    draft.recur = Some(Recur::parse(text).expect("valid"));
    let first = pair
        .a
        .create_task(ada.id, draft, 1000)
        .await
        .map_err(fail)?;
    let chain = Chain::of(&first);

    let a = tokio::spawn(connection(pair.a.clone(), ada.id, first.clone(), a_ops));
    let b = tokio::spawn(connection(pair.b.clone(), ada.id, first.clone(), b_ops));
    let mut completed = a
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .map_err(TestCaseError::fail)?;
    completed.extend(
        b.await
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .map_err(TestCaseError::fail)?,
    );

    // Every completion created the next occurrence, if the rule has one.
    let last_created = completed
        .iter()
        .map(|&k| (k + 1).min(chain.ids.len() - 1))
        .max()
        .unwrap_or(0);
    let mut tasks = Vec::new();
    let mut after = None;
    loop {
        let query = taskcore::ListQuery::parse("limit=200").expect("valid");
        let page = pair
            .b
            .list_tasks(ada.id, &query, after.as_ref())
            .await
            .map_err(fail)?;
        tasks.extend(page.tasks);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for task in &tasks {
        let place = chain.place(task.id);
        prop_assert!(place.is_some(), "a task that is no occurrence: {:?}", task);
        let k = place.unwrap_or_default();
        prop_assert!(
            k <= last_created,
            "occurrence {} exists, {} completions seen",
            k,
            completed.len()
        );
        prop_assert_eq!(
            task.due,
            Some(chain.dues[k]),
            "occurrence {} has its date",
            k
        );
        prop_assert_eq!(task.number, k as u64 + 1, "occurrence {} has its number", k);
        prop_assert_eq!(task.series, Some(first.id));
        prop_assert_eq!(&task.recur, &first.recur);
    }
    let count = pair.a.live_task_count(ada.id).await.map_err(fail)?;
    prop_assert_eq!(count, tasks.len() as u64);
    // One number per occurrence created, none for a duplicate.
    let probe = pair
        .a
        .create_task(ada.id, TaskDraft::new("probe").expect("valid"), 1000)
        .await
        .map_err(fail)?;
    prop_assert_eq!(probe.number, last_created as u64 + 2, "numbers issued");
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn two_sled_connections_make_one_successor_per_occurrence(
        rule in 0..RULES.len(),
        a_ops in proptest::collection::vec(op(), 1..16),
        b_ops in proptest::collection::vec(op(), 1..16),
    ) {
        runtime().block_on(run(Pair::sled(), rule, a_ops, b_ops))?;
    }
}

#[cfg(feature = "postgres")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 32, ..ProptestConfig::default() })]

    #[test]
    fn two_postgres_replicas_make_one_successor_per_occurrence(
        rule in 0..RULES.len(),
        a_ops in proptest::collection::vec(op(), 1..16),
        b_ops in proptest::collection::vec(op(), 1..16),
    ) {
        let rt = runtime();
        let Some(pair) = rt.block_on(Pair::postgres()) else {
            assert!(
                std::env::var_os("TASKSERVER_TEST_REQUIRE_POSTGRES").is_none(),
                "TASKSERVER_TEST_REQUIRE_POSTGRES is set, but TASKSERVER_TEST_DATABASE_URL is not"
            );
            return Ok(());
        };
        rt.block_on(run(pair, rule, a_ops, b_ops))?;
    }
}
