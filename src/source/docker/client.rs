//! Talking to the Docker Engine: connecting to the endpoint `DOCKER_HOST`
//! names (parsed in `config`), negotiating the API version (Docker 20.10
//! speaks only up to 1.41), and turning failures into sentences a person can
//! act on.

use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;

use crate::config::DockerHost;

/// What was asked of Docker and why it failed, for people.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach Docker at {host}: the socket does not exist; mount it into the bridge's container (volumes: - /var/run/docker.sock:/var/run/docker.sock) or set DOCKER_HOST")]
    NoSocket { host: String },
    #[error("cannot reach Docker at {host}: permission denied; run the bridge as root or as a user in the socket's group (group_add in compose), or use a docker-socket-proxy via DOCKER_HOST")]
    Permission { host: String },
    #[error("cannot reach Docker at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("Docker at {host} answered {status}: {message}")]
    Answered {
        host: String,
        status: u16,
        message: String,
    },
}

impl DockerError {
    /// The same failure again is not news; a different one is.
    pub fn kind(&self) -> &'static str {
        match self {
            DockerError::NoSocket { .. } => "no-socket",
            DockerError::Permission { .. } => "permission",
            DockerError::Unreachable { .. } => "unreachable",
            DockerError::Answered { .. } => "answered",
        }
    }
}

/// Connects and negotiates the API version.
pub async fn connect(host: &DockerHost) -> Result<Docker, DockerError> {
    let label = host.to_string();
    let docker = match host {
        DockerHost::Unix(path) => {
            Docker::connect_with_unix(&path.to_string_lossy(), 120, bollard::API_DEFAULT_VERSION)
        }
        DockerHost::Tcp(addr) => Docker::connect_with_http(addr, 120, bollard::API_DEFAULT_VERSION),
    }
    .map_err(|e| classify(&label, &e))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| classify(&label, &e))
}

/// Maps a bollard error to what the person should do.
pub fn classify(host: &str, e: &bollard::errors::Error) -> DockerError {
    use bollard::errors::Error as E;
    let text = full_chain(e);
    match e {
        E::SocketNotFoundError(_) => DockerError::NoSocket { host: host.into() },
        E::DockerResponseServerError {
            status_code,
            message,
        } => DockerError::Answered {
            host: host.into(),
            status: *status_code,
            message: message.clone(),
        },
        _ if text.contains("Permission denied") || text.contains("os error 13") => {
            DockerError::Permission { host: host.into() }
        }
        _ if text.contains("No such file or directory") => {
            DockerError::NoSocket { host: host.into() }
        }
        _ => DockerError::Unreachable {
            host: host.into(),
            reason: text,
        },
    }
}

fn full_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// Whether the error is Docker's "No such container".
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Whether Docker says the container is being removed (409 on logs).
pub fn is_going_away(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }
    )
}

/// Names of every container Docker knows (for "did you mean" messages).
pub async fn container_names(docker: &Docker) -> Vec<String> {
    let opts = ListContainersOptions {
        all: true,
        ..Default::default()
    };
    match docker.list_containers(Some(opts)).await {
        Ok(list) => {
            let mut names: Vec<String> = list
                .into_iter()
                .flat_map(|c| c.names.unwrap_or_default())
                .map(|n| n.trim_start_matches('/').to_string())
                .collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    }
}

/// Names of the containers carrying `key=value` (running or not).
pub async fn names_with_label(
    docker: &Docker,
    label: &str,
) -> Result<Vec<String>, bollard::errors::Error> {
    let mut filters = std::collections::HashMap::new();
    filters.insert("label".to_string(), vec![label.to_string()]);
    let opts = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let list = docker.list_containers(Some(opts)).await?;
    let mut names: Vec<String> = list
        .into_iter()
        .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// The bridge's own container id prefix, if it runs in one (Docker's default
/// hostname is the short id). Short hostnames are ignored: they are no ids.
pub fn own_container_prefix() -> Option<String> {
    let h = crate::config::hostname();
    (h.len() >= 12 && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some(h)
}
