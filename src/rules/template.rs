//! `{name}` templates for `[rule.data]` values and `[rule.message].text`.
//! Names are checked when the rule is compiled, so a typo is a load error,
//! not an empty field at 3 a.m. `{{` and `}}` are literal braces.
//! `{name|url_decode}` renders a field percent-decoded (Open WebUI logs model
//! ids as they appear in the URL: `my%20model`).

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String, Filter),
}

/// A transformation applied to a field's value when it is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    None,
    /// `%20` → space, `+` kept; invalid UTF-8 is replaced, never an error.
    UrlDecode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template is invalid, with the byte offset inside the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl Template {
    pub fn parse(text: &str, known: &[&str]) -> Result<Template, TemplateError> {
        Template::parse_with(text, Some(known))
    }

    /// `known: None` accepts any field name (it may only exist at run time).
    pub fn parse_with(text: &str, known: Option<&[&str]>) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < text.len() {
            let c = bytes[i];
            if c == b'{' && bytes.get(i + 1) == Some(&b'{') {
                lit.push('{');
                i += 2;
            } else if c == b'}' && bytes.get(i + 1) == Some(&b'}') {
                lit.push('}');
                i += 2;
            } else if c == b'{' {
                let Some(close) = text[i..].find('}') else {
                    return Err(TemplateError {
                        offset: i,
                        message: "'{' is not closed; write {name} for a field or {{ for a brace"
                            .into(),
                    });
                };
                let inner = &text[i + 1..i + close];
                let (name, filter) = match inner.split_once('|') {
                    None => (inner.trim(), Filter::None),
                    Some((name, f)) => match f.trim() {
                        "url_decode" => (name.trim(), Filter::UrlDecode),
                        other => {
                            return Err(TemplateError {
                                offset: i,
                                message: format!(
                                    "'{other}' is not a filter; the one filter is url_decode, as in {{{}|url_decode}}",
                                    name.trim()
                                ),
                            })
                        }
                    },
                };
                if name.is_empty() || known.is_some_and(|k| !k.contains(&name)) {
                    let known = known.unwrap_or(&[]);
                    let list = if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    };
                    return Err(TemplateError {
                        offset: i,
                        message: format!(
                            "{{{name}}} names no field of this rule; the fields are: {list}"
                        ),
                    });
                }
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Var(name.to_string(), filter));
                i += close + 1;
            } else if c == b'}' {
                return Err(TemplateError {
                    offset: i,
                    message: "'}' without '{'; write }} for a literal brace".into(),
                });
            } else {
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                lit.push(ch);
                i += ch.len_utf8();
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// A `[rule.data]` value: rendered, or `None` when the template is
    /// fields and nothing else (`"{model_id|url_decode}"`, `"{a}{b}"`) and
    /// none of them has a value, so the field is left out rather than empty.
    pub fn render_value<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        let fields_only =
            !self.parts.is_empty() && self.parts.iter().all(|p| matches!(p, Part::Var(..)));
        let any_value = self
            .parts
            .iter()
            .any(|p| matches!(p, Part::Var(v, _) if lookup(v).is_some()));
        if fields_only && !any_value {
            return None;
        }
        Some(self.render(lookup))
    }

    /// Renders with `lookup`; a field without a value renders as nothing.
    pub fn render<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v, Filter::None) => out.push_str(lookup(v).unwrap_or("")),
                Part::Var(v, Filter::UrlDecode) => out.extend(
                    percent_encoding::percent_decode_str(lookup(v).unwrap_or(""))
                        .decode_utf8_lossy()
                        .chars(),
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_checks_names() {
        let t = Template::parse("File uploaded from {client} {{ok}}", &["client"]).unwrap();
        assert_eq!(
            t.render(|k| (k == "client").then_some("1.2.3.4")),
            "File uploaded from 1.2.3.4 {ok}"
        );
        let e = Template::parse("from {clinet}", &["client", "status"]).unwrap_err();
        assert_eq!(e.offset, 5);
        assert_eq!(
            e.message,
            "{clinet} names no field of this rule; the fields are: client, status"
        );
        assert!(Template::parse("oops {", &[]).is_err());
        assert!(Template::parse("émoji 📎 {a}", &["a"]).is_ok());
    }

    #[test]
    fn url_decode_filter() {
        let t = Template::parse("model {m|url_decode} ({m})", &["m"]).unwrap();
        assert_eq!(
            t.render(|_| Some("my%20model%2Fv2%FF")),
            "model my model/v2\u{fffd} (my%20model%2Fv2%FF)"
        );
        let e = Template::parse("{m|upper}", &["m"]).unwrap_err();
        assert!(
            e.message.contains("'upper' is not a filter"),
            "{}",
            e.message
        );
        assert!(
            Template::parse("{x|url_decode}", &["m"]).is_err(),
            "names still checked"
        );
    }
}
