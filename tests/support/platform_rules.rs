//! What Discord, Slack and Telegram accept, as pure functions over the JSON a
//! sink sends: the loopback stand-ins (`platforms.rs`) answer with them, and
//! the chat-renderer fuzz target (`fuzz/`) uses them as its oracle. Only
//! `serde_json` here, so both can include this file.

use serde_json::{json, Value};

/// Discord's length: characters, after trimming white space at both ends.
pub fn dlen(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.trim().chars().count())
}

/// Discord's checks; problems are `path: message`.
pub fn discord_problems(json: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let mut max = |path: String, v: &Value, n: usize| {
        if dlen(v) > n {
            p.push(format!("{path}: Must be {n} or fewer in length."));
        }
    };
    max("content".into(), &json["content"], 2000);
    let embeds = json["embeds"].as_array().cloned().unwrap_or_default();
    if embeds.len() > 10 {
        p.push("embeds: Must be 10 or fewer in length.".into());
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let mut max = |f: &str, v: &Value, n: usize| {
            if dlen(v) > n {
                p.push(format!("embeds.{i}.{f}: Must be {n} or fewer in length."));
            }
        };
        max("title", &e["title"], 256);
        max("description", &e["description"], 4096);
        max("footer.text", &e["footer"]["text"], 2048);
        max("author.name", &e["author"]["name"], 256);
        total += dlen(&e["title"])
            + dlen(&e["description"])
            + dlen(&e["footer"]["text"])
            + dlen(&e["author"]["name"]);
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            p.push(format!("embeds.{i}.fields: Must be 25 or fewer in length."));
        }
        for (j, f) in fields.iter().enumerate() {
            for (k, n) in [("name", 256), ("value", 1024)] {
                let l = dlen(&f[k]);
                if l == 0 {
                    p.push(format!("embeds.{i}.fields.{j}.{k}: This field is required"));
                } else if l > n {
                    p.push(format!(
                        "embeds.{i}.fields.{j}.{k}: Must be {n} or fewer in length."
                    ));
                }
            }
            total += dlen(&f["name"]) + dlen(&f["value"]);
        }
        if let Some(c) = e.get("color") {
            if !c.as_u64().is_some_and(|c| c <= 0xFFFFFF) {
                p.push(format!(
                    "embeds.{i}.color: Value must be an integer in 0..=16777215."
                ));
            }
        }
        if let Some(t) = e.get("timestamp") {
            if !t
                .as_str()
                .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
            {
                p.push(format!(
                    "embeds.{i}.timestamp: Could not parse {t}. Should be ISO8601."
                ));
            }
        }
    }
    if total > 6000 {
        p.push(format!(
            "embeds: Embed size exceeds maximum size of 6000 ({total})"
        ));
    }
    if dlen(&json["content"]) == 0 && embeds.is_empty() {
        p.push("content: Cannot send an empty message".into());
    }
    if json["allowed_mentions"]["parse"] != json!([]) {
        p.push(
            "allowed_mentions.parse: must be [] (owui-bridge never lets log text mention anyone)"
                .into(),
        );
    }
    p
}

/// Markdown escapes removed: `\*` shows as `*`; zero-width spaces are invisible.
pub fn discord_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                out.push(chars.next().unwrap_or('\\'))
            }
            '\u{200B}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// The embed roughly as Discord shows it.
pub fn discord_view(json: &Value) -> String {
    let mut out = String::new();
    for e in json["embeds"].as_array().into_iter().flatten() {
        let bar = format!("▌ (colour #{:06X}) ", e["color"].as_u64().unwrap_or(0));
        out.push_str(&format!(
            "{bar}\n▌ {}\n",
            discord_unescape(e["title"].as_str().unwrap_or(""))
        ));
        for line in discord_unescape(e["description"].as_str().unwrap_or("")).lines() {
            out.push_str(&format!("▌ {line}\n"));
        }
        let mut row = Vec::new();
        let flush = |row: &mut Vec<String>, out: &mut String| {
            if !row.is_empty() {
                out.push_str(&format!("▌ {}\n", row.join("   |   ")));
                row.clear();
            }
        };
        for f in e["fields"].as_array().into_iter().flatten() {
            let cell = format!(
                "[{}] {}",
                discord_unescape(f["name"].as_str().unwrap_or("")),
                discord_unescape(f["value"].as_str().unwrap_or(""))
            );
            if f["inline"] == json!(true) {
                row.push(cell);
                if row.len() == 3 {
                    flush(&mut row, &mut out);
                }
            } else {
                flush(&mut row, &mut out);
                out.push_str(&format!("▌ {cell}\n"));
            }
        }
        flush(&mut row, &mut out);
        out.push_str(&format!(
            "▌ {} • {}\n",
            e["footer"]["text"].as_str().unwrap_or(""),
            e["timestamp"].as_str().unwrap_or("")
        ));
    }
    out
}

pub fn slen(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Block Kit checks for a message.
pub fn slack_problems(json: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let blocks = json["blocks"].as_array().cloned().unwrap_or_default();
    if slen(&json["text"]) == 0 && blocks.is_empty() {
        p.push("no_text".into());
    }
    if blocks.len() > 50 {
        p.push(format!("{} blocks (at most 50)", blocks.len()));
    }
    let text_ok = |t: &Value, max: usize, what: &str, p: &mut Vec<String>| {
        let kind = t["type"].as_str().unwrap_or("");
        if kind != "plain_text" && kind != "mrkdwn" {
            p.push(format!("{what}: text type {kind:?}"));
        }
        let n = slen(&t["text"]);
        if n == 0 || n > max {
            p.push(format!("{what}: text length {n} (1..={max})"));
        }
    };
    for (i, b) in blocks.iter().enumerate() {
        match b["type"].as_str().unwrap_or("") {
            "header" => {
                if b["text"]["type"] != "plain_text" {
                    p.push(format!("blocks[{i}]: header text must be plain_text"));
                }
                text_ok(&b["text"], 150, &format!("blocks[{i}] header"), &mut p);
            }
            "section" => {
                let fields = b["fields"].as_array().cloned().unwrap_or_default();
                if b.get("text").is_none() && fields.is_empty() {
                    p.push(format!("blocks[{i}]: section needs text or fields"));
                }
                if b.get("text").is_some() {
                    text_ok(&b["text"], 3000, &format!("blocks[{i}] section"), &mut p);
                }
                if fields.len() > 10 {
                    p.push(format!("blocks[{i}]: {} fields (at most 10)", fields.len()));
                }
                for (j, f) in fields.iter().enumerate() {
                    text_ok(f, 2000, &format!("blocks[{i}].fields[{j}]"), &mut p);
                }
            }
            "context" => {
                let el = b["elements"].as_array().cloned().unwrap_or_default();
                if el.is_empty() || el.len() > 10 {
                    p.push(format!(
                        "blocks[{i}]: {} context elements (1..=10)",
                        el.len()
                    ));
                }
                for (j, e) in el.iter().enumerate() {
                    text_ok(e, 3000, &format!("blocks[{i}].elements[{j}]"), &mut p);
                }
            }
            "divider" => {}
            other => p.push(format!("blocks[{i}]: unknown block type {other:?}")),
        }
    }
    p
}

/// Slack's escapes decoded and `<!date^…|fallback>` shown as its fallback.
pub fn slack_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("<!date^") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find('>').unwrap_or(after.len() - 1);
        let fallback = after[..end].rsplit('|').next().unwrap_or("");
        out.push_str(&format!("[{fallback}, local time]"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace('\u{200B}', "")
}

/// The message roughly as Slack shows it.
pub fn slack_view(json: &Value) -> String {
    let mut out = format!(
        "(notification: {})\n",
        slack_unescape(json["text"].as_str().unwrap_or(""))
    );
    for b in json["blocks"].as_array().into_iter().flatten() {
        let t = |v: &Value| slack_unescape(v.as_str().unwrap_or(""));
        match b["type"].as_str().unwrap_or("") {
            "header" => out.push_str(&format!("## {}\n", t(&b["text"]["text"]))),
            "section" => {
                if b.get("text").is_some() {
                    out.push_str(&format!("{}\n", t(&b["text"]["text"])));
                }
                let cells: Vec<String> = b["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| t(&f["text"]).replacen('\n', " ", 1))
                    .collect();
                for pair in cells.chunks(2) {
                    out.push_str(&format!("{}\n", pair.join("        ")));
                }
            }
            "context" => {
                for e in b["elements"].as_array().into_iter().flatten() {
                    out.push_str(&format!("(small grey) {}\n", t(&e["text"])));
                }
            }
            _ => {}
        }
    }
    out
}

/// The text left after Telegram's HTML parsing, or the parse error. Only the
/// tags Telegram supports, properly nested and closed; only `&lt;`, `&gt;`,
/// `&amp;`, `&quot;` and numeric entities; `<` and `>` never bare.
pub fn telegram_parse_html(html: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let mut out = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < html.len() {
        match bytes[i] {
            b'<' => {
                let end = html[i..]
                    .find('>')
                    .ok_or_else(|| format!("Unclosed start tag at byte offset {i}"))?;
                let inner = &html[i + 1..i + end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(open) if open == name => {}
                        _ => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                                stack.last().map_or("", String::as_str)
                            ))
                        }
                    }
                } else {
                    let name = inner
                        .split(|c: char| c.is_whitespace())
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    if name == "span" && !inner.contains("class=\"tg-spoiler\"") {
                        return Err(format!(
                            "Tag \"span\" must have class \"tg-spoiler\" at byte offset {i}"
                        ));
                    }
                    stack.push(name);
                }
                i += end + 1;
            }
            b'>' => return Err(format!("Unexpected \">\" at byte offset {i}")),
            b'&' => {
                let end = html[i..]
                    .find(';')
                    .filter(|e| *e <= 10)
                    .ok_or_else(|| format!("Unescaped \"&\" at byte offset {i}"))?;
                let name = &html[i + 1..i + end];
                let c = match name {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("Bad entity at byte offset {i}"))?,
                    n if n.starts_with('#') => n[1..]
                        .parse::<u32>()
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("Bad entity at byte offset {i}"))?,
                    n => {
                        return Err(format!(
                            "Unsupported HTML entity \"&{n};\" at byte offset {i}"
                        ))
                    }
                };
                out.push(c);
                i += end + 1;
            }
            _ => {
                let c = html[i..].chars().next().expect("char");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(out)
}

/// Telegram's length unit for the 4096 limit, read conservatively: UTF-16.
pub fn telegram_len(visible: &str) -> usize {
    visible.chars().map(char::len_utf16).sum()
}

/// The message as a Telegram reader sees it (formatting dropped).
pub fn telegram_view(json: &Value) -> String {
    let text = json["text"].as_str().unwrap_or("");
    telegram_parse_html(text).unwrap_or_else(|e| format!("(Telegram would refuse it: {e})"))
}
