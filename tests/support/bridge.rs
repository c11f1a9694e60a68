//! Running the real `owui-bridge` binary in a scratch folder: its own state
//! directory, a clean environment (nothing from the developer's shell leaks
//! in), stderr kept in a file so failures can show what the bridge said.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_owui-bridge");

/// A scratch folder for one test: working directory, log file, state.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// A command for the bridge with only `env` set (plus PATH).
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("BRIDGE_STATE_DIR", self.path("state"))
            .env("BRIDGE_LISTEN", "off");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args);
        cmd
    }
    /// Runs to completion with `stdin` as input.
    pub fn output(&self, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
        let mut cmd = self.command(args, env);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn owui-bridge");
        {
            use std::io::Write;
            let mut input = child.stdin.take().expect("stdin");
            let _ = input.write_all(stdin);
        }
        child.wait_with_output().expect("wait")
    }
    /// Starts a long-running bridge whose stderr goes to `log_name`.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)], log_name: &str) -> Running {
        let log = std::fs::File::create(self.path(log_name)).expect("log file");
        let mut cmd = self.command(args, env);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        Running {
            child: cmd.spawn().expect("spawn owui-bridge"),
            log: self.path(log_name),
        }
    }
}

impl Scratch {
    /// `run` on an empty log file with the HTTP endpoint on `listen`
    /// (`host:port`), once the endpoint accepts connections; stderr goes to
    /// `bridge.log`.
    pub fn serve(&self, listen: &str, env: &[(&str, &str)]) -> Running {
        let log = self.path("empty.log");
        std::fs::write(&log, "").expect("empty log");
        let source = format!("file:{}", log.display());
        let mut env = env.to_vec();
        env.push(("BRIDGE_LISTEN", listen));
        let bridge = self.spawn(&["run", "--source", &source], &env, "bridge.log");
        let port = listen.rsplit(':').next().expect("host:port");
        let start = Instant::now();
        while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the endpoint never came up: {}",
                bridge.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bridge
    }
}

pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    /// `kill -9`: no chance to flush or say goodbye.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Waits until the bridge's log contains `needle`; false on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
    /// SIGTERM, then wait (bounded) for the exit.
    pub fn terminate(mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends lines to a log file the way a logger does (one write per line).
pub fn append(path: &Path, lines: &[String]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    for l in lines {
        f.write_all(l.as_bytes()).expect("write");
        f.write_all(b"\n").expect("write");
    }
}

/// A real-shaped uvicorn access line for an upload from `ip`.
pub fn upload_line(n: u32, ip: &str) -> String {
    format!("2026-11-27 08:{:02}:{:02}.{:03} | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - {ip}:0 - \"POST /api/v1/files/ HTTP/1.1\" 200", (n / 60) % 60, n % 60, n % 1000)
}

/// A free loopback port (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The text of a running bridge's `/metrics` (`base`: `http://host:port`).
pub async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the body of /metrics")
}
