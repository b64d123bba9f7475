//! The built `taskcli` binary against a real server started in-process, with
//! a temporary HOME and XDG directories.

mod common;

use common::{Env, PASSWORD, Run};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use taskclient::Client;
use taskcore::{ListQuery, Priority, StatusFilter, Tags, TaskDraft, TaskRef};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_session_with_insecure_storage() {
    let env = Env::start();
    let registered = env.register("ada@example.com");
    assert!(
        registered.stdout.contains("Registered ada@example.com"),
        "{registered:?}"
    );
    assert!(
        registered.stdout.contains("credentials.json"),
        "{registered:?}"
    );

    // The tokens are in a 0600 file under $XDG_CONFIG_HOME/taskcli, keyed by server.
    let credentials = env.config_dir().join("credentials.json");
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&credentials).expect("credentials file"))
            .expect("json");
    assert!(
        stored["servers"][&env.url]["refresh_token"].is_string(),
        "{stored}"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&credentials), 0o600);
        assert_eq!(mode(&env.config_dir()), 0o700);
    }

    // Later commands find them without the flag.
    let status = env.run(&["auth", "status", "--json"]).ok().json();
    assert_eq!(status["server"], env.url.as_str());
    assert_eq!(status["user"]["email"], "ada@example.com");
    assert_eq!(status["storage"], "file");
    assert!(status["access_token_expires_at"].is_string());
    let text = env.run(&["auth", "status"]).ok().stdout.clone();
    assert!(
        text.contains("ada@example.com") && text.contains("credentials.json"),
        "{text}"
    );

    // add: the title is every remaining word; --json prints the API's task.
    let added = env
        .run(&[
            "add",
            "Buy",
            "oat",
            "milk",
            "-p",
            "high",
            "-t",
            "shopping",
            "-t",
            "home",
            "--due",
            "2030-01-01T12:00:00Z",
            "-d",
            "two litres",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(added["number"], 1);
    assert_eq!(added["title"], "Buy oat milk");
    let sdk = env.sdk();
    let on_server = env
        .block_on(sdk.get_task(TaskRef::Number(1)))
        .expect("task");
    assert_eq!(added, serde_json::to_value(&on_server).expect("json"));
    let plain = env.run(&["add", "Call", "mom"]).ok().stdout.clone();
    assert_eq!(plain.trim(), "Added task 2: Call mom");

    // show by number, #number and UUID.
    let id = on_server.id.to_string();
    for reference in ["1", "#1", id.as_str()] {
        let shown = env.run(&["show", reference, "--json"]).ok().json();
        assert_eq!(shown, added, "{reference}");
    }
    let details = env.run(&["show", "1"]).ok().stdout.clone();
    assert!(
        details.contains("Buy oat milk") && details.contains("two litres") && details.contains(&id),
        "{details}"
    );

    // edit: fields, tag set changes, --no-due; the answer matches the server.
    let edited = env
        .run(&[
            "edit",
            "#1",
            "--title",
            "Buy oat milk and bread",
            "--add-tag",
            "bakery",
            "--remove-tag",
            "home",
            "--no-due",
            "-p",
            "low",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(edited["title"], "Buy oat milk and bread");
    assert_eq!(edited["tags"], serde_json::json!(["shopping", "bakery"]));
    assert_eq!(edited["due"], Value::Null);
    assert_eq!(edited["priority"], "low");
    assert_eq!(edited["version"], 2);
    let edited_on_server = env
        .block_on(sdk.get_task(TaskRef::Number(1)))
        .expect("task");
    assert_eq!(
        edited,
        serde_json::to_value(&edited_on_server).expect("json")
    );
    let replaced = env
        .run(&["edit", &id, "--tag", "only", "--json"])
        .ok()
        .json();
    assert_eq!(replaced["tags"], serde_json::json!(["only"]));

    // done / undone, by number and by UUID.
    let done = env.run(&["done", "1", "2"]).ok().stdout.clone();
    assert!(
        done.contains("Completed task 1") && done.contains("Completed task 2"),
        "{done}"
    );
    assert!(
        env.block_on(sdk.get_task(TaskRef::Number(2)))
            .expect("task")
            .completed
    );
    let reopened = env.run(&["undone", &id, "--json"]).ok().json();
    assert_eq!(reopened[0]["completed"], false);
    assert_eq!(reopened[0]["number"], 1);

    // list: pending only by default, --all, --done; JSON arrays of API tasks.
    let pending = env.run(&["list", "--json"]).ok().json();
    let numbers = |list: &Value| -> Vec<u64> {
        list.as_array()
            .expect("array")
            .iter()
            .filter_map(|t| t["number"].as_u64())
            .collect()
    };
    assert_eq!(numbers(&pending), [1]);
    assert_eq!(
        numbers(&env.run(&["list", "--all", "--json"]).ok().json()),
        [1, 2]
    );
    assert_eq!(
        numbers(&env.run(&["list", "--done", "--json"]).ok().json()),
        [2]
    );
    let server_pending = env
        .block_on(sdk.collect_tasks(ListQuery {
            status: StatusFilter::Pending,
            ..ListQuery::default()
        }))
        .expect("list");
    assert_eq!(
        pending,
        serde_json::to_value(&server_pending).expect("json")
    );

    // rm: refuses without --yes when stdin is not a terminal, before any request.
    env.run(&["rm", "1"]).fails(2);
    assert!(env.block_on(sdk.get_task(TaskRef::Number(1))).is_ok());
    let removed = env.run(&["rm", "1", &on_server.id.to_string(), "--yes"]);
    assert_eq!(
        removed.code, 4,
        "the second id is the same task, gone by then: {removed:?}"
    );
    assert_eq!(
        removed.stdout, "Deleted task 1: Buy oat milk and bread\n",
        "{removed:?}"
    );
    assert!(matches!(
        env.block_on(sdk.get_task(TaskRef::Number(1))),
        Err(taskclient::Error::NotFound)
    ));
    env.run(&["rm", "2", "--yes"]).ok();
    let empty = env.run(&["list", "--all"]).ok().stdout.clone();
    assert_eq!(empty.trim(), "No tasks.");
    assert_eq!(
        env.run(&["list", "--json"]).ok().json(),
        serde_json::json!([])
    );

    // logout revokes the session and removes the stored tokens.
    let token = env.token();
    let out = env.run(&["auth", "logout"]).ok().stdout.clone();
    assert!(out.contains("Logged out"), "{out}");
    assert!(
        !credentials.exists()
            || !std::fs::read_to_string(&credentials)
                .expect("read")
                .contains(&env.url)
    );
    assert!(matches!(
        env.block_on(env.client(&token).me()),
        Err(taskclient::Error::Unauthorized { .. })
    ));
    env.run(&["list"]).fails(3);
    env.run(&["auth", "status"]).fails(3);
    env.run(&["auth", "logout"]).fails(3);
}

#[test]
fn taskcli_token_bypasses_storage() {
    let env = Env::start();
    let client = Client::new(&env.url).expect("client");
    env.block_on(client.register("script@example.com", PASSWORD))
        .expect("register");
    let api_token = env
        .block_on(client.create_api_token("ci", Some(1)))
        .expect("token");
    let mut draft = TaskDraft::new("From the SDK").expect("valid");
    draft.priority = Priority::Medium;
    draft.tags = Tags::parse(["ci"]).expect("valid");
    env.block_on(client.create_task(&draft)).expect("task");

    let with = [("TASKCLI_TOKEN", api_token.token.as_str())];
    let listed = env.run_env(&["list", "--json"], &with).ok().json();
    assert_eq!(listed[0]["title"], "From the SDK");
    let added = env
        .run_env(&["add", "From", "the", "CLI", "--json"], &with)
        .ok()
        .json();
    assert_eq!(added["number"], 2);
    let status = env
        .run_env(&["auth", "status", "--json"], &with)
        .ok()
        .json();
    assert_eq!(status["storage"], "TASKCLI_TOKEN");
    assert_eq!(status["user"]["email"], "script@example.com");
    assert_eq!(
        env.run_env(&["auth", "token"], &with).ok().stdout.trim(),
        api_token.token
    );
    // An API token cannot manage API tokens: a clear refusal, exit 1.
    let refused = env.run_env(&["auth", "api-token", "list"], &with);
    refused.fails(1);
    assert!(refused.stderr.contains("API token"), "{refused:?}");
    // Nothing was written anywhere.
    assert!(!env.config_dir().exists(), "no files with TASKCLI_TOKEN");
    // A revoked token is an authentication failure.
    env.block_on(client.revoke_api_token(api_token.id))
        .expect("revoke");
    let rejected = env.run_env(&["list"], &with);
    rejected.fails(3);
    assert!(rejected.stderr.contains("TASKCLI_TOKEN"), "{rejected:?}");

    // A plain access token works too.
    let access = client.tokens().expect("tokens").access_token;
    env.run_env(&["show", "2"], &[("TASKCLI_TOKEN", access.as_str())])
        .ok();
}

#[test]
fn api_tokens_from_the_cli() {
    let env = Env::start();
    env.register("tokens@example.com");
    let created = env
        .run(&[
            "auth",
            "api-token",
            "create",
            "nightly",
            "--expires-in-days",
            "7",
            "--json",
        ])
        .ok()
        .json();
    let value = created["token"].as_str().expect("token value").to_string();
    assert!(value.starts_with("tsk_"));
    let human = env
        .run(&["auth", "api-token", "create", "other"])
        .ok()
        .stdout
        .clone();
    assert!(
        human.contains("not shown again") && human.contains("tsk_"),
        "{human}"
    );
    let listed = env
        .run(&["auth", "api-token", "list", "--json"])
        .ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert!(
        !listed.to_string().contains(&value),
        "values are never listed"
    );
    let id = created["id"].as_str().expect("id");
    env.run_env(&["list"], &[("TASKCLI_TOKEN", value.as_str())])
        .ok();
    env.run(&["auth", "api-token", "revoke", id]).ok();
    env.run(&["auth", "api-token", "revoke", id]).fails(4);
    // Not an id: a name, and no token has it.
    env.run(&["auth", "api-token", "revoke", "not-a-uuid"])
        .fails(4);
    env.run(&[
        "auth",
        "api-token",
        "create",
        "x",
        "--expires-in-days",
        "400",
    ])
    .fails(2);
    // The server's own validation (a name too long) is exit 1.
    let long = "n".repeat(101);
    env.run(&["auth", "api-token", "create", &long]).fails(1);
}

#[test]
fn exit_codes_and_messages() {
    let env = Env::start();
    // Not logged in.
    let run = env.run(&["list"]);
    run.fails(3);
    assert!(run.stderr.contains("auth login"), "{run:?}");
    // Wrong password, unknown email.
    env.register("codes@example.com");
    let wrong = env.run_with_stdin(
        &[
            "auth",
            "login",
            "--email",
            "codes@example.com",
            "--password-stdin",
        ],
        "wrong password\n",
    );
    wrong.fails(3);
    assert_eq!(wrong.stderr.trim(), "error: Wrong email or password.");
    env.run_with_stdin(
        &[
            "auth",
            "login",
            "--email",
            "nobody@example.com",
            "--password-stdin",
        ],
        "whatever1\n",
    )
    .fails(3);
    // The email is taken.
    env.run_with_stdin(
        &[
            "auth",
            "register",
            "--email",
            "codes@example.com",
            "--password-stdin",
            "--insecure-storage",
        ],
        &format!("{PASSWORD}\n"),
    )
    .fails(1);
    // No password from a terminal nor stdin.
    env.run(&["auth", "login", "--email", "codes@example.com"])
        .fails(2);
    // A password too short is caught before any request.
    env.run_with_stdin(
        &[
            "auth",
            "register",
            "--email",
            "new@example.com",
            "--password-stdin",
            "--insecure-storage",
        ],
        "short\n",
    )
    .fails(2);

    env.run(&["add", "one"]).ok();
    env.run(&["add", "two"]).ok();
    // Unknown id: 4. Malformed id: 2, before any request (task 1 stays pending).
    let missing = env.run(&["show", "42"]);
    missing.fails(4);
    assert_eq!(missing.stderr.trim(), "error: Task #42 not found.");
    env.run(&["done", "1", "abc"]).fails(2);
    env.run(&["done", "1", "007"]).fails(2);
    let sdk = env.sdk();
    assert!(
        !env.block_on(sdk.get_task(TaskRef::Number(1)))
            .expect("task")
            .completed
    );
    // Several ids: each is reported, the exit code is the first failure's.
    let mixed = env.run(&["done", "1", "99", "2"]);
    mixed.fails(4);
    assert!(
        mixed.stdout.contains("Completed task 1") && mixed.stdout.contains("Completed task 2"),
        "{mixed:?}"
    );
    assert!(mixed.stderr.contains("Task #99 not found."), "{mixed:?}");
    assert!(
        env.block_on(sdk.get_task(TaskRef::Number(2)))
            .expect("task")
            .completed
    );
    // Bad flags and values: 2.
    env.run(&["add"]).fails(2);
    env.run(&["add", "   "]).fails(2);
    env.run(&["add", "x", "--due", "someday"]).fails(2);
    env.run(&["add", "x", "-t", "has space"]).fails(2);
    env.run(&["add", "x", "-p", "urgent"]).fails(2);
    env.run(&["list", "--sort", "size"]).fails(2);
    env.run(&["list", "--all", "--done"]).fails(2);
    env.run(&["edit", "1"]).fails(2);
    env.run(&["frobnicate"]).fails(2);
    env.run(&["list", "--server", "not a url"]).fails(2);
    // The server is down: 1, with one sentence.
    let down = env.run(&["list", "--server", "http://127.0.0.1:9"]);
    down.fails(3); // no tokens are stored for that server
    let down = env.run_env(
        &["list", "--server", "http://127.0.0.1:9"],
        &[("TASKCLI_TOKEN", "x")],
    );
    down.fails(1);
    assert_eq!(
        down.stderr, "error: Could not reach the server at http://127.0.0.1:9: is it running?\n",
        "one sentence, one closing mark"
    );
}

#[test]
fn task_limit_and_server_validation_are_exit_1() {
    let env = Env::start_with(|c| c.max_tasks_per_user = 1);
    env.register("limit@example.com");
    env.run(&["add", "only one"]).ok();
    let refused = env.run(&["add", "one too many"]);
    refused.fails(1);
    assert!(refused.stderr.contains("as many tasks"), "{refused:?}");
}

#[test]
fn listing_walks_every_page_and_filters() {
    let env = Env::start();
    env.register("lists@example.com");
    let sdk = env.sdk();
    env.block_on(async {
        for i in 1..=205u32 {
            let mut draft = TaskDraft::new(&format!("Task {i:03}")).expect("valid");
            if i % 50 == 0 {
                draft.tags = Tags::parse(["fifty"]).expect("valid");
                draft.priority = Priority::High;
            }
            sdk.create_task(&draft).await.expect("create");
        }
    });
    let all = env.run(&["list", "--json"]).ok().json();
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(205),
        "more than one page of 200"
    );
    let limited = env
        .run(&["list", "--limit", "3", "--sort", "-created", "--json"])
        .ok()
        .json();
    let numbers: Vec<u64> = limited
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["number"].as_u64())
        .collect();
    assert_eq!(numbers, [205, 204, 203]);
    for (filter, expected) in [
        (["--tag", "fifty"], 4),
        (["-p", "high"], 4),
        (["--search", "TASK 20"], 6),
    ] {
        let listed = env
            .run(&["list", filter[0], filter[1], "--json"])
            .ok()
            .json();
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(expected),
            "{filter:?}"
        );
    }
    // Text output without a terminal: no borders, no colours, no header, one line per task.
    let text = env.run(&["list", "--tag", "fifty"]).ok().stdout.clone();
    assert!(
        !text.contains('\u{1b}') && !text.contains('│') && !text.contains('─'),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.lines()
            .next()
            .is_some_and(|h| h == "50\tpending\thigh\t\tfifty\t\t\tTask 050"),
        "{text}"
    );
    env.run(&["list", "--done"]).ok();
    assert_eq!(
        env.run(&["list", "--done"]).stdout.trim(),
        "No completed tasks."
    );
}

#[test]
fn global_flags_and_default_server() {
    let env = Env::start();
    env.register("flags@example.com");
    env.run(&["add", "x"]).ok();
    // Before or after the subcommand.
    assert_eq!(
        env.run(&["--json", "list"]).ok().json(),
        env.run(&["list", "--json"]).ok().json()
    );
    // The last login's server is the default when neither --server nor TASKCLI_SERVER is given.
    let run = Run::from(
        env.command(&["list", "--json"])
            .env_remove("TASKCLI_SERVER")
            .output()
            .expect("runs"),
    );
    assert_eq!(run.ok().json().as_array().map(Vec::len), Some(1));
    let settings: Value = serde_json::from_slice(
        &std::fs::read(env.config_dir().join("config.json")).expect("config"),
    )
    .expect("json");
    assert_eq!(settings["default_server"], env.url.as_str());
    // --help reads well and lists every command; completions for each shell.
    let help = env.run(&["--help"]).ok().stdout.clone();
    for command in [
        "auth",
        "add",
        "list",
        "show",
        "edit",
        "done",
        "undone",
        "rm",
        "completions",
        "TASKCLI_TOKEN",
        "Exit codes",
    ] {
        assert!(help.contains(command), "{command} in {help}");
    }
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = env.run(&["completions", shell]).ok().stdout.clone();
        assert!(script.contains("taskcli") && script.len() > 500, "{shell}");
    }
    env.run(&["completions", "tcsh"]).fails(2);
}

#[test]
fn no_keyring_says_so_and_points_to_insecure_storage() {
    let env = Env::start();
    let run = env.run_with_stdin(
        &[
            "auth",
            "register",
            "--email",
            "nokeyring@example.com",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    run.fails(1);
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(
        run.stderr.contains("No OS keyring is available")
            && run.stderr.contains("--insecure-storage"),
        "{run:?}"
    );
}

#[test]
fn expired_tokens_are_refreshed_by_concurrent_processes() {
    let env = Env::start_with(|c| c.token_ttl = Duration::from_secs(1));
    env.register("refresh@example.com");
    env.run(&["add", "survives refreshes"]).ok();
    let credentials = env.config_dir().join("credentials.json");
    let before: Value =
        serde_json::from_slice(&std::fs::read(&credentials).expect("file")).expect("json");
    std::thread::sleep(Duration::from_millis(1500));
    // Four processes find the token expired at the same moment: all succeed.
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.command(&["list", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let run = Run::from(child.wait_with_output().expect("ends"));
        assert_eq!(run.ok().json().as_array().map(Vec::len), Some(1));
    }
    let after: Value =
        serde_json::from_slice(&std::fs::read(&credentials).expect("file")).expect("json");
    assert_ne!(
        before["servers"][&env.url]["refresh_token"],
        after["servers"][&env.url]["refresh_token"]
    );
    #[cfg(unix)]
    assert_eq!(mode(&credentials), 0o600);
    // And the stored session still works afterwards.
    std::thread::sleep(Duration::from_millis(1100));
    env.run(&["auth", "status"]).ok();
}

#[test]
fn tokens_the_sdk_refreshes_are_written_back() {
    let env = Env::start();
    env.register("writeback@example.com");
    env.run(&["add", "x"]).ok();
    // A stored access token the server rejects, with no known expiry: the
    // CLI cannot see it coming, so the SDK refreshes on the 401.
    let credentials = env.config_dir().join("credentials.json");
    let mut stored: Value =
        serde_json::from_slice(&std::fs::read(&credentials).expect("file")).expect("json");
    let old_refresh = stored["servers"][&env.url]["refresh_token"].clone();
    stored["servers"][&env.url]["access_token"] = Value::from("rejected-token");
    if let Some(login) = stored["servers"][&env.url].as_object_mut() {
        login.remove("expires_at");
    }
    std::fs::write(&credentials, serde_json::to_vec(&stored).expect("json")).expect("write");
    assert_eq!(
        env.run(&["list", "--json"])
            .ok()
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let after: Value =
        serde_json::from_slice(&std::fs::read(&credentials).expect("file")).expect("json");
    let login = &after["servers"][&env.url];
    assert_ne!(login["access_token"], "rejected-token");
    assert_ne!(login["refresh_token"], old_refresh);
    assert!(login["expires_at"].is_string());
    assert_eq!(login["email"], "writeback@example.com");
    // The written-back pair is the live one.
    env.run(&["auth", "status"]).ok();
}

/// The real OS keyring, where this machine has one (the kernel keyring on a
/// headless Linux box); skipped, saying so, where it has none.
#[test]
fn os_keyring_login_and_logout() {
    let env = Env::start();
    let email = "keyring@example.com";
    let with_keyring = |args: &[&str], stdin: Option<&str>| with_keyring(&env, args, stdin);
    let login = with_keyring(
        &["auth", "register", "--email", email, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    if login.stderr.contains("No OS keyring is available") {
        eprintln!(
            "skipped: no OS keyring on this machine ({})",
            login.stderr.trim()
        );
        return;
    }
    login.ok();
    assert!(login.stdout.contains("keyring"), "{login:?}");
    assert!(
        !env.config_dir().join("credentials.json").exists(),
        "nothing in files"
    );
    let status = with_keyring(&["auth", "status", "--json"], None)
        .ok()
        .json();
    assert_ne!(status["storage"], "file");
    assert_eq!(status["user"]["email"], email);
    with_keyring(&["add", "kept in the keyring"], None).ok();
    with_keyring(&["auth", "logout"], None).ok();
    with_keyring(&["auth", "status"], None).fails(3);
}

/// `taskcli` with the OS keyring allowed (the harness keeps it away by default).
fn with_keyring(env: &Env, args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = env.command(args);
    command.env_remove("TASKCLI_KEYRING");
    match stdin {
        Some(input) => {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
            Run::from(child.wait_with_output().expect("ends"))
        }
        None => Run::from(command.output().expect("runs")),
    }
}

/// Registers `email` with the tokens in the OS keyring; `false` (after saying
/// so) where this machine has none.
fn register_in_keyring(env: &Env, email: &str) -> bool {
    let run = with_keyring(
        env,
        &["auth", "register", "--email", email, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    if run.stderr.contains("No OS keyring is available") {
        eprintln!(
            "skipped: no OS keyring on this machine ({})",
            run.stderr.trim()
        );
        return false;
    }
    run.ok();
    true
}

/// One login in the keyring, another in the file, for the same server: a
/// logout (whichever store it names) leaves nobody logged in, rather than
/// the next command running as the other user.
#[test]
fn logout_forgets_the_server_in_every_store() {
    let env = Env::start();
    if !register_in_keyring(&env, "keyring-user@example.com") {
        return;
    }
    with_keyring(
        &env,
        &[
            "auth",
            "register",
            "--email",
            "file-user@example.com",
            "--password-stdin",
            "--insecure-storage",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .ok();
    let status = with_keyring(&env, &["auth", "status", "--json"], None)
        .ok()
        .json();
    assert_eq!(status["user"]["email"], "file-user@example.com");
    assert_eq!(status["storage"], "file");
    let status = with_keyring(&env, &["auth", "status"], None)
        .ok()
        .stdout
        .clone();
    assert!(status.contains("kept in the file"), "{status}");

    with_keyring(&env, &["auth", "logout", "--insecure-storage"], None).ok();
    with_keyring(&env, &["list"], None).fails(3);
    let status = with_keyring(&env, &["auth", "status"], None);
    status.fails(3);
    assert!(status.stderr.contains("Not logged in"), "{status:?}");
}

/// Logins for one server in two stores and no record of which is current
/// (settings lost): a read refuses to pick one, and a logout clears both.
#[test]
fn two_stored_logins_for_one_server_are_never_picked_silently() {
    let env = Env::start();
    env.register("file-user@example.com");
    let credentials = env.config_dir().join("credentials.json");
    let file_login = std::fs::read(&credentials).expect("credentials file");
    let settings = env.config_dir().join("config.json");
    // Without settings the next login goes to the keyring, not the file.
    std::fs::remove_file(&settings).expect("settings");
    if !register_in_keyring(&env, "keyring-user@example.com") {
        return;
    }
    // A login elsewhere replaces this server's login in the file.
    assert!(
        !credentials.exists()
            || !std::fs::read_to_string(&credentials)
                .expect("read")
                .contains(&env.url),
        "the keyring login left the file's login behind"
    );
    with_keyring(&env, &["list"], None).ok();
    // Put the old file login back and lose the settings.
    std::fs::write(&credentials, &file_login).expect("restore");
    std::fs::remove_file(&settings).expect("settings");
    let list = with_keyring(&env, &["list"], None);
    list.fails(3);
    assert!(list.stderr.contains("more than one place"), "{list:?}");
    with_keyring(&env, &["auth", "logout"], None).ok();
    with_keyring(&env, &["list"], None).fails(3);
    assert!(!credentials.exists(), "the file login is gone too");
}

#[test]
fn delete_account_asks_then_deletes_the_account_and_the_stored_tokens() {
    let env = Env::start();
    env.register("ada@example.com");
    env.run(&["add", "Buy", "milk"]).ok();
    let token = env.token();
    let delete = |stdin: &str, extra: &[&str]| {
        let mut args = vec!["auth", "delete-account"];
        args.extend_from_slice(extra);
        env.run_with_stdin(&args, stdin)
    };

    // Without a terminal there is nobody to confirm: usage errors, before any request.
    env.run(&["auth", "delete-account"]).fails(2);
    delete(&format!("{PASSWORD}\n"), &["--password-stdin"]).fails(2);
    // A wrong password deletes nothing.
    delete("wrong password\n", &["--password-stdin", "--yes"]).fails(3);
    env.run(&["list"]).ok();

    let out = delete(&format!("{PASSWORD}\n"), &["--password-stdin", "--yes"])
        .ok()
        .stdout
        .clone();
    assert!(out.contains("Deleted the account ada@example.com"), "{out}");
    // The server no longer knows the token, and the CLI forgot it.
    assert!(matches!(
        env.block_on(env.client(&token).me()),
        Err(taskclient::Error::Unauthorized { .. })
    ));
    env.run(&["list"]).fails(3);
    let credentials = env.config_dir().join("credentials.json");
    assert!(
        !credentials.exists()
            || !std::fs::read_to_string(&credentials)
                .expect("read")
                .contains(&env.url)
    );
    // The email is free again, with nothing of the old account.
    env.register("ada@example.com");
    let listed = env.run(&["list", "--all", "--json"]).ok().json();
    assert_eq!(listed, serde_json::json!([]));
}
