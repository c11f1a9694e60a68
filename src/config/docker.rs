//! What to follow and how to reach Docker: `OPENWEBUI_CONTAINER` and
//! `DOCKER_HOST`, parsed once at start, so a wrong value stops the bridge
//! with the fix instead of being retried forever.

use std::fmt;
use std::path::PathBuf;

/// The local socket, when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How to reach the Docker Engine (`DOCKER_HOST`, as the Docker CLI reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// `unix:///path/to/docker.sock` (or a bare path).
    Unix(PathBuf),
    /// `tcp://host:port` (or `http://…`): a socket proxy, a remote daemon without TLS.
    Tcp(String),
}

impl Default for DockerHost {
    fn default() -> Self {
        DockerHost::Unix(PathBuf::from(DEFAULT_SOCKET))
    }
}

impl DockerHost {
    pub fn parse(v: &str) -> Result<DockerHost, String> {
        let v = v.trim();
        if let Some(path) = v.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!(
                    "'{v}' names no socket; write unix:///var/run/docker.sock"
                ));
            }
            return Ok(DockerHost::Unix(PathBuf::from(path)));
        }
        if v.starts_with('/') {
            return Ok(DockerHost::Unix(PathBuf::from(v)));
        }
        let rest = v
            .strip_prefix("tcp://")
            .or_else(|| v.strip_prefix("http://"));
        if let Some(rest) = rest {
            let hostport = rest.trim_end_matches('/');
            let ok = match hostport.rsplit_once(':') {
                Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
                None => false,
            };
            if !ok || hostport.contains('/') {
                return Err(format!(
                    "'{v}' is not tcp://host:port (e.g. tcp://docker-socket-proxy:2375)"
                ));
            }
            return Ok(DockerHost::Tcp(format!("tcp://{hostport}")));
        }
        let why =
            if v.starts_with("https://") || v.starts_with("ssh://") || v.starts_with("npipe://") {
                "TLS, ssh:// and npipe:// endpoints are not supported"
            } else {
                "it is not a Docker endpoint"
            };
        Err(format!(
            "'{v}': {why}; use unix:///var/run/docker.sock (the socket mounted into the container) or tcp://host:port (a docker-socket-proxy)"
        ))
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerHost::Unix(p) => write!(f, "unix://{}", p.display()),
            DockerHost::Tcp(t) => f.write_str(t),
        }
    }
}

/// Which containers to follow (`OPENWEBUI_CONTAINER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A name or an id.
    Name(String),
    /// `label=KEY=VALUE`: every container carrying that label.
    Label(String),
}

impl Target {
    pub fn parse(v: &str) -> Result<Target, String> {
        let v = v.trim();
        match v.strip_prefix("label=") {
            Some("") => Err(
                "'label=' names no label; write label=KEY=VALUE, e.g. label=com.docker.compose.service=open-webui".into(),
            ),
            Some(l) => Ok(Target::Label(l.to_string())),
            None => {
                let name = v.trim_start_matches('/');
                let ok = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
                if ok {
                    Ok(Target::Name(name.to_string()))
                } else {
                    Err(format!("'{v}' is not a container name or id (letters, digits, '_', '.', '-'); see the NAMES column of 'docker ps'"))
                }
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Name(n) => f.write_str(n),
            Target::Label(l) => write!(f, "label={l}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hosts() {
        assert_eq!(
            DockerHost::default().to_string(),
            "unix:///var/run/docker.sock"
        );
        assert_eq!(
            DockerHost::parse("unix:///run/user/1000/docker.sock").unwrap(),
            DockerHost::Unix("/run/user/1000/docker.sock".into())
        );
        assert_eq!(
            DockerHost::parse("tcp://socket-proxy:2375").unwrap(),
            DockerHost::Tcp("tcp://socket-proxy:2375".into())
        );
        assert_eq!(
            DockerHost::parse("http://127.0.0.1:2375/")
                .unwrap()
                .to_string(),
            "tcp://127.0.0.1:2375"
        );
        for bad in [
            "socket-proxy:2375",
            "tcp://socket-proxy",
            "tcp://:2375",
            "unix://",
            "https://h:2376",
            "ssh://me@host",
        ] {
            let e = DockerHost::parse(bad).unwrap_err();
            assert!(e.contains("unix://") || e.contains("tcp://"), "{bad}: {e}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("open-webui").unwrap(),
            Target::Name("open-webui".into())
        );
        assert_eq!(
            Target::parse("/open-webui").unwrap(),
            Target::Name("open-webui".into())
        );
        assert_eq!(
            Target::parse("label=com.example.app=owui").unwrap(),
            Target::Label("com.example.app=owui".into())
        );
        assert!(Target::parse("label=").is_err());
        assert!(Target::parse("open webui").is_err());
    }
}
