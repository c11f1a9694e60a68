//! The shape of the code, checked: modules depend only on those before them
//! on the data path (no import cycle), and the generic HTTP helpers of the
//! sinks depend on no particular sink. Reads `src/` as text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The order of `src/lib.rs`: each module may use only those before it.
const ORDER: &[&str] = &[
    "secret",
    "memory",
    "metrics",
    "health",
    "shutdown",
    "config",
    "telemetry",
    "record",
    "event",
    "rules",
    "source",
    "outbox",
    "sink",
    "pipeline",
    "server",
    "cli",
    "app",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its unit tests (they may use anything).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Top-level module → the top-level modules its code names as `crate::…`.
fn uses() -> BTreeMap<String, Vec<(String, PathBuf)>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = code(&f);
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != top {
                out.entry(top.clone()).or_default().push((name, f.clone()));
            }
        }
    }
    out
}

#[test]
fn modules_depend_only_on_earlier_stages() {
    let rank = |m: &str| {
        ORDER.iter().position(|o| *o == m).unwrap_or_else(|| {
            panic!("module {m} is not in ORDER (tests/layout.rs and src/lib.rs)")
        })
    };
    let mut wrong = Vec::new();
    let all = uses();
    assert!(all.len() > 10, "modules found: {:?}", all.keys());
    for (module, used) in &all {
        for (dep, file) in used {
            if rank(dep) > rank(module) {
                wrong.push(format!("{} uses crate::{dep}", file.display()));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "later stages used:\n{}", wrong.join("\n"));
}

#[test]
fn generic_http_helpers_use_no_particular_sink() {
    let http = code(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/sink/http.rs"));
    for sink in ["webhook", "discord", "slack", "telegram"] {
        assert!(
            !http.contains(&format!("super::{sink}")) && !http.contains(&format!("sink::{sink}")),
            "sink/http.rs uses {sink}"
        );
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (letters of
/// any script, digits, `-` and `_` kept), spaces made `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// Every relative link in the README and docs leads to a file that exists,
/// and every `#anchor` to a heading there.
#[test]
fn docs_links_lead_somewhere() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md"), root.join("README.vi.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    let mut broken = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let link: String = rest
                .chars()
                .take_while(|c| *c != ')' && !c.is_whitespace())
                .collect();
            if link.starts_with("http") || link.starts_with("mailto:") || link.is_empty() {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let target = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", doc.display()));
            } else if !anchor.is_empty()
                && target.extension().is_some_and(|x| x == "md")
                && !anchors(&std::fs::read_to_string(&target).unwrap())
                    .contains(&anchor.to_string())
            {
                broken.push(format!("{}: {link} (no such heading)", doc.display()));
            }
        }
    }
    assert!(docs.len() >= 8, "{docs:?}");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn readme_snippet_is_the_shipped_compose_file() {
    use crate::support::readme::{root, walkthrough_block};
    let shipped = std::fs::read_to_string(root().join("owui-bridge.yml")).unwrap();
    for readme in ["README.md", "README.vi.md"] {
        let path = root().join(readme);
        assert_eq!(
            walkthrough_block(&path, "owui-bridge.yml"),
            shipped,
            "{readme}'s owui-bridge.yml block differs from the file owui-bridge.yml: copy one onto the other"
        );
    }
}
