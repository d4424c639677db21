//! A node whose disk fills up stops (fail-stop): it exits non-zero with a log line that says
//! why, it acknowledges nothing it could not write, the cluster goes on without it, and once
//! its data is on a healthy disk it comes back with every acknowledged write.
//!
//! The small disk is a 64 MiB ext4 image mounted through a loop device, which needs root; the
//! test says so and skips where it cannot mount.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use seshat_tests::Cluster;

/// A filesystem image mounted on a directory; unmounted (lazily, so a process that still holds
/// a file there cannot keep it) and deleted when dropped.
struct LoopMount {
    dir: PathBuf,
}

impl LoopMount {
    fn new(scratch: &Path, mib: u64) -> Result<LoopMount, String> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("mounting a loop device needs root".to_owned());
        }
        let image = scratch.join("small.img");
        let file = std::fs::File::create(&image).map_err(|e| format!("creating the image: {e}"))?;
        file.set_len(mib << 20)
            .map_err(|e| format!("sizing the image: {e}"))?;
        run("mkfs.ext4", &["-q", "-F", path(&image)])?;
        let dir = scratch.join("small");
        std::fs::create_dir(&dir).map_err(|e| format!("creating the mount point: {e}"))?;
        run("mount", &["-o", "loop", path(&image), path(&dir)])?;
        Ok(LoopMount { dir })
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("running {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[test]
fn a_node_whose_disk_fills_up_stops_and_recovers_on_a_healthy_disk() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mount = match LoopMount::new(scratch.path(), 64) {
        Ok(mount) => mount,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let small = (leader + 1) % 3;
    cluster.stop(small);
    cluster.move_data_dir(small, &mount.dir.join("data"));
    cluster.start_node(small);

    // 64 KiB values: each SET is an entry in the log and a record in the keyspace, so the
    // small disk fills after a few hundred; 3,000 (190 MiB) cannot fit.
    let value = vec![b'v'; 64 << 10];
    let mut client = cluster.client(leader);
    let mut acknowledged = Vec::new();
    let mut exited = None;
    for i in 0..3000 {
        let key = format!("key:{i}");
        let reply: redis::RedisResult<String> =
            redis::cmd("SET").arg(&key).arg(&value).query(&mut client);
        if reply.is_ok() {
            acknowledged.push(key);
        }
        if i % 10 == 0 {
            exited = cluster.wait_for_exit(small, Duration::ZERO);
            if exited.is_some() {
                break;
            }
        }
    }
    let status = exited
        .or_else(|| cluster.wait_for_exit(small, Duration::from_secs(30)))
        .unwrap_or_else(|| panic!("the node on the full disk kept running\n{}", cluster.logs()));
    let log = cluster.log_of(small);
    println!(
        "node {} stopped with {status} after {} acknowledged writes",
        small + 1,
        acknowledged.len()
    );
    assert!(!status.success(), "it exited successfully\n{log}");
    assert!(
        log.contains("No space left on device") && log.contains("stopping the node"),
        "its log does not say that the disk is full and it stopped\n{}",
        log.lines()
            .filter(|l| !l.contains(" INFO "))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The other two are a majority: writes go on.
    for i in 0..20 {
        let key = format!("after:{i}");
        let reply: String = redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .query(&mut client)
            .unwrap_or_else(|e| panic!("a write after the node stopped: {e}\n{}", cluster.logs()));
        assert_eq!(reply, "OK");
        acknowledged.push(key);
    }

    // On a healthy disk it starts again, catches up and, made leader, serves every
    // acknowledged write.
    cluster.move_data_dir(small, &scratch.path().join("healthy"));
    cluster.start_node(small);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let leader = cluster.wait_for_leader(Duration::from_secs(20));
        if leader == small {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {} never took over leadership\n{}",
            small + 1,
            cluster.logs()
        );
        let id = (small + 1).to_string();
        cluster.admin(leader, &["transfer-leader", "--id", &id]);
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut client = cluster.client(small);
    for key in &acknowledged {
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(key)
            .query(&mut client)
            .unwrap_or_else(|e| panic!("GET {key}: {e}\n{}", cluster.logs()));
        assert!(
            stored.as_deref() == Some(&value[..]),
            "acknowledged {key} is missing or wrong after the restart"
        );
    }
    drop(cluster);
    drop(mount);
}
