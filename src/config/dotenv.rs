//! Reading a `.env` file as docker compose reads it (compose-go's `dotenv`),
//! so a file that works with `env_file: .env` works with the bridge run by
//! hand too, and one that does not is explained by line and variable.
//!
//! Accepted, as compose accepts it: a UTF-8 byte-order mark; blank lines and
//! `#` comments; `export KEY=value`; spaces around the key and the `=` (or a
//! `:`); unquoted values with spaces inside (`WEBHOOK_EVENTS=a, b`), ending at
//! the end of the line or at a ` #` comment, trailing spaces dropped;
//! `'single quoted'` values taken literally (`\'` is a quote) and `"double
//! quoted"` ones with `\n \t \r \" \\ \$` escapes, both possibly over several
//! lines; `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?why}`,
//! `${VAR?why}`, `${VAR:+other}`, `${VAR+other}` and `$$` in unquoted and
//! double-quoted values (from the environment first, then from earlier lines);
//! a key alone on its line (taken from the environment, if set); CRLF line
//! ends; the last of repeated keys wins.

/// A `.env` line that cannot be read, with where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEnvError {
    /// 1-based.
    pub line: usize,
    /// The variable, when the line got that far.
    pub var: Option<String>,
    pub reason: String,
}

/// The variables of a `.env` text, in file order (a key may repeat: the
/// caller keeps the last). `lookup` reads the environment, which wins in
/// `${…}` as compose's does.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, DotEnvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        chars: &chars,
        at: 0,
        line: 1,
    };
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        p.skip_blank_and_comments();
        if p.done() {
            return Ok(out);
        }
        let line = p.line;
        let key = p.key()?;
        match p.peek() {
            // A key alone: inherited from the environment, else nothing.
            None | Some('\n') => {
                if let Some(v) = lookup(&key) {
                    out.push((key, v));
                }
                continue;
            }
            Some('=' | ':') => p.at += 1,
            Some(c) => {
                return Err(DotEnvError {
                    line,
                    var: None,
                    reason: format!("'{c}' cannot be part of a variable name ('{key}{c}…'); names use letters, digits, '_', '.' and '-', then '=' and the value"),
                })
            }
        }
        let known = |name: &str| {
            lookup(name).or_else(|| {
                out.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        let value = p.value(&key, line, &known)?;
        out.push((key, value));
    }
}

struct Parser<'a> {
    chars: &'a [char],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.at += 1;
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn skip_blank_and_comments(&mut self) {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some('\n') => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                _ => return,
            }
        }
    }

    /// The key, after an optional `export `, up to `=`, `:` or the line end.
    fn key(&mut self) -> Result<String, DotEnvError> {
        let line = self.line;
        let start = self.at;
        let word = |p: &Self, from: usize| -> String {
            p.chars[from..]
                .iter()
                .take_while(|c| is_key_char(**c))
                .collect()
        };
        let mut key = word(self, start);
        self.at += key.chars().count();
        if key == "export" && matches!(self.peek(), Some(' ' | '\t')) {
            self.skip_spaces();
            key = word(self, self.at);
            self.at += key.chars().count();
        }
        self.skip_spaces();
        if key.is_empty() {
            let c = self.peek().unwrap_or(' ');
            return Err(DotEnvError {
                line,
                var: None,
                reason: format!("a line must start with a variable name, not '{c}'; write NAME=value (comments start with #)"),
            });
        }
        if matches!(self.peek(), Some(c) if is_key_char(c)) {
            let rest: String = self.chars[self.at..]
                .iter()
                .take_while(|c| **c != '\n')
                .collect();
            return Err(DotEnvError {
                line,
                var: Some(key.clone()),
                reason: format!("a variable name cannot contain a space ('{key} {}'); remove the space, or put '=' between the name and the value", rest.trim()),
            });
        }
        Ok(key)
    }

    fn value(
        &mut self,
        key: &str,
        line: usize,
        known: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, DotEnvError> {
        self.skip_spaces_only();
        let err = |reason: String| DotEnvError {
            line,
            var: Some(key.to_string()),
            reason,
        };
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.bump();
                let mut raw = String::new();
                loop {
                    match self.bump() {
                        None => return Err(err(format!(
                            "the value opens a {} quote that is never closed; add the closing {q} (a value may span lines only inside quotes)",
                            if q == '"' { "double" } else { "single" }
                        ))),
                        Some('\\') if matches!(self.peek(), Some(c) if c == q || (q == '"' && c == '\\')) => {
                            // `\'` in single quotes; `\"` and `\\` kept for unescaping.
                            if q == '\'' {
                                raw.push(self.bump().unwrap_or(q));
                            } else {
                                raw.push('\\');
                                raw.push(self.bump().unwrap_or(q));
                            }
                        }
                        Some(c) if c == q => break,
                        Some(c) => raw.push(c),
                    }
                }
                // What follows the closing quote on its line is a comment.
                self.skip_line();
                if q == '\'' {
                    Ok(raw)
                } else {
                    let unescaped = unescape(&raw);
                    expand(&unescaped, known).map_err(err)
                }
            }
            _ => {
                let mut raw = String::new();
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    raw.push(c);
                    self.at += 1;
                }
                self.bump(); // the line end
                let raw = match raw.find(" #").or_else(|| raw.find("\t#")) {
                    Some(i) => &raw[..i],
                    None => raw.as_str(),
                };
                let raw = raw.trim_end_matches([' ', '\t', '\r']);
                expand(raw, known).map_err(err)
            }
        }
    }

    fn skip_spaces_only(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.at += 1;
        }
    }
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

/// Double-quote escapes: `\n \t \r \" \\`; `\$` stays `$$` (a literal `$`
/// for [`expand`]); anything else is kept as written.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `$VAR`, `${VAR}`, `${VAR<op>word}` and `$$`, as compose expands them.
fn expand(s: &str, known: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let close = chars[i + 2..]
                    .iter()
                    .position(|c| *c == '}')
                    .ok_or_else(|| format!("'${{' is not closed in '{s}'; write ${{NAME}}, or $$ for a dollar sign"))?;
                let inner: String = chars[i + 2..i + 2 + close].iter().collect();
                out.push_str(&braced(&inner, known)?);
                i += close + 3;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let name: String = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                i += 1 + name.len();
                out.push_str(&known(&name).unwrap_or_default());
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The inside of `${…}`.
fn braced(inner: &str, known: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() {
        return Err(format!("'${{{inner}}}' names no variable"));
    }
    let value = known(name);
    let set_non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let op = |o: &str| rest.strip_prefix(o);
    Ok(if rest.is_empty() {
        value.unwrap_or_default()
    } else if let Some(word) = op(":-") {
        if set_non_empty {
            value.unwrap_or_default()
        } else {
            word.to_string()
        }
    } else if let Some(word) = op("-") {
        value.unwrap_or_else(|| word.to_string())
    } else if let Some(why) = op(":?") {
        if !set_non_empty {
            return Err(format!("{name} is required: {why}"));
        }
        value.unwrap_or_default()
    } else if let Some(why) = op("?") {
        value.ok_or_else(|| format!("{name} is required: {why}"))?
    } else if let Some(word) = op(":+") {
        if set_non_empty {
            word.to_string()
        } else {
            String::new()
        }
    } else if let Some(word) = op("+") {
        if value.is_some() {
            word.to_string()
        } else {
            String::new()
        }
    } else {
        return Err(format!(
            "'${{{inner}}}' is not a substitution compose knows (${{NAME}}, ${{NAME:-default}}, …)"
        ));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<(String, String)>, DotEnvError> {
        parse(text, &|name| {
            (name == "HOME_IP").then(|| "192.0.2.7".to_string())
        })
    }

    fn value(text: &str, key: &str) -> String {
        read(text)
            .unwrap()
            .into_iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("{key} not in {text:?}"))
    }

    #[test]
    fn what_compose_accepts() {
        // A BOM, CRLF, comments, export, spaces around = and in the value.
        let text = "\u{feff}# settings\r\nexport ENABLE_WEBHOOKS=true\r\n\r\n  WEBHOOK_EVENTS = user.created, file.uploaded  # the seed's\r\nNAME=hello world\nCOLON: yes\n";
        let vars = read(text).unwrap();
        assert_eq!(
            vars,
            [
                ("ENABLE_WEBHOOKS".into(), "true".into()),
                (
                    "WEBHOOK_EVENTS".into(),
                    "user.created, file.uploaded".into()
                ),
                ("NAME".into(), "hello world".into()),
                ("COLON".into(), "yes".into()),
            ]
        );
        assert_eq!(value("A=123#not-a-comment\n", "A"), "123#not-a-comment");
        assert_eq!(value("A=\n", "A"), "");
        assert_eq!(value("A=1\nA=2\n", "A"), "2");
    }

    #[test]
    fn quotes_escapes_and_substitutions() {
        assert_eq!(value("A='it''s'\n", "A"), "it");
        assert_eq!(value("A='Let\\'s go!'\n", "A"), "Let's go!");
        assert_eq!(value("A='$HOME_IP \\n' # c\n", "A"), "$HOME_IP \\n");
        assert_eq!(value("A=\"a\\tb \\\"q\\\" \\$x\"\n", "A"), "a\tb \"q\" $x");
        assert_eq!(value("A=\"two\nlines\"\nB=1\n", "A"), "two\nlines");
        assert_eq!(
            value("A=http://$HOME_IP:9000/hook\n", "A"),
            "http://192.0.2.7:9000/hook"
        );
        assert_eq!(value("P=8080\nA=${HOME_IP}:${P}\n", "A"), "192.0.2.7:8080");
        assert_eq!(value("A=${MISSING:-fallback}\n", "A"), "fallback");
        assert_eq!(value("A=${HOME_IP:+set}\n", "A"), "set");
        assert_eq!(value("A=cost $$5\n", "A"), "cost $5");
        // A key alone is inherited from the environment, else left out.
        assert_eq!(value("HOME_IP\n", "HOME_IP"), "192.0.2.7");
        assert!(read("NOPE\n").unwrap().is_empty());
    }

    #[test]
    fn what_it_refuses_says_where_and_how() {
        let e = read("A=1\nB=\"never closed\nC=3\n").unwrap_err();
        assert_eq!((e.line, e.var.as_deref()), (2, Some("B")));
        assert!(e.reason.contains("never closed"), "{}", e.reason);
        let e = read("WEBHOOK URL=http://x\n").unwrap_err();
        assert_eq!((e.line, e.var.as_deref()), (1, Some("WEBHOOK")));
        assert!(e.reason.contains("cannot contain a space"), "{}", e.reason);
        let e = read("=value\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = read("A=${B:?set B first}\n").unwrap_err();
        assert!(
            e.reason.contains("B is required: set B first"),
            "{}",
            e.reason
        );
        let e = read("A=x\n%B=1\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
