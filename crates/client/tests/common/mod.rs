//! An embedded daemon on a private socket and node directory, for in-process tests.

#![allow(dead_code)]

use std::path::PathBuf;

use loopcam_daemon::{Daemon, DaemonOptions, NodeDir, StopHandle};

/// Clients find the daemon through the process environment, so tests in one binary run one
/// daemon at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct TestDaemon {
    _serial: std::sync::MutexGuard<'static, ()>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    stop: StopHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestDaemon {
    pub fn start(name: &str) -> TestDaemon {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = std::env::temp_dir().join(format!("loopcam-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("loopcam.sock");
        let opts = DaemonOptions {
            socket: socket.clone(),
            node_dir: NodeDir::Dir(dir.join("dev")),
            ..DaemonOptions::for_user()
        };
        let d = Daemon::bind(&opts).expect("bind");
        let stop = d.stop_handle();
        let thread = std::thread::spawn(move || d.run().expect("daemon run"));
        // Clients in this process find the daemon through the environment.
        std::env::set_var("LOOPCAM_SOCKET", &socket);
        TestDaemon {
            _serial: serial,
            dir,
            socket,
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A daemon, a device, a streaming producer and consumer (160x120 YUYV at 30 fps, 2 buffers
/// each).
pub fn stream_pair(
    name: &str,
) -> (
    TestDaemon,
    loopcam_client::Producer,
    loopcam_client::Consumer,
) {
    let d = TestDaemon::start(name);
    let path = loopcam_client::Manager::connect()
        .unwrap()
        .add(loopcam_proto::DeviceSpec::default())
        .unwrap()
        .nodes[0]
        .clone();
    let p = loopcam_client::Producer::open(&path, loopcam_abi::V4L2_PIX_FMT_YUYV, 160, 120, 30, 2)
        .unwrap();
    let c = loopcam_client::Consumer::open(&path, 2).unwrap();
    (d, p, c)
}
