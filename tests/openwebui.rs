//! End to end against a real Open WebUI: its real log, read through Docker by
//! the real bridge, delivered to a webhook receiver that checks signatures.
//!
//! Open WebUI comes from PyPI (there is no image registry here), one virtualenv
//! per version. Each test run, per version:
//!
//! ```text
//! fake OpenAI API ◀── Open WebUI (venv) in a container ──docker logs──▶ owui-bridge ──signed POST──▶ Receiver
//! (axum, loopback)     on an empty image, --network host   (Docker API)                         (loopback)
//!                              ▲
//!                              └── this test drives its REST API (reqwest): sign-up, sign-in, users,
//!                                  files, chats, completions, models
//! ```
//!
//! * The container is an empty imported image (`owui-bridge-e2e/empty:latest`)
//!   with the host's `/usr`, `/lib`, `/lib64`, `/bin`, `/etc`, the Python
//!   installation the venv was made from and the venv itself bind-mounted
//!   read-only; a fresh writable folder is `DATA_DIR` (and `HOME`, and
//!   `STATIC_DIR`: Open WebUI copies its frontend's static files there at start,
//!   which would otherwise write into the read-only package), `/tmp` is a tmpfs.
//!   Open WebUI runs offline (`OFFLINE_MODE`, `HF_HUB_OFFLINE`), so its missing
//!   embedding model logs real ERROR records: expected noise (`error.occurred`,
//!   printed, allowed).
//! * The model provider is a fake OpenAI API in this process: `fake-model`
//!   answers (JSON or SSE), `broken-model` answers 401 `invalid_api_key`, as an
//!   expired key does.
//! * Every REST call's status and ids are recorded. The expected events are
//!   built from the calls that got the status they were made for (a 2xx, or the
//!   400 of a wrong password), as `docs/events.md` promises them for that
//!   version, keyed by their identifying fields (`user_id`, `file_id`,
//!   `chat_id`, `email`, …). The receiver must get exactly that multiset — each
//!   action's event once, nothing for a call that failed — with both signatures
//!   valid on every delivery; `error.occurred` and `container.*` may come on top.
//!   An id an event names (`user_id`, `file_id`, …) must be one the calls made.
//! * The bridge is started right after `docker run`, with `BRIDGE_SINCE` a time
//!   just before it: it reads the container from its first line. Calls are
//!   spaced by [`PACE`], like a person clicking.
//!
//! Two tests: `every_rest_action_gives_its_one_signed_event` runs every action
//! (users, sign-ins, files, chats, completions, models) against each version in
//! `OWUI_E2E_VENVS`, one after the other (a failing version does not stop the
//! others; the failure lists them all); `audit_log_on_stdout_names_the_acting_user`
//! runs a short sequence against 0.12.4 with its audit log on stdout
//! (`AUDIT_LOG_LEVEL=METADATA ENABLE_AUDIT_STDOUT=true
//! AUDIT_EXCLUDED_PATHS=/nonexistent`): the same one event per action, each
//! naming the acting user (`data.actor_email`, from the audit record that
//! follows the access line: `owui.audit` and `wait_for` in the pack).
//! A third, `at_debug_level_message_created_names_the_model`, runs each version
//! at `GLOBAL_LOG_LEVEL=DEBUG` and wants the completions' `message.created` to
//! carry the model and the user's message from the `form_data` record; a
//! fourth, `in_json_format_every_rest_action_gives_its_one_signed_event`,
//! repeats every action on 0.12.4 with `LOG_FORMAT=json`.
//! Only one Open WebUI runs at a time.
//!
//! A failure here that is not the harness's own is a gap between what this
//! Open WebUI logs and what the built-in pack (`rules/openwebui.toml`) makes of
//! it: the message lists the missing and extra events and Open WebUI's relevant
//! log lines. For inspection each run leaves, in `target/openwebui-e2e/`,
//! `<version>.log` (the container's complete `docker logs`),
//! `<version>-events.json` (every delivery as received), `<version>-bridge.log`
//! and `<version>-steps.json` (the REST calls); the audit scenario the same with
//! `-audit` after the version.
//!
//! Run it with `scripts/openwebui-e2e.sh`, which installs the virtualenvs
//! (`open-webui==0.6.43` and `==0.12.4` by default, about 7 GB each) and runs
//! `OWUI_E2E_VENVS=0.6.43=<venv>,0.12.4=<venv> cargo test --features openwebui-e2e
//! --test it openwebui -- --test-threads=1 --nocapture`. Each version takes a
//! minute or two (Open WebUI starts in 10–50 s).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::bridge::{free_port, Scratch, BIN};
use crate::support::docker::unique;
use crate::support::receiver::{Received, Receiver};

const SECRET: &str = "openwebui-e2e-secret";
const EMPTY_IMAGE: &str = "owui-bridge-e2e/empty:latest";
const WEBUI_SECRET_KEY: &str = "owui-bridge-e2e-webui-secret-key-0123456789abcdef";
const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "Adm1n-e2e-Passw0rd!";
const USER_EMAIL: &str = "member@example.com";
const USER_PASSWORD: &str = "Memb3r-e2e-Passw0rd!";
const FAKE_MODEL: &str = "fake-model";
const BROKEN_MODEL: &str = "broken-model";
const WORKSPACE_MODEL: &str = "e2e-helper";
/// How long Open WebUI may take to answer `/health` after `docker run`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the bridge may take to deliver everything after the last call.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Quiet time after the expected events are in, for late extras and duplicates.
const SETTLE: Duration = Duration::from_secs(4);
/// Time between two REST calls, about a person's pace (the real capture in
/// `openwebui-0.12.4-actions.jsonl` has 1.5 s): an upload's background
/// processing is over before the file is deleted, and records of one call are
/// not interleaved with the next call's.
const PACE: Duration = Duration::from_millis(1000);

/// One Open WebUI at a time: each takes most of a core while it starts.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---- versions ---------------------------------------------------------------

/// An installed Open WebUI: `0.12.4` and its virtualenv.
#[derive(Clone, Debug)]
struct Version {
    name: String,
    venv: PathBuf,
}

impl Version {
    fn number(&self) -> (u32, u32, u32) {
        let mut parts = self.name.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }
    fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.number() >= (major, minor, patch)
    }
}

/// The versions in `OWUI_E2E_VENVS` (`0.6.43=/path/venv,0.12.4=/path/venv`).
fn versions() -> Vec<Version> {
    let hint = "run scripts/openwebui-e2e.sh: it installs Open WebUI into virtualenvs and sets \
                OWUI_E2E_VENVS=<version>=<venv>,… for this test";
    let spec = std::env::var("OWUI_E2E_VENVS")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| panic!("OWUI_E2E_VENVS is not set: {hint}"));
    let versions: Vec<Version> = spec
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (name, venv) = item.trim().split_once('=').unwrap_or_else(|| {
                panic!("OWUI_E2E_VENVS: {item:?} is not <version>=<venv>: {hint}")
            });
            let v = Version {
                name: name.trim().to_string(),
                venv: PathBuf::from(venv.trim()),
            };
            assert!(
                v.venv.join("bin/open-webui").is_file(),
                "OWUI_E2E_VENVS: {} has no bin/open-webui: {hint}",
                v.venv.display()
            );
            v
        })
        .collect();
    assert!(
        !versions.is_empty(),
        "OWUI_E2E_VENVS names no version: {hint}"
    );
    versions
}

/// Where the logs and events of each run are kept (`target/openwebui-e2e`).
fn artifacts_dir() -> PathBuf {
    // BIN is <target>/<profile>/owui-bridge.
    let target = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    let dir = target.join("openwebui-e2e");
    std::fs::create_dir_all(&dir).expect("create target/openwebui-e2e");
    dir
}

// ---- the fake model provider --------------------------------------------------

/// An OpenAI-compatible API on loopback: `GET /v1/models`, `POST /v1/chat/completions`.
struct FakeOpenAi {
    port: u16,
    /// `<model> stream=<bool> → <status>` per completion request.
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOpenAi {
    async fn start() -> FakeOpenAi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let app = Router::new()
            .route("/v1/models", get(fake_models))
            .route("/v1/chat/completions", post(fake_completion))
            .with_state(seen.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeOpenAi { port, seen, task }
    }
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn fake_models() -> Response {
    let model = |id: &str| json!({"id": id, "object": "model", "created": 1_795_766_400, "owned_by": "owui-bridge-e2e"});
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": [model(FAKE_MODEL), model(BROKEN_MODEL)]}),
    )
}

async fn fake_completion(State(seen): State<Arc<Mutex<Vec<String>>>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("").to_string();
    let stream = request["stream"].as_bool().unwrap_or(false);
    let record = |status: u16| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{model} stream={stream} → {status}"));
    };
    if model != FAKE_MODEL {
        record(401);
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }}),
        );
    }
    record(200);
    let created = 1_795_766_511;
    let text = "Hello from the fake model.";
    if stream {
        let chunk = |delta: Value, finish: Value| {
            let c = json!({
                "id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": created,
                "model": FAKE_MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            });
            format!("data: {c}\n\n")
        };
        let mut sse = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
        for word in text.split_inclusive(' ') {
            sse.push_str(&chunk(json!({"content": word}), Value::Null));
        }
        sse.push_str(&chunk(json!({}), json!("stop")));
        sse.push_str("data: [DONE]\n\n");
        return (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            sse,
        )
            .into_response();
    }
    json_response(
        StatusCode::OK,
        &json!({
            "id": "chatcmpl-e2e", "object": "chat.completion", "created": created, "model": FAKE_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
        }),
    )
}

// ---- Open WebUI in a container --------------------------------------------------

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs")
}

/// Imports the empty image once (`tar -C <empty dir> -c . | docker import - …`).
fn ensure_empty_image() {
    if docker(&["image", "inspect", EMPTY_IMAGE]).status.success() {
        return;
    }
    let empty = tempfile::tempdir().expect("temp dir");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import - {EMPTY_IMAGE}",
            empty.path().display()
        ))
        .status()
        .expect("sh runs");
    assert!(status.success(), "docker import of {EMPTY_IMAGE} failed");
}

/// The Python installation a venv was made from: the parent of `pyvenv.cfg`'s
/// `home` (`/root/.pyenv/versions/3.11.7/bin` → `/root/.pyenv/versions/3.11.7`).
fn python_prefix(venv: &Path) -> PathBuf {
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg"))
        .unwrap_or_else(|e| panic!("{}/pyvenv.cfg: {e}", venv.display()));
    let home = cfg
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "home").then(|| PathBuf::from(v.trim()))
        })
        .unwrap_or_else(|| panic!("{}/pyvenv.cfg has no home", venv.display()));
    let home = std::fs::canonicalize(&home).unwrap_or(home);
    home.parent().expect("home has a parent").to_path_buf()
}

/// A running Open WebUI container, removed on drop (panics included).
struct OpenWebUi {
    name: String,
    port: u16,
    /// DATA_DIR, HOME and STATIC_DIR live here.
    _data: tempfile::TempDir,
    started: Instant,
}

impl Drop for OpenWebUi {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

impl OpenWebUi {
    /// `docker run -d --network host …` the empty image with the venv's `open-webui serve`.
    fn start(v: &Version, provider_url: &str, extra_env: &[(&str, &str)]) -> OpenWebUi {
        ensure_empty_image();
        let name = unique(&format!("owui-{}", v.name));
        let port = free_port();
        let data = tempfile::tempdir().expect("temp dir");
        let data_dir = data.path().to_str().expect("utf-8 temp path").to_string();
        for sub in ["home", "static"] {
            std::fs::create_dir_all(data.path().join(sub)).expect("create data sub-folder");
        }
        let venv = v.venv.to_str().expect("utf-8 venv path").to_string();
        let prefix = python_prefix(&v.venv);
        let prefix = prefix.to_str().expect("utf-8 python path").to_string();

        let mut args: Vec<String> = ["run", "-d", "--name", &name, "--network", "host"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for ro in ["/usr", "/lib", "/lib64", "/bin", "/etc", &prefix, &venv] {
            if Path::new(ro).exists() {
                args.extend(["-v".into(), format!("{ro}:{ro}:ro")]);
            }
        }
        args.extend(["-v".into(), format!("{data_dir}:{data_dir}")]);
        args.extend([
            "--tmpfs".into(),
            "/tmp".into(),
            "-w".into(),
            data_dir.clone(),
        ]);
        let port_s = port.to_string();
        let mut env: Vec<(String, String)> = [
            ("OFFLINE_MODE", "true"),
            ("HF_HUB_OFFLINE", "1"),
            ("RAG_EMBEDDING_MODEL_AUTO_UPDATE", "False"),
            ("WEBUI_SECRET_KEY", WEBUI_SECRET_KEY),
            ("ENABLE_OLLAMA_API", "False"),
            ("OPENAI_API_BASE_URL", provider_url),
            ("OPENAI_API_KEY", "sk-fake"),
            ("DATA_DIR", &data_dir),
            ("HOME", &format!("{data_dir}/home")),
            ("STATIC_DIR", &format!("{data_dir}/static")),
            ("PORT", &port_s),
            (
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        for (k, val) in &env {
            args.extend(["-e".into(), format!("{k}={val}")]);
        }
        args.push(EMPTY_IMAGE.into());
        args.extend([
            format!("{venv}/bin/open-webui"),
            "serve".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port_s.clone(),
        ]);
        let _ = docker(&["rm", "-f", &name]);
        let started = Instant::now();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = docker(&args);
        assert!(
            out.status.success(),
            "docker run {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        OpenWebUi {
            name,
            port,
            _data: data,
            started,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `docker logs`, stdout and stderr in one file as the CLI writes them; also returned.
    fn save_logs(&self, path: &Path) -> String {
        let file = std::fs::File::create(path).expect("create the log file");
        let status = Command::new("docker")
            .args(["logs", &self.name])
            .stdout(Stdio::from(file.try_clone().expect("clone file")))
            .stderr(Stdio::from(file))
            .status()
            .expect("docker logs runs");
        assert!(status.success(), "docker logs {}", self.name);
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn logs_tail(&self, lines: usize) -> String {
        let out = docker(&["logs", "--tail", &lines.to_string(), &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn running(&self) -> bool {
        let out = docker(&["inspect", "-f", "{{.State.Running}}", &self.name]);
        String::from_utf8_lossy(&out.stdout).trim() == "true"
    }

    /// Waits for `GET /health` → 200; returns how long start-up took.
    async fn wait_healthy(&self) -> Duration {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut last_check = Instant::now();
        loop {
            if let Ok(r) = http.get(self.url("/health")).send().await {
                if r.status().is_success() {
                    return self.started.elapsed();
                }
            }
            if self.started.elapsed() > STARTUP_TIMEOUT {
                panic!(
                    "Open WebUI did not answer /health within {STARTUP_TIMEOUT:?}; last log lines:\n{}",
                    self.logs_tail(80)
                );
            }
            if last_check.elapsed() > Duration::from_secs(5) {
                last_check = Instant::now();
                assert!(
                    self.running(),
                    "the Open WebUI container exited during start-up; last log lines:\n{}",
                    self.logs_tail(80)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

// ---- the REST API ---------------------------------------------------------------

/// An answer: status and body (JSON, or the text as a JSON string).
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn str(&self, key: &str) -> String {
        self.body[key].as_str().unwrap_or("").to_string()
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(base: String) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            base,
            token: None,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        tokio::time::sleep(PACE).await;
        let req = match &self.token {
            Some(t) => req.header("authorization", format!("Bearer {t}")),
            None => req,
        };
        let resp = req.send().await.expect("Open WebUI answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply { status, body }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.send(req).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// `POST /api/v1/files/` as the web UI sends it: multipart, one `file` part.
    async fn upload(&self, filename: &str, content_type: &str, content: &str) -> Reply {
        let boundary = "owui-bridge-e2e-boundary-5f3a9c";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: {content_type}\r\n\r\n{content}\r\n--{boundary}--\r\n"
        );
        let req = self
            .http
            .post(format!("{}/api/v1/files/", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(req).await
    }
}

// ---- expectations -----------------------------------------------------------------

/// The fields that tell one event of a kind from another: what the comparison keys on.
fn key_fields(event: &str) -> &'static [&'static str] {
    match event {
        "user.created" | "chat.created" => &["via"],
        "user.login" => &["email"],
        "user.login_failed" => &["email", "reason"],
        "user.updated" | "user.deleted" => &["user_id"],
        "file.uploaded" => &["content_type"],
        "file.deleted" => &["file_id"],
        "chat.deleted" => &["chat_id"],
        "chat.updated" => &["chat_id", "saves"],
        "model.changed" => &["action"],
        "provider.request_failed" => &["model_id", "status"],
        _ => &[],
    }
}

/// `event field=value …` over the event's key fields (`-` for a missing field).
fn key_of(event: &str, data: &Value) -> String {
    let mut key = event.to_string();
    for f in key_fields(event) {
        let value = match &data[*f] {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_string(),
            other => other.to_string(),
        };
        key.push_str(&format!(" {f}={value}"));
    }
    key
}

/// Events that may come on top of the expected ones.
fn is_noise(event: &str) -> bool {
    event == "error.occurred" || event.starts_with("container.")
}

fn want(event: &str, fields: &[(&str, &str)]) -> String {
    let data: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    key_of(event, &Value::Object(data))
}

/// One REST call: what it was for, what it got, and the events it should cause.
struct Step {
    name: &'static str,
    request: String,
    status: u16,
    /// The status the call is made for (200 unless said otherwise).
    wanted_status: u16,
    /// The ids it produced or used (`{"user_id": …}`).
    ids: Value,
    /// Expected iff `status == wanted_status`.
    events: Vec<String>,
    /// The acting user the audit log names for this call.
    actor: Option<&'static str>,
}

impl Step {
    fn wanted(&mut self, status: u16) -> &mut Step {
        self.wanted_status = status;
        self
    }
    fn ids(&mut self, ids: Value) -> &mut Step {
        self.ids = ids;
        self
    }
    /// The events the call causes when it gets its wanted status.
    fn expects(&mut self, events: Vec<String>) -> &mut Step {
        self.events = events;
        self
    }
    /// The event must carry this `data.actor_email` (audit log on).
    fn actor(&mut self, email: &'static str) -> &mut Step {
        self.actor = Some(email);
        self
    }
}

#[derive(Default)]
struct Journal {
    steps: Vec<Step>,
}

impl Journal {
    /// Records a call (and prints it); the builder on the result says what it should cause.
    fn record(&mut self, name: &'static str, request: &str, reply: &Reply) -> &mut Step {
        let body = if (200..300).contains(&reply.status) {
            String::new()
        } else {
            format!(" {}", truncate(&reply.body.to_string(), 300))
        };
        eprintln!("  {name:<18} {request:<62} → {}{body}", reply.status);
        self.steps.push(Step {
            name,
            request: request.to_string(),
            status: reply.status,
            wanted_status: 200,
            ids: json!({}),
            events: Vec::new(),
            actor: None,
        });
        self.steps.last_mut().expect("just pushed")
    }

    fn expected(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .steps
            .iter()
            .filter(|s| s.status == s.wanted_status)
            .flat_map(|s| s.events.iter().cloned())
            .collect();
        all.sort();
        all
    }

    fn unexpected_statuses(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.status != s.wanted_status)
            .map(|s| {
                format!(
                    "{} ({}) got {}, wanted {}",
                    s.name, s.request, s.status, s.wanted_status
                )
            })
            .collect()
    }

    /// Every id the calls produced or used, by field (`user_id` → {…}).
    fn ids(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in &self.steps {
            for (field, value) in s.ids.as_object().into_iter().flatten() {
                if let Some(v) = value.as_str() {
                    ids.entry(field.clone()).or_default().insert(v.to_string());
                }
            }
        }
        ids
    }

    fn to_json(&self) -> Value {
        Value::Array(
            self.steps
                .iter()
                .map(|s| {
                    json!({"step": s.name, "request": s.request, "status": s.status,
                           "wanted_status": s.wanted_status, "ids": s.ids, "events": s.events})
                })
                .collect(),
        )
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Multiset difference: what `a` has more of than `b`.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for k in b {
        *left.entry(k).or_default() += 1;
    }
    let mut out = Vec::new();
    for k in a {
        match left.get_mut(k.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(k.clone()),
        }
    }
    out
}

/// The deliveries that count: every one but the noise, as keys, sorted.
fn received_keys(got: &[Received]) -> Vec<String> {
    let mut keys: Vec<String> = got
        .iter()
        .filter(|r| !is_noise(r.event()))
        .map(|r| key_of(r.event(), &r.json["data"]))
        .collect();
    keys.sort();
    keys
}

/// Waits until every expected event has arrived (or the timeout), then a quiet
/// [`SETTLE`] for anything extra; returns all deliveries.
async fn wait_for_events(rx: &Receiver, expected: &[String]) -> Vec<Received> {
    let start = Instant::now();
    while start.elapsed() < DELIVERY_TIMEOUT
        && !minus(expected, &received_keys(&rx.received())).is_empty()
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(SETTLE).await;
    rx.received()
}

/// The records of Open WebUI's log that events are made from: access lines of
/// mutating requests, the records before them, warnings and errors (first line).
fn relevant_log_lines(log: &str) -> String {
    log.lines()
        .filter(|l| {
            (l.contains(" - \"POST ") || l.contains(" - \"DELETE ") || l.contains(" - \"PUT "))
                || l.contains("authenticate_user")
                || l.contains("insert_new_auth")
                || l.contains("file.content_type")
                || l.contains("| WARNING ")
                || l.contains("| ERROR ")
                || l.contains("Upstream ")
                || l.contains("audit")
        })
        .map(|l| format!("    {}", truncate(l, 400)))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- one run --------------------------------------------------------------------

/// Everything one scenario needs: provider, Open WebUI, receiver, bridge.
struct Run {
    version: Version,
    label: String,
    owui: OpenWebUi,
    fake: FakeOpenAi,
    rx: Receiver,
    bridge: crate::support::bridge::Running,
    _scratch: Scratch,
    api: Api,
    startup: Duration,
    begun: Instant,
}

impl Run {
    /// Starts the provider, Open WebUI (with `extra_env`) and the bridge, and
    /// waits for Open WebUI to be up. `label` names the artifacts.
    async fn start(v: &Version, label: &str, extra_env: &[(&str, &str)]) -> Run {
        let begun = Instant::now();
        let fake = FakeOpenAi::start().await;
        let rx = Receiver::start(SECRET).await;
        // The bridge reads the container from its start: no checkpoint yet, so
        // BRIDGE_SINCE decides; a time just before `docker run` (Docker's
        // `since` is in whole seconds).
        let since = (chrono::Utc::now() - chrono::Duration::seconds(2))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let owui = OpenWebUi::start(v, &fake.base_url(), extra_env);
        let scratch = Scratch::new();
        let url = rx.url();
        let bridge = scratch.spawn(
            &["run"],
            &[
                ("WEBHOOK_URL", url.as_str()),
                ("WEBHOOK_SECRET", SECRET),
                ("OPENWEBUI_CONTAINER", owui.name.as_str()),
                ("BRIDGE_SINCE", since.as_str()),
                ("WEBHOOK_TIMEOUT", "5"),
            ],
            "bridge.log",
        );
        eprintln!(
            "[{label}] container {} on port {}, provider {}, bridge pid {}",
            owui.name,
            owui.port,
            fake.base_url(),
            bridge.child.id()
        );
        let startup = owui.wait_healthy().await;
        eprintln!("[{label}] Open WebUI answered /health after {startup:.1?}");
        let api = Api::new(owui.url(""));
        Run {
            version: v.clone(),
            label: label.to_string(),
            owui,
            fake,
            rx,
            bridge,
            _scratch: scratch,
            api,
            startup,
            begun,
        }
    }

    /// Waits for the deliveries, saves the artifacts, and checks them against
    /// the journal. Returns the deliveries.
    async fn finish(self, journal: &Journal) -> Vec<Received> {
        let steps_done = Instant::now();
        let expected = journal.expected();
        let got = wait_for_events(&self.rx, &expected).await;
        let delivery_wait = steps_done.elapsed();

        let dir = artifacts_dir();
        let log = self
            .owui
            .save_logs(&dir.join(format!("{}.log", self.label)));
        let events: Vec<Value> = got
            .iter()
            .map(|r| {
                json!({"event": r.event(), "id": r.id(),
                       "seed_signature_ok": r.seed_signature_ok,
                       "standard_signature_ok": r.standard_signature_ok,
                       "payload": r.json})
            })
            .collect();
        std::fs::write(
            dir.join(format!("{}-events.json", self.label)),
            serde_json::to_string_pretty(&events).unwrap(),
        )
        .expect("write events");
        std::fs::write(
            dir.join(format!("{}-steps.json", self.label)),
            serde_json::to_string_pretty(&journal.to_json()).unwrap(),
        )
        .expect("write steps");
        std::fs::write(
            dir.join(format!("{}-bridge.log", self.label)),
            self.bridge.log_text(),
        )
        .expect("write bridge log");

        let label = &self.label;
        eprintln!("[{label}] {} deliveries:", got.len());
        for r in &got {
            let data = &r.json["data"];
            let marker = if is_noise(r.event()) { "  (noise)" } else { "" };
            eprintln!(
                "  {:<26} {}{marker}",
                r.event(),
                truncate(&data.to_string(), 240)
            );
        }
        eprintln!("[{label}] provider saw: {:?}", self.fake.seen());

        let received = received_keys(&got);
        let missing = minus(&expected, &received);
        let extra = minus(&received, &expected);
        let unsigned: Vec<String> = got
            .iter()
            .filter(|r| !(r.seed_signature_ok && r.standard_signature_ok))
            .map(|r| format!("{} {} ({:?})", r.event(), r.id(), r.standard_error))
            .collect();
        let foreign: Vec<String> = got
            .iter()
            .filter(|r| r.json["source"]["container"] != self.owui.name.as_str())
            .map(|r| format!("{} from {}", r.event(), r.json["source"]))
            .collect();
        let statuses = journal.unexpected_statuses();
        // An id an event names (where the pack finds one) must be one the calls
        // produced: no event lands on another call's object.
        let known = journal.ids();
        let strangers: Vec<String> = got
            .iter()
            .filter(|r| !is_noise(r.event()))
            .flat_map(|r| {
                ["user_id", "file_id", "chat_id", "model_id", "message_id"]
                    .iter()
                    .filter_map(|f| {
                        let v = r.json["data"][*f].as_str()?;
                        let ok = known.get(*f).is_some_and(|ids| ids.contains(v));
                        (!ok).then(|| format!("{} {f}={v}", r.event()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();

        eprintln!(
            "[{label}] timings: start-up {:.1?}, delivery wait {:.1?}, whole run {:.1?}",
            self.startup,
            delivery_wait,
            self.begun.elapsed()
        );
        let ok = missing.is_empty()
            && extra.is_empty()
            && unsigned.is_empty()
            && foreign.is_empty()
            && strangers.is_empty()
            && statuses.is_empty();
        assert!(
            ok,
            "Open WebUI {v} ({label}): the bridge's events do not match the REST calls.\n\
             missing (expected, not delivered): {missing:#?}\n\
             extra (delivered, not expected): {extra:#?}\n\
             deliveries with a bad signature: {unsigned:#?}\n\
             deliveries from another container: {foreign:#?}\n\
             ids no call produced: {strangers:#?}\n\
             calls that did not get the status they were made for: {statuses:#?}\n\
             expected: {expected:#?}\n\
             received: {received:#?}\n\
             Open WebUI's relevant log lines (all in {dir}/{label}.log):\n{lines}\n\
             bridge log: {dir}/{label}-bridge.log, events: {dir}/{label}-events.json",
            v = self.version.name,
            dir = dir.display(),
            lines = relevant_log_lines(&log),
        );
        let _ = self.bridge.terminate();
        got
    }
}

fn status_ok(r: &Reply, what: &str) {
    assert!(
        (200..300).contains(&r.status),
        "{what}: HTTP {} {}",
        r.status,
        truncate(&r.body.to_string(), 500)
    );
}

/// The workspace model's form (`ModelForm`).
fn model_form(name: &str) -> Value {
    json!({
        "id": WORKSPACE_MODEL,
        "base_model_id": FAKE_MODEL,
        "name": name,
        "meta": {"description": "owui-bridge end-to-end test", "profile_image_url": "/static/favicon.png"},
        "params": {},
        "access_control": null,
        "is_active": true,
    })
}

// ---- scenarios --------------------------------------------------------------------

/// Sign-up of the first user (Open WebUI makes it the admin; its token is
/// kept for the calls that follow), then a sign-in.
async fn sign_up_and_in(api: &mut Api, j: &mut Journal) {
    let r = api
        .post(
            "/api/v1/auths/signup",
            json!({"name": "E2E Admin", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    status_ok(&r, "sign-up of the first user");
    api.token = Some(r.str("token"));
    j.record("user.signup", "POST /api/v1/auths/signup", &r)
        .ids(json!({"user_id": r.str("id")}))
        // Open WebUI logs neither the new user's email nor id (docs/events.md).
        .expects(vec![want("user.created", &[("via", "signup")])]);

    let r = api
        .post(
            "/api/v1/auths/signin",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    j.record("user.signin", "POST /api/v1/auths/signin", &r)
        .expects(vec![want("user.login", &[("email", ADMIN_EMAIL)])]);
}

/// A completion from `fake-model` ("Say hello"), as JSON or streamed: one
/// `message.created`.
async fn say_hello<'j>(api: &mut Api, j: &'j mut Journal, stream: bool) -> &'j mut Step {
    let r = api
        .post(
            "/api/chat/completions",
            json!({"model": FAKE_MODEL, "stream": stream,
                   "messages": [{"role": "user", "content": "Say hello"}]}),
        )
        .await;
    j.record(
        "message.created",
        &format!("POST /api/chat/completions (fake-model, stream={stream})"),
        &r,
    )
    .ids(json!({"model_id": FAKE_MODEL}))
    .expects(vec![want("message.created", &[])])
}

/// Every action the pack has an event for, through the REST API, in the order
/// of `openwebui-0.12.4-actions.jsonl`.
async fn every_action(v: Version) {
    let label = v.name.clone();
    all_actions(v, label, &[]).await
}

/// The same with `LOG_FORMAT=json` (0.8.4+): every event from the JSON lines.
async fn every_action_in_json(v: Version) {
    let label = format!("{}-json", v.name);
    all_actions(v, label, &[("LOG_FORMAT", "json")]).await
}

async fn all_actions(v: Version, label: String, env: &'static [(&'static str, &'static str)]) {
    let _serial = SERIAL.lock().await;
    let mut run = Run::start(&v, &label, env).await;
    let api = &mut run.api;
    let mut j = Journal::default();
    eprintln!("[{label}] REST calls:");

    // Users: sign-up (the first user becomes admin), sign-in, a wrong password.
    sign_up_and_in(api, &mut j).await;

    let r = api
        .post(
            "/api/v1/auths/signin",
            json!({"email": ADMIN_EMAIL, "password": "not-the-password"}),
        )
        .await;
    j.record(
        "user.signin_failed",
        "POST /api/v1/auths/signin (wrong password)",
        &r,
    )
    .wanted(400)
    .expects(vec![want(
        "user.login_failed",
        &[("email", ADMIN_EMAIL), ("reason", "invalid_credentials")],
    )]);

    // The admin adds a user, then changes it.
    let r = api
        .post(
            "/api/v1/auths/add",
            json!({"name": "E2E Member", "email": USER_EMAIL, "password": USER_PASSWORD, "role": "user"}),
        )
        .await;
    status_ok(&r, "admin adds a user");
    let user_id = r.str("id");
    j.record("user.added", "POST /api/v1/auths/add", &r)
        .ids(json!({"user_id": user_id}))
        .expects(vec![want("user.created", &[("via", "admin")])]);

    let path = format!("/api/v1/users/{user_id}/update");
    let r = api
        .post(
            &path,
            json!({"role": "user", "name": "E2E Member Renamed", "email": USER_EMAIL,
                   "profile_image_url": "/user.png"}),
        )
        .await;
    j.record("user.updated", &format!("POST {path}"), &r)
        .ids(json!({"user_id": user_id}))
        .expects(vec![want("user.updated", &[("user_id", &user_id)])]);

    // A file: upload, delete. The file id is not in the upload's access line.
    let r = api
        .upload(
            "e2e-notes.txt",
            "text/plain",
            "owui-bridge end-to-end test\n",
        )
        .await;
    status_ok(&r, "file upload");
    let file_id = r.str("id");
    j.record("file.uploaded", "POST /api/v1/files/", &r)
        .ids(json!({"file_id": file_id}))
        .expects(vec![want(
            "file.uploaded",
            &[("content_type", "text/plain")],
        )]);

    let path = format!("/api/v1/files/{file_id}");
    let r = api.delete(&path).await;
    j.record("file.deleted", &format!("DELETE {path}"), &r)
        .ids(json!({"file_id": file_id}))
        .expects(vec![want("file.deleted", &[("file_id", &file_id)])]);

    // A chat: create, completions (JSON, streamed, refused by the provider), a save.
    let r = api
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "E2E chat", "models": [FAKE_MODEL], "messages": [],
                            "history": {"messages": {}, "currentId": null}}}),
        )
        .await;
    status_ok(&r, "new chat");
    let chat_id = r.str("id");
    j.record("chat.created", "POST /api/v1/chats/new", &r)
        .ids(json!({"chat_id": chat_id}))
        .expects(vec![want("chat.created", &[("via", "new")])]);

    // At INFO a completion's access line has no chat, user or model id to key on.
    for stream in [false, true] {
        say_hello(api, &mut j, stream).await;
    }

    let r = api
        .post(
            "/api/chat/completions",
            json!({"model": BROKEN_MODEL, "stream": false,
                   "messages": [{"role": "user", "content": "Say hello"}]}),
        )
        .await;
    // 0.11+ logs the provider's refusal (WARNING `Upstream … request failed`);
    // before 0.11 Open WebUI logs no upstream HTTP error at all (docs/events.md).
    // The `Error processing chat payload` ERROR that follows is an error.occurred.
    let refused = if v.at_least(0, 11, 0) {
        vec![want(
            "provider.request_failed",
            &[("model_id", BROKEN_MODEL), ("status", "401")],
        )]
    } else {
        vec![]
    };
    j.record(
        "error.completion",
        "POST /api/chat/completions (broken-model)",
        &r,
    )
    .wanted(401)
    .ids(json!({"model_id": BROKEN_MODEL}))
    .expects(refused);

    // The new chat's first save (the web UI saves a chat right after creating
    // it) belongs to its chat.created: nothing, and the chat's 5-minute
    // chat.updated window starts (docs/events.md, chat.updated).
    let path = format!("/api/v1/chats/{chat_id}");
    let r = api
        .post(
            &path,
            json!({"chat": {"title": "E2E chat", "models": [FAKE_MODEL]}}),
        )
        .await;
    j.record("chat.first_save", &format!("POST {path}"), &r)
        .ids(json!({"chat_id": chat_id}));

    // A chat that was there before (imported: no chats/new in front of it),
    // renamed: exactly one chat.updated; renamed again inside its 5 minutes:
    // counted for the next one, not sent.
    let r = api
        .post(
            "/api/v1/chats/import",
            json!({"chats": [{"chat": {"title": "E2E imported chat", "models": [FAKE_MODEL],
                                       "messages": [], "history": {"messages": {}, "currentId": null}}}]}),
        )
        .await;
    let imported = r.body[0]["id"].as_str().unwrap_or("").to_string();
    j.record("chat.imported", "POST /api/v1/chats/import", &r)
        .ids(json!({"chat_id": imported}))
        .expects(vec![want("chat.created", &[("via", "import")])]);
    let path = format!("/api/v1/chats/{imported}");
    for (title, events) in [
        (
            "E2E imported chat, renamed",
            vec![want(
                "chat.updated",
                &[("chat_id", &imported), ("saves", "1")],
            )],
        ),
        ("E2E imported chat, renamed twice", vec![]),
    ] {
        let r = api
            .post(
                &path,
                json!({"chat": {"title": title, "models": [FAKE_MODEL]}}),
            )
            .await;
        j.record("chat.updated", &format!("POST {path}"), &r)
            .ids(json!({"chat_id": imported}))
            .expects(events);
    }
    let r = api.delete(&path).await;
    j.record("chat.deleted", &format!("DELETE {path}"), &r)
        .ids(json!({"chat_id": imported}))
        .expects(vec![want("chat.deleted", &[("chat_id", &imported)])]);

    // A workspace model: create, update, delete (the id in the body from
    // 0.6.37, in the query before).
    let r = api
        .post("/api/v1/models/create", model_form("E2E Helper"))
        .await;
    j.record("model.created", "POST /api/v1/models/create", &r)
        .ids(json!({"model_id": WORKSPACE_MODEL}))
        .expects(vec![want("model.changed", &[("action", "create")])]);
    let body_ids = v.at_least(0, 6, 37);
    let path = if body_ids {
        "/api/v1/models/model/update".to_string()
    } else {
        format!("/api/v1/models/model/update?id={WORKSPACE_MODEL}")
    };
    let r = api.post(&path, model_form("E2E Helper, renamed")).await;
    j.record("model.updated", &format!("POST {path}"), &r)
        .ids(json!({"model_id": WORKSPACE_MODEL}))
        .expects(vec![want("model.changed", &[("action", "update")])]);
    let (r, request) = if body_ids {
        let path = "/api/v1/models/model/delete";
        let r = api.post(path, json!({"id": WORKSPACE_MODEL})).await;
        (r, format!("POST {path}"))
    } else {
        let path = format!("/api/v1/models/model/delete?id={WORKSPACE_MODEL}");
        (api.delete(&path).await, format!("DELETE {path}"))
    };
    j.record("model.deleted", &request, &r)
        .ids(json!({"model_id": WORKSPACE_MODEL}))
        .expects(vec![want("model.changed", &[("action", "delete")])]);

    // Clean-up as an admin does it: the chat, the user.
    let path = format!("/api/v1/chats/{chat_id}");
    let r = api.delete(&path).await;
    j.record("chat.deleted", &format!("DELETE {path}"), &r)
        .ids(json!({"chat_id": chat_id}))
        .expects(vec![want("chat.deleted", &[("chat_id", &chat_id)])]);
    let path = format!("/api/v1/users/{user_id}");
    let r = api.delete(&path).await;
    j.record("user.deleted", &format!("DELETE {path}"), &r)
        .ids(json!({"user_id": user_id}))
        .expects(vec![want("user.deleted", &[("user_id", &user_id)])]);

    run.finish(&j).await;
}

/// A short sequence with Open WebUI's audit log on stdout (METADATA level,
/// every path audited): every action still gives exactly its one event, the
/// audit records add none.
async fn with_audit_log(v: Version) {
    let _serial = SERIAL.lock().await;
    let label = format!("{}-audit", v.name);
    let mut run = Run::start(
        &v,
        &label,
        &[
            ("AUDIT_LOG_LEVEL", "METADATA"),
            ("ENABLE_AUDIT_STDOUT", "true"),
            ("AUDIT_EXCLUDED_PATHS", "/nonexistent"),
        ],
    )
    .await;
    let api = &mut run.api;
    let mut j = Journal::default();
    eprintln!("[{label}] REST calls:");

    // The sign-up's audit record names nobody (`"user":{}`); the sign-in's
    // names the user who signed in.
    sign_up_and_in(api, &mut j).await;
    if let Some(signin) = j.steps.last_mut() {
        signin.actor(ADMIN_EMAIL);
    }

    let r = api
        .post(
            "/api/v1/auths/add",
            json!({"name": "E2E Member", "email": USER_EMAIL, "password": USER_PASSWORD, "role": "user"}),
        )
        .await;
    j.record("user.added", "POST /api/v1/auths/add", &r)
        .ids(json!({"user_id": r.str("id")}))
        .expects(vec![want("user.created", &[("via", "admin")])])
        .actor(ADMIN_EMAIL);

    let r = api
        .upload(
            "e2e-notes.txt",
            "text/plain",
            "owui-bridge end-to-end test\n",
        )
        .await;
    j.record("file.uploaded", "POST /api/v1/files/", &r)
        .ids(json!({"file_id": r.str("id")}))
        .expects(vec![want(
            "file.uploaded",
            &[("content_type", "text/plain")],
        )])
        .actor(ADMIN_EMAIL);

    let r = api
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "E2E chat", "models": [FAKE_MODEL], "messages": []}}),
        )
        .await;
    status_ok(&r, "new chat");
    let chat_id = r.str("id");
    j.record("chat.created", "POST /api/v1/chats/new", &r)
        .ids(json!({"chat_id": chat_id}))
        .expects(vec![want("chat.created", &[("via", "new")])])
        .actor(ADMIN_EMAIL);

    // A completion is audited too (AUDIT_EXCLUDED_PATHS no longer names /chat).
    say_hello(api, &mut j, false).await.actor(ADMIN_EMAIL);

    let path = format!("/api/v1/chats/{chat_id}");
    let r = api.delete(&path).await;
    j.record("chat.deleted", &format!("DELETE {path}"), &r)
        .ids(json!({"chat_id": chat_id}))
        .expects(vec![want("chat.deleted", &[("chat_id", &chat_id)])])
        .actor(ADMIN_EMAIL);

    let got = run.finish(&j).await;

    // The acting user, from the audit record that follows each access line
    // (rules/openwebui.toml: owui.audit, and `wait_for` on the access-line rules).
    {
        let mut wrong = Vec::new();
        for step in j.steps.iter().filter(|s| s.status == s.wanted_status) {
            let Some(actor) = step.actor else { continue };
            for key in &step.events {
                let actors: Vec<Value> = got
                    .iter()
                    .filter(|r| key_of(r.event(), &r.json["data"]) == *key)
                    .map(|r| r.json["data"]["actor_email"].clone())
                    .collect();
                if !actors.iter().any(|a| a == actor) {
                    wrong.push(format!(
                        "{} ({key}): wanted data.actor_email={actor}, got {actors:?}",
                        step.name
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "Open WebUI {} ({label}): acting user missing or wrong (audit records: grep auditable \
             {}/{label}.log): {wrong:#?}",
            v.name,
            artifacts_dir().display()
        );
    }
}

/// Runs `scenario` for `v` in a task of its own, so one version's failure
/// (a panic) still lets the others run; returns the panic message.
async fn isolated<F, Fut>(v: &Version, scenario: F) -> Option<String>
where
    F: FnOnce(Version) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let result = tokio::spawn(scenario(v.clone())).await;
    eprintln!(
        "[{}] scenario finished in {:.1?}: {}",
        v.name,
        started.elapsed(),
        if result.is_ok() { "passed" } else { "FAILED" }
    );
    match result {
        Ok(()) => None,
        Err(e) if e.is_panic() => {
            let p = e.into_panic();
            Some(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into()),
            )
        }
        Err(e) => Some(e.to_string()),
    }
}

fn report(failures: Vec<(String, String)>) {
    if !failures.is_empty() {
        let text: Vec<String> = failures
            .iter()
            .map(|(v, msg)| format!("==== Open WebUI {v} ====\n{msg}"))
            .collect();
        panic!(
            "{} of the versions failed:\n{}",
            failures.len(),
            text.join("\n\n")
        );
    }
}

/// At `GLOBAL_LOG_LEVEL=DEBUG` Open WebUI logs each chat payload
/// (`form_data: {…}`): `message.created` then carries the model, and the
/// start of the user's message.
async fn at_debug_level(v: Version) {
    let _serial = SERIAL.lock().await;
    let label = format!("{}-debug", v.name);
    let mut run = Run::start(&v, &label, &[("GLOBAL_LOG_LEVEL", "DEBUG")]).await;
    let api = &mut run.api;
    let mut j = Journal::default();
    eprintln!("[{label}] REST calls:");
    sign_up_and_in(api, &mut j).await;
    for stream in [false, true] {
        say_hello(api, &mut j, stream).await;
    }
    let got = run.finish(&j).await;
    let models: Vec<(Value, Value)> = got
        .iter()
        .filter(|r| r.event() == "message.created")
        .map(|r| {
            (
                r.json["data"]["model_id"].clone(),
                r.json["data"]["content_preview"].clone(),
            )
        })
        .collect();
    assert_eq!(
        models,
        vec![(json!(FAKE_MODEL), json!("Say hello")); 2],
        "Open WebUI {label}: message.created should name the model and the message (form_data records: grep form_data {}/{label}.log)",
        artifacts_dir().display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_debug_level_message_created_names_the_model() {
    let mut failures = Vec::new();
    for v in versions() {
        if let Some(msg) = isolated(&v, at_debug_level).await {
            failures.push((format!("{} (DEBUG)", v.name), msg));
        }
    }
    report(failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_action_gives_its_one_signed_event() {
    let mut failures = Vec::new();
    for v in versions() {
        if let Some(msg) = isolated(&v, every_action).await {
            failures.push((v.name.clone(), msg));
        }
    }
    report(failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_json_format_every_rest_action_gives_its_one_signed_event() {
    let v = versions().into_iter().find(|v| v.name == "0.12.4").expect(
        "OWUI_E2E_VENVS has no 0.12.4, which this scenario is about: run scripts/openwebui-e2e.sh",
    );
    if let Some(msg) = isolated(&v, every_action_in_json).await {
        report(vec![(format!("{} (LOG_FORMAT=json)", v.name), msg)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_on_stdout_names_the_acting_user() {
    let v = versions().into_iter().find(|v| v.name == "0.12.4").expect(
        "OWUI_E2E_VENVS has no 0.12.4, which this scenario is about: run scripts/openwebui-e2e.sh",
    );
    if let Some(msg) = isolated(&v, with_audit_log).await {
        report(vec![(format!("{} (audit log on stdout)", v.name), msg)]);
    }
}
