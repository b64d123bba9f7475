//! `--metrics-listen` on the built binary: the flag, the start time of the
//! real process, and a taken metrics port as a startup error.

use crate::binary::*;
use crate::helpers::*;
use crate::metrics::{assert_process_metrics, required};
use std::io::Read;

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn the_binary_serves_metrics_on_the_metrics_address() {
    let (cwd, data) = dirs();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut cmd = with_secret(command(cwd.path(), &data));
    cmd.env("TASKSERVER_METRICS_LISTEN", &metrics);
    let spawned = now();
    let bin = Bin::start(cmd);
    let app = bin.app();
    let u = app.register().await;
    app.task(&u, "one").await;

    app.call(reqwest::Method::GET, "/metrics", None, None)
        .await
        .problem(404, "not_found");
    let resp = send(client().get(format!("http://{metrics}/metrics"))).await;
    resp.expect(200);
    let text = resp.text();
    let start = assert_process_metrics(&text);
    assert!(
        (spawned - 5) as f64 <= start && start <= now() as f64 + 1.0,
        "started at {start}, spawned at {spawned}"
    );
    assert!(required(&text, "taskserver_store_flushes_total") >= 1.0);
    assert!(
        bin.output().contains(&metrics),
        "the log names the metrics address:\n{}",
        bin.output()
    );
    bin.signal("TERM");
    assert!(bin.wait(30).success());
}

#[test]
fn a_taken_metrics_port_is_one_sentence_before_anything_is_created() {
    let (cwd, data) = dirs();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let mut cmd = with_secret(command(cwd.path(), &data));
    cmd.arg("--metrics-listen").arg(&addr);
    let mut child = cmd.spawn().expect("spawn");
    let status = wait_for(&mut child, 30);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let _ = child.stdout.take().expect("stdout").read_to_string(&mut stdout);
    let _ = child.stderr.take().expect("stderr").read_to_string(&mut stderr);
    assert!(!status.success(), "started anyway: {stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        [format!(
            "taskserver: cannot serve metrics on {addr}: the address is already in use"
        )],
        "one sentence on stderr"
    );
    assert!(!data.exists(), "the data directory was created");
}
