//! Where records come from, as receivers see it (`source` in the payload):
//! the followed container, file or standard input, and this machine's name.

use serde::{Deserialize, Serialize};

use crate::config::hostname;

/// Where the record came from, as receivers see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Origin {
    pub container: Option<String>,
    pub container_id: Option<String>,
    pub stream: String,
    pub host: String,
    /// The followed file, for `--source file:`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
}

impl Origin {
    /// A container, by name and (once attached) short id.
    pub fn container(name: &str, id: Option<String>) -> Origin {
        Origin {
            container: Some(name.to_string()),
            container_id: id,
            stream: "stdout".into(),
            host: hostname(),
            file: None,
        }
    }

    /// Not a container: a followed file (`file` names it), standard input,
    /// the inbound endpoint or the bridge itself (`stream` says which).
    pub fn local(stream: &str, file: Option<String>) -> Origin {
        Origin {
            container: None,
            container_id: None,
            stream: stream.to_string(),
            host: hostname(),
            file,
        }
    }
}
