//! `serverless.yml` read into JSON values with the line of every node, so an
//! error found long after parsing (an unknown event, a bad cron expression
//! the server refused) can still name the line it came from.
//!
//! serde-saphyr's `Spanned` gives a node's location; a recursive `Tree` whose
//! children are `Spanned` keeps one for every node (anchors, aliases and `<<`
//! merges resolved by serde-saphyr).

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// A parsed document: its values, and the line where each node starts, keyed
/// by its path (`functions.hello.events.0.schedule`).
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// The document as JSON.
    pub root: Value,
    lines: HashMap<String, u32>,
}

/// A YAML document that could not be read; `line` is 1-based, 0 if unknown.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// Where the problem is.
    pub line: u32,
    /// What it is.
    pub message: String,
}

impl Document {
    /// Parses one YAML document.
    pub fn parse(text: &str) -> Result<Document, YamlError> {
        let spanned: Spanned<Tree> = serde_saphyr::from_str(text).map_err(|error| YamlError {
            line: error.location().map(|l| l.line() as u32).unwrap_or(0),
            message: first_line(&error.to_string()),
        })?;
        let mut document = Document::default();
        let line = spanned.referenced.line() as u32;
        document.root = document.convert(String::new(), spanned.value, line);
        Ok(document)
    }

    /// The line of the node at `path`, or of its nearest ancestor that has one.
    pub fn line(&self, path: &str) -> u32 {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return *line;
            }
            match path.rfind('.') {
                Some(dot) => path = &path[..dot],
                None => return self.lines.get("").copied().unwrap_or(0),
            }
        }
    }

    fn convert(&mut self, path: String, tree: Tree, line: u32) -> Value {
        let value = match tree {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(b),
            Tree::Int(i) => Value::from(i),
            Tree::Float(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Tree::Str(s) => Value::String(s),
            Tree::Seq(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let line = item.referenced.line() as u32;
                        self.convert(join(&path, &i.to_string()), item.value, line)
                    })
                    .collect(),
            ),
            Tree::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (key, item) in entries {
                    let line = item.referenced.line() as u32;
                    let value = self.convert(join(&path, &key), item.value, line);
                    map.insert(key, value);
                }
                Value::Object(map)
            }
        };
        // The line where the value starts: a scalar's own line (its key's),
        // a block mapping's or sequence's first entry.
        self.lines.entry(path).or_insert(line);
        value
    }
}

/// `parent.child`, or `child` at the root.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// The parser's message without its own `error: line L column C:` lead.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((_, message)) => message.to_string(),
        None => line.to_string(),
    }
}

/// One node, its children spanned.
#[derive(Debug)]
enum Tree {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Tree>>),
    Map(Vec<(String, Spanned<Tree>)>),
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tree, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
        Ok(i64::try_from(v).map_or(Tree::Float(v as f64), Tree::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Tree, E> {
        Ok(Tree::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries: Vec<(String, Spanned<Tree>)> = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Spanned<Tree>>()?;
            match entries.iter_mut().find(|(k, _)| *k == key.0) {
                Some(entry) => entry.1 = value,
                None => entries.push((key.0, value)),
            }
        }
        Ok(Tree::Map(entries))
    }
}

/// A mapping key: any scalar, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_string()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_nested_nodes() {
        let text = "service: demo\nprovider:\n  name: aws\nfunctions:\n  hello:\n    handler: h.hello\n    events:\n      - httpApi: 'GET /'\n      - schedule:\n          rate: rate(1 minute)\n";
        let document = Document::parse(text).expect("valid YAML");
        assert_eq!(document.root["functions"]["hello"]["handler"], "h.hello");
        assert_eq!(document.line("service"), 1);
        assert_eq!(document.line("functions.hello.handler"), 6);
        assert_eq!(document.line("functions.hello.events.0"), 8);
        assert_eq!(document.line("functions.hello.events.1.schedule.rate"), 10);
        assert_eq!(
            document.line("functions.hello.events.1.schedule.nothing"),
            10
        );
    }

    #[test]
    fn anchors_and_merges() {
        let text =
            "base: &base\n  memorySize: 256\nfunctions:\n  a:\n    <<: *base\n    handler: a.h\n";
        let document = Document::parse(text).expect("valid YAML");
        assert_eq!(document.root["functions"]["a"]["memorySize"], 256);
        assert_eq!(document.root["functions"]["a"]["handler"], "a.h");
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let error = Document::parse("service: demo\nfunctions:\n  a: [1, 2\n").unwrap_err();
        assert!(error.line >= 3, "{error:?}");
        let error = Document::parse("service: demo\n  bad: indent\n").unwrap_err();
        assert_eq!(error.line, 2, "{error:?}");
    }
}
