//! Model test: random sequences of task operations by a few users, run
//! against `SledStore` on a temporary directory and against a plain
//! in-memory model (a `Vec` per user). Every result must be identical,
//! including every page of every cursor walk.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::cmp::Ordering;
use taskcore::{
    Description, Email, ListQuery, Position, Precondition, Priority, SledConfig, SledStore, Sort,
    SortField, StatusFilter, StoreError, Tags, Task, TaskDraft, TaskId, TaskPatch, TaskRef,
    TaskStore, Timestamp, Title, UserId,
};

const USERS: usize = 3;
const MAX_LIVE: u64 = 10;

const TITLES: [&str; 7] = [
    "Buy milk",
    "alpha",
    "Beta",
    "gamma MILK",
    "Ärger",
    "zeta",
    "Alpha",
];
const DESCRIPTIONS: [&str; 4] = ["", "milk please", "A note", "äh"];
const TAGS: [&str; 3] = ["a", "b", "C"];
const QUERIES: [&str; 4] = ["milk", "a", "ä", "gamma"];
const PRIORITIES: [Priority; 4] = Priority::ALL;

fn due(pick: u8) -> Option<Timestamp> {
    match pick {
        0 => None,
        1 => Timestamp::from_micros(1_900_000_000_000_000),
        _ => Timestamp::from_micros(1_800_000_000_123_456),
    }
}

fn tags(mask: u8) -> Tags {
    let chosen: Vec<&str> = TAGS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, t)| *t)
        .collect();
    Tags::parse(chosen).expect("valid tags")
}

#[derive(Clone, Debug)]
struct DraftSpec {
    title: usize,
    description: usize,
    completed: bool,
    priority: usize,
    due: u8,
    tags: u8,
}

impl DraftSpec {
    fn draft(&self) -> TaskDraft {
        let mut draft = TaskDraft::new(TITLES[self.title]).expect("valid title");
        draft.description = Description::parse(DESCRIPTIONS[self.description]).expect("valid");
        draft.completed = self.completed;
        draft.priority = PRIORITIES[self.priority];
        draft.due = due(self.due);
        draft.tags = tags(self.tags);
        draft
    }
}

#[derive(Clone, Debug)]
struct PatchSpec {
    title: Option<usize>,
    description: Option<usize>,
    completed: Option<bool>,
    priority: Option<usize>,
    due: Option<u8>,
    tags: Option<u8>,
}

impl PatchSpec {
    fn patch(&self) -> TaskPatch {
        TaskPatch {
            title: self.title.map(|i| Title::parse(TITLES[i]).expect("valid")),
            description: self
                .description
                .map(|i| Description::parse(DESCRIPTIONS[i]).expect("valid")),
            completed: self.completed,
            priority: self.priority.map(|i| PRIORITIES[i]),
            due: self.due.map(due),
            tags: self.tags.map(tags),
            ..TaskPatch::default()
        }
    }
}

#[derive(Clone, Debug)]
enum PreSpec {
    None,
    Any,
    Versions(Vec<u64>),
}

impl PreSpec {
    fn precondition(&self) -> Precondition {
        match self {
            Self::None => Precondition::None,
            Self::Any => Precondition::Any,
            Self::Versions(v) => Precondition::Versions(v.clone()),
        }
    }
}

#[derive(Clone, Debug)]
struct QuerySpec {
    status: u8,
    q: Option<usize>,
    tag: Option<usize>,
    priority: Option<usize>,
    sort: u8,
    descending: bool,
    limit: usize,
}

impl QuerySpec {
    fn query(&self) -> ListQuery {
        let field = match self.sort {
            0 => SortField::Created,
            1 => SortField::Due,
            2 => SortField::Priority,
            3 => SortField::Title,
            _ => SortField::Updated,
        };
        ListQuery {
            status: match self.status {
                0 => StatusFilter::All,
                1 => StatusFilter::Pending,
                _ => StatusFilter::Completed,
            },
            q: self.q.map(|i| QUERIES[i].to_string()),
            tag: self.tag.map(|i| TAGS[i].to_string()),
            priority: self.priority.map(|i| PRIORITIES[i]),
            project: None,
            sort: Sort {
                field,
                descending: self.descending,
            },
            limit: self.limit,
            cursor: None,
        }
    }
}

/// How an operation names a task.
#[derive(Clone, Debug)]
enum Target {
    /// Some task ever created (by anyone, maybe deleted), by id or by number.
    Existing { pick: usize, by_number: bool },
    /// A plain number.
    Number(u64),
    /// An id nobody has.
    Unknown,
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        user: usize,
        draft: DraftSpec,
    },
    Get {
        user: usize,
        target: Target,
    },
    Update {
        user: usize,
        target: Target,
        patch: PatchSpec,
        pre: PreSpec,
    },
    Delete {
        user: usize,
        target: Target,
        pre: PreSpec,
    },
    /// A full cursor walk; the cursor after its first page is kept for `ListNext`.
    List {
        user: usize,
        query: QuerySpec,
    },
    /// One more page from the kept cursor, after whatever happened since.
    ListNext {
        user: usize,
    },
}

fn draft_spec() -> impl Strategy<Value = DraftSpec> {
    (
        0..TITLES.len(),
        0..DESCRIPTIONS.len(),
        any::<bool>(),
        0..4usize,
        0..3u8,
        0..8u8,
    )
        .prop_map(
            |(title, description, completed, priority, due, tags)| DraftSpec {
                title,
                description,
                completed,
                priority,
                due,
                tags,
            },
        )
}

fn patch_spec() -> impl Strategy<Value = PatchSpec> {
    (
        proptest::option::of(0..TITLES.len()),
        proptest::option::of(0..DESCRIPTIONS.len()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(0..4usize),
        proptest::option::of(0..3u8),
        proptest::option::of(0..8u8),
    )
        .prop_map(
            |(title, description, completed, priority, due, tags)| PatchSpec {
                title,
                description,
                completed,
                priority,
                due,
                tags,
            },
        )
}

fn pre_spec() -> impl Strategy<Value = PreSpec> {
    prop_oneof![
        2 => Just(PreSpec::None),
        1 => Just(PreSpec::Any),
        3 => proptest::collection::vec(1..5u64, 0..3).prop_map(PreSpec::Versions),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        6 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, by_number)| Target::Existing { pick, by_number }),
        2 => (1..10u64).prop_map(Target::Number),
        1 => Just(Target::Unknown),
    ]
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        prop_oneof![2 => Just(0u8), 1 => 1..3u8],
        proptest::option::weighted(0.2, 0..QUERIES.len()),
        proptest::option::weighted(0.2, 0..TAGS.len()),
        proptest::option::weighted(0.15, 0..4usize),
        0..5u8,
        any::<bool>(),
        1..5usize,
    )
        .prop_map(
            |(status, q, tag, priority, sort, descending, limit)| QuerySpec {
                status,
                q,
                tag,
                priority,
                sort,
                descending,
                limit,
            },
        )
}

/// Mostly the first user, so lists have something to page through.
fn user() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (user(), draft_spec()).prop_map(|(user, draft)| Op::Create { user, draft }),
        2 => (user(), target()).prop_map(|(user, target)| Op::Get { user, target }),
        4 => (user(), target(), patch_spec(), pre_spec())
            .prop_map(|(user, target, patch, pre)| Op::Update { user, target, patch, pre }),
        2 => (user(), target(), pre_spec())
            .prop_map(|(user, target, pre)| Op::Delete { user, target, pre }),
        2 => (user(), query_spec()).prop_map(|(user, query)| Op::List { user, query }),
        1 => user().prop_map(|user| Op::ListNext { user }),
    ]
}

/// One user in the model.
struct ModelUser {
    id: UserId,
    /// Live tasks, in creation order.
    tasks: Vec<Task>,
    next_number: u64,
    /// The newest id ever given to this user (ids follow creation).
    last_id: Option<TaskId>,
    /// A cursor kept by `List` for `ListNext`.
    cursor: Option<(ListQuery, Position)>,
}

impl ModelUser {
    fn find(&self, task: TaskRef) -> Option<usize> {
        self.tasks.iter().position(|t| match task {
            TaskRef::Id(id) => t.id == id,
            TaskRef::Number(n) => t.number == n,
        })
    }

    /// The matching tasks strictly after `after`, in the query's order.
    fn expected(&self, query: &ListQuery, after: Option<&Position>) -> Vec<Task> {
        let mut tasks: Vec<Task> = self
            .tasks
            .iter()
            .filter(|t| query.matches(t))
            .filter(|t| {
                after.is_none_or(|a| query.compare(&query.position_of(t), a) == Ordering::Greater)
            })
            .cloned()
            .collect();
        tasks.sort_by(|a, b| query.compare(&query.position_of(a), &query.position_of(b)));
        tasks
    }
}

struct Model {
    users: Vec<ModelUser>,
    /// Every task ever created: (id, number).
    created: Vec<(TaskId, u64)>,
}

impl Model {
    fn resolve(&self, target: &Target) -> TaskRef {
        match target {
            Target::Existing { pick, by_number } if !self.created.is_empty() => {
                let (id, number) = self.created[pick % self.created.len()];
                if *by_number {
                    TaskRef::Number(number)
                } else {
                    TaskRef::Id(id)
                }
            }
            Target::Existing { .. } => TaskRef::Number(1),
            Target::Number(n) => TaskRef::Number(*n),
            Target::Unknown => TaskRef::Id(TaskId::generate()),
        }
    }
}

fn kind<T>(result: &Result<T, StoreError>) -> Result<&T, String> {
    result.as_ref().map_err(|e| format!("{e:?}"))
}

/// One page from the store against the model's expectation for it.
async fn check_page(
    store: &SledStore,
    user: &ModelUser,
    query: &ListQuery,
    after: Option<&Position>,
) -> Result<(Vec<Task>, Option<Position>), TestCaseError> {
    let page = store
        .list_tasks(user.id, query, after)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let expected = user.expected(query, after);
    let want: Vec<Task> = expected.iter().take(query.limit).cloned().collect();
    prop_assert_eq!(&page.tasks, &want, "page after {:?} of {:?}", after, query);
    let want_next =
        (expected.len() > query.limit).then(|| query.position_of(&want[want.len() - 1]));
    prop_assert_eq!(&page.next, &want_next);
    // The JSON path (with its page cache) must say exactly the same.
    let json = store
        .list_tasks_json(user.id, query, after)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let decoded: Vec<Task> =
        serde_json::from_slice(&json.tasks).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(
        &decoded,
        &want,
        "JSON page after {:?} of {:?}",
        after,
        query
    );
    prop_assert_eq!((json.count, &json.next), (want.len(), &want_next));
    Ok((page.tasks, page.next))
}

async fn run(initial: Vec<(usize, DraftSpec)>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(SledConfig::new(dir.path().join("data"))).expect("opens");
    let mut model = Model {
        users: Vec::new(),
        created: Vec::new(),
    };
    for i in 0..USERS {
        let email = Email::parse(&format!("user{i}@example.com")).expect("valid");
        let user = store
            .create_user(&email, "hash")
            .await
            .expect("creates a user");
        model.users.push(ModelUser {
            id: user.id,
            tasks: Vec::new(),
            next_number: 1,
            last_id: None,
            cursor: None,
        });
    }

    let setup = initial
        .into_iter()
        .map(|(user, draft)| Op::Create { user, draft });
    for op in setup.chain(ops) {
        match op {
            Op::Create { user, draft } => {
                let m = &mut model.users[user];
                let result = store.create_task(m.id, draft.draft(), MAX_LIVE).await;
                if m.tasks.len() as u64 >= MAX_LIVE {
                    prop_assert!(
                        matches!(result, Err(StoreError::TaskLimitReached)),
                        "{:?}",
                        result
                    );
                    continue;
                }
                let task = kind(&result).map_err(TestCaseError::fail)?.clone();
                let want = Task::new(task.id, m.next_number, draft.draft(), task.created_at);
                prop_assert_eq!(&task, &want);
                prop_assert!(
                    m.last_id.is_none_or(|last| last < task.id),
                    "ids follow creation"
                );
                m.next_number += 1;
                m.last_id = Some(task.id);
                model.created.push((task.id, task.number));
                m.tasks.push(task);
            }
            Op::Get { user, target } => {
                let r = model.resolve(&target);
                let m = &model.users[user];
                let got = store
                    .task(m.id, r)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(got, m.find(r).map(|i| m.tasks[i].clone()), "get {:?}", r);
            }
            Op::Update {
                user,
                target,
                patch,
                pre,
            } => {
                let r = model.resolve(&target);
                let m = &mut model.users[user];
                let precondition = pre.precondition();
                let result = store
                    .update_task(m.id, r, patch.patch(), &precondition)
                    .await;
                match m.find(r) {
                    None => {
                        prop_assert!(matches!(result, Err(StoreError::NotFound)), "{:?}", result)
                    }
                    Some(i) if !precondition.allows(m.tasks[i].version) => {
                        prop_assert!(
                            matches!(result, Err(StoreError::VersionMismatch)),
                            "{:?}",
                            result
                        );
                    }
                    Some(i) => {
                        let got = kind(&result).map_err(TestCaseError::fail)?.clone();
                        let mut want = m.tasks[i].clone();
                        let changed = want
                            .apply(patch.patch(), &mut None, got.updated_at)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?
                            .changed;
                        prop_assert_eq!(&got, &want);
                        if !changed {
                            prop_assert_eq!(&got, &m.tasks[i], "no change, no new version");
                        }
                        m.tasks[i] = got;
                    }
                }
            }
            Op::Delete { user, target, pre } => {
                let r = model.resolve(&target);
                let m = &mut model.users[user];
                let precondition = pre.precondition();
                let result = store.delete_task(m.id, r, &precondition).await;
                match m.find(r) {
                    None => {
                        prop_assert!(matches!(result, Err(StoreError::NotFound)), "{:?}", result)
                    }
                    Some(i) if !precondition.allows(m.tasks[i].version) => {
                        prop_assert!(
                            matches!(result, Err(StoreError::VersionMismatch)),
                            "{:?}",
                            result
                        );
                    }
                    Some(i) => {
                        kind(&result).map_err(TestCaseError::fail)?;
                        m.tasks.remove(i);
                    }
                }
            }
            Op::List { user, query } => {
                let query = query.query();
                let m = &model.users[user];
                let expected = m.expected(&query, None);
                let mut walked = Vec::new();
                let mut after: Option<Position> = None;
                let mut first_next = None;
                for page in 0.. {
                    prop_assert!(
                        page <= expected.len() / query.limit + 1,
                        "the walk must end"
                    );
                    let (tasks, next) = check_page(&store, m, &query, after.as_ref()).await?;
                    walked.extend(tasks);
                    if page == 0 {
                        first_next = next.clone();
                    }
                    match next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                // The walk returned every matching task exactly once, in order.
                prop_assert_eq!(&walked, &expected);
                model.users[user].cursor = first_next.map(|p| (query, p));
            }
            Op::ListNext { user } => {
                let m = &model.users[user];
                let Some((query, after)) = m.cursor.clone() else {
                    continue;
                };
                let (_, next) = check_page(&store, m, &query, Some(&after)).await?;
                model.users[user].cursor = next.map(|p| (query, p));
            }
        }
    }

    for m in &model.users {
        let count = store
            .live_task_count(m.id)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(count, m.tasks.len() as u64);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn sled_store_matches_the_model(
        initial in proptest::collection::vec((user(), draft_spec()), 0..12),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(run(initial, ops))?;
    }
}
