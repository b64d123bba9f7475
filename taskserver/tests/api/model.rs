//! A property test over HTTP: random operations by several users against a
//! simple in-memory model of what each user should see.

use crate::helpers::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const USERS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Create {
        user: usize,
        title: String,
    },
    Patch {
        user: usize,
        target: usize,
        by_number: bool,
        title: Option<String>,
        completed: Option<bool>,
    },
    Delete {
        user: usize,
        target: usize,
        by_number: bool,
    },
    Get {
        user: usize,
        target: usize,
        by_number: bool,
    },
    List {
        user: usize,
        limit: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    let title = "[a-zA-Z0-9äé][a-zA-Z0-9 äé]{0,11}";
    prop_oneof![
        3 => (user.clone(), title).prop_map(|(user, title)| Op::Create { user, title }),
        2 => (user.clone(), 0..64usize, any::<bool>(), proptest::option::of(title), proptest::option::of(any::<bool>()))
            .prop_map(|(user, target, by_number, title, completed)| Op::Patch { user, target, by_number, title, completed }),
        1 => (user.clone(), 0..64usize, any::<bool>()).prop_map(|(user, target, by_number)| Op::Delete { user, target, by_number }),
        1 => (user.clone(), 0..64usize, any::<bool>()).prop_map(|(user, target, by_number)| Op::Get { user, target, by_number }),
        1 => (user, 1..5usize).prop_map(|(user, limit)| Op::List { user, limit }),
    ]
}

/// One task as the model knows it.
#[derive(Clone, Debug)]
struct Known {
    owner: usize,
    id: String,
    number: u64,
    title: String,
    completed: bool,
    version: u64,
    live: bool,
}

/// The path for a target: every task ever created, whoever owns it.
fn path_of(known: &[Known], target: usize, by_number: bool) -> (Option<usize>, String) {
    if known.is_empty() {
        return (None, "/api/tasks/1".into());
    }
    let index = target % known.len();
    let k = &known[index];
    let path = if by_number {
        format!("/api/tasks/{}", k.number)
    } else {
        format!("/api/tasks/{}", k.id)
    };
    (Some(index), path)
}

/// Which task a path names for `user`: by id only their own; by number their own with that number.
fn resolve(known: &[Known], index: Option<usize>, by_number: bool, user: usize) -> Option<usize> {
    let k = &known[index?];
    if by_number {
        known
            .iter()
            .position(|o| o.owner == user && o.number == k.number && o.live)
    } else {
        (k.owner == user && k.live).then_some(index?)
    }
}

#[track_caller]
fn assert_matches(task: &Value, k: &Known) {
    assert_eq!(task["id"], k.id.as_str());
    assert_eq!(task["number"], k.number);
    assert_eq!(task["title"], k.title.trim());
    assert_eq!(task["completed"], k.completed);
    assert_eq!(task["version"], k.version);
}

async fn run(ops: Vec<Op>) {
    let app = spawn_app().await;
    let mut users = Vec::new();
    for _ in 0..USERS {
        users.push(app.register().await);
    }
    let mut known: Vec<Known> = Vec::new();
    let mut next_number = [1u64; USERS];
    for op in ops {
        match op {
            Op::Create { user, title } => {
                let task = app.task(&users[user], &title).await;
                let k = Known {
                    owner: user,
                    id: s(&task["id"]),
                    number: next_number[user],
                    title: title.trim().to_string(),
                    completed: false,
                    version: 1,
                    live: true,
                };
                assert_matches(&task, &k);
                next_number[user] += 1;
                known.push(k);
            }
            Op::Patch {
                user,
                target,
                by_number,
                title,
                completed,
            } => {
                let (index, path) = path_of(&known, target, by_number);
                let mut body = json!({});
                if let Some(t) = &title {
                    body["title"] = json!(t);
                }
                if let Some(c) = completed {
                    body["completed"] = json!(c);
                }
                let resp = app.patch(&users[user], &path, body).await;
                match resolve(&known, index, by_number, user) {
                    Some(i) => {
                        let k = &mut known[i];
                        let before = (k.title.clone(), k.completed);
                        if let Some(t) = title {
                            k.title = t.trim().to_string();
                        }
                        if let Some(c) = completed {
                            k.completed = c;
                        }
                        if (k.title.clone(), k.completed) != before {
                            k.version += 1;
                        }
                        assert_matches(&resp.expect(200).json(), k);
                    }
                    None => {
                        resp.problem(404, "not_found");
                    }
                }
            }
            Op::Delete {
                user,
                target,
                by_number,
            } => {
                let (index, path) = path_of(&known, target, by_number);
                let resp = app.delete(&users[user], &path).await;
                match resolve(&known, index, by_number, user) {
                    Some(i) => {
                        resp.expect(204);
                        known[i].live = false;
                    }
                    None => {
                        resp.problem(404, "not_found");
                    }
                }
            }
            Op::Get {
                user,
                target,
                by_number,
            } => {
                let (index, path) = path_of(&known, target, by_number);
                let resp = app.get(&users[user], &path).await;
                match resolve(&known, index, by_number, user) {
                    Some(i) => assert_matches(&resp.expect(200).json(), &known[i]),
                    None => {
                        resp.problem(404, "not_found");
                    }
                }
            }
            Op::List { user, limit } => {
                let listed = app.list_all(&users[user], &format!("limit={limit}")).await;
                let want: BTreeMap<String, &Known> = known
                    .iter()
                    .filter(|k| k.owner == user && k.live)
                    .map(|k| (k.id.clone(), k))
                    .collect();
                assert_eq!(
                    listed.len(),
                    want.len(),
                    "user {user} lists {} tasks",
                    listed.len()
                );
                for task in &listed {
                    let k = want
                        .get(&s(&task["id"]))
                        .unwrap_or_else(|| panic!("user {user} sees {task}"));
                    assert_matches(task, k);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_api_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(ops));
    }
}
