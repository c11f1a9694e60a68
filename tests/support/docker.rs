//! Real Docker for the tests: a tiny image built locally (there is no
//! registry: busybox from Debian's busybox-static, imported with
//! `docker import`), containers with unique names that are removed on every
//! path, and a TCP proxy in front of the Docker socket whose connections a
//! test can cut, like a socket proxy's idle timeout does.

use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::net::{TcpListener, UnixStream};
use tokio::task::AbortHandle;

pub const IMAGE: &str = "owui-bridge-test/busybox:1";

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs")
}

/// Builds the test image once per test run if it is not there yet.
pub fn ensure_image() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if docker(&["image", "inspect", IMAGE]).status.success() {
            return;
        }
        let busybox = std::path::Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: apt-get install busybox-static (.ci/run does this)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::copy(busybox, dir.path().join("bin/busybox")).unwrap();
        for tool in ["sh", "echo", "sleep", "cat", "printf", "seq", "head", "tr"] {
            std::os::unix::fs::symlink("busybox", dir.path().join("bin").join(tool)).unwrap();
        }
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tar -C {} -c . | docker import - {IMAGE}",
                dir.path().display()
            ))
            .status()
            .unwrap();
        assert!(status.success(), "docker import of the test image failed");
    });
}

/// A container removed when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name <name> [extra…] IMAGE sh -c <script>`.
    pub fn run(name: &str, extra: &[&str], script: &str) -> Container {
        ensure_image();
        let _ = docker(&["rm", "-f", name]);
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        let out = docker(&args);
        assert!(
            out.status.success(),
            "docker run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container {
            name: name.to_string(),
        }
    }
    pub fn cmd(&self, verb: &str) {
        let out = docker(&[verb, &self.name]);
        assert!(
            out.status.success(),
            "docker {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    pub fn remove(&self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
    pub fn logs(&self) -> String {
        let out = docker(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A unique container name for one test.
pub fn unique(prefix: &str) -> String {
    format!(
        "owui-bridge-test-{prefix}-{}-{}",
        std::process::id(),
        rand_suffix()
    )
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.subsec_nanos() % 100_000
}

/// TCP on loopback → the Docker socket, with a switch to cut every open connection.
pub struct SocketProxy {
    pub port: u16,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl SocketProxy {
    pub async fn start() -> SocketProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Default::default();
        let accept = Self::accept_loop(listener, conns.clone());
        SocketProxy {
            port,
            conns,
            accept,
        }
    }

    /// As if the daemon went away: nothing listens, every connection is closed.
    pub fn pause(&mut self) {
        self.accept.abort();
        self.cut();
    }

    /// The daemon is back, on the same address.
    pub async fn resume(&mut self) {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_reuseaddr(true).unwrap();
        sock.bind(([127, 0, 0, 1], self.port).into()).unwrap();
        let listener = sock.listen(64).unwrap();
        self.accept = Self::accept_loop(listener, self.conns.clone());
    }

    fn accept_loop(listener: TcpListener, conns: Arc<Mutex<Vec<AbortHandle>>>) -> AbortHandle {
        let c = conns;
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut unix) = UnixStream::connect("/var/run/docker.sock").await {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle()
    }
    pub fn docker_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
    /// Closes every connection open now (new ones still work).
    pub fn cut(&self) -> usize {
        let conns: Vec<AbortHandle> = std::mem::take(&mut *self.conns.lock().unwrap());
        let n = conns.iter().filter(|c| !c.is_finished()).count();
        for c in conns {
            c.abort();
        }
        n
    }
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
