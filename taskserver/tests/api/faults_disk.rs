//! The embedded store on a disk that fills up: a write that cannot be made
//! durable is 503 `storage_unavailable` with `Retry-After` (never 500), no
//! answer after that shows data that may not be on disk, the process stops
//! with a non-zero status, and once the disk has room a restart serves
//! every acknowledged write.
//!
//! The disk is a tmpfs of 8 MiB mounted for the test, which needs root
//! (CI runs as root).

use crate::binary::{Bin, command, dirs};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a directory of its own, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("runs mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it, which needs root (as CI has)"
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .expect("runs mount");
        assert!(status.success(), "remount");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_shows_nothing_unsaved_stops_and_loses_nothing_acknowledged() {
    let (cwd, _) = dirs();
    let disk = Tmpfs::mount(&cwd.path().join("disk"), "8m");
    let data = disk.path.join("data");
    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    let u = app.register().await;

    let description = "x".repeat(4000);
    let mut acknowledged = Vec::new();
    let refused = loop {
        let resp = app
            .post(
                &u,
                "/api/tasks",
                json!({"title": format!("task {}", acknowledged.len()), "description": description}),
            )
            .await;
        match resp.status {
            201 => acknowledged.push(s(&resp.json()["id"])),
            _ => break resp,
        }
        assert!(acknowledged.len() < 20_000, "8 MiB never filled up");
    };
    assert_eq!(
        refused.status,
        503,
        "{}; the server's log:\n{}",
        refused.short(),
        bin.output()
    );
    refused.problem(503, "storage_unavailable");
    assert!(refused.header("retry-after").is_some());
    assert!(!acknowledged.is_empty(), "some writes fit first");

    // Memory may hold writes that are not on disk: nothing more is shown,
    // and the process stops by itself (a restart serves what is on disk).
    if let Ok(resp) = app
        .http
        .request(Method::GET, format!("{}/api/tasks", app.url))
        .bearer_auth(&u.token)
        .send()
        .await
    {
        assert_eq!(resp.status(), 503, "a read after the failed flush");
    }
    let status = bin.wait(30);
    assert!(!status.success(), "stops with a failure status: {status:?}");

    // With room again, a restart has every acknowledged write.
    disk.resize("64m");
    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    let session = app.login(&u.email, PASSWORD).await.expect(200).json();
    let user = User::from_session(&session);
    let listed = ids(&app.list_all(&user, "limit=200").await);
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged task {id} survived");
    }
    app.task(&user, "after the disk had room").await;
}
