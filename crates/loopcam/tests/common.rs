//! A daemon process on a private socket, and helpers to run the CLI against it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_loopcam");

/// Tests that run video pipelines take this lock so they do not compete for the CPU.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Env {
    _serial: std::sync::MutexGuard<'static, ()>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub daemon: Option<Child>,
}

impl Env {
    /// Starts `loopcam daemon` on a private socket and node directory.
    pub fn start(name: &str) -> Env {
        Env::start_with(name, &[])
    }

    /// Like [`Env::start`], with extra `loopcam daemon` arguments.
    pub fn start_with(name: &str, extra: &[&str]) -> Env {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = std::env::temp_dir().join(format!("loopcam-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("loopcam.sock");
        let mut e = Env {
            _serial: serial,
            dir,
            socket,
            daemon: None,
        };
        e.start_daemon(extra);
        e
    }

    pub fn start_daemon(&mut self, extra: &[&str]) {
        let log = std::fs::File::create(self.dir.join("daemon.log")).unwrap();
        let child = Command::new(BIN)
            .args(["daemon", "--node-dir"])
            .arg(self.dir.join("dev"))
            .args(extra)
            .env("LOOPCAM_SOCKET", &self.socket)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        self.daemon = Some(child);
        let t0 = Instant::now();
        while !self.socket.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).env("LOOPCAM_SOCKET", &self.socket);
        c
    }

    /// Runs the CLI to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run loopcam")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "loopcam {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Starts the CLI in the background.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn loopcam")
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    pub fn kill_daemon(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.kill_daemon();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits for a child with a timeout; kills it and panics on timeout.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// stdout+stderr of a finished child.
pub fn output_of(child: Child) -> (String, String) {
    let o = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Parses the `dump --json` summary.
pub fn summary(stdout: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary in {stdout:?}"));
    serde_json::from_str(line).unwrap()
}
