//! The README's step-by-step blocks, as the tests read them: a fenced block
//! right after `<!-- walkthrough: NAME -->`. The walkthrough test runs them
//! literally, so the README cannot drift from what works.

use std::path::Path;

/// The body of the fenced block that follows `<!-- walkthrough: {name} -->` in `file`.
pub fn walkthrough_block(file: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let marker = format!("<!-- walkthrough: {name} -->");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("{} has no '{marker}'", file.display()));
    let rest = &text[at + marker.len()..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body_start = open + rest[open..].find('\n').expect("a fence line") + 1;
    let close = rest[body_start..]
        .find("\n```")
        .expect("the block's closing fence");
    rest[body_start..body_start + close + 1].to_string()
}

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
