//! The Framework's variables: `${sls:stage}`, `${opt:stage, 'dev'}`,
//! `${opt:region}`, `${self:path.to.value}`, `${env:NAME}`, with fallbacks
//! after a comma (another variable or a quoted or numeric literal), nested
//! (`${opt:stage, ${self:provider.stage}}`), and strings that are nothing but
//! one variable taking the referenced value's own type.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::yaml::join;

/// What variables resolve against, besides the document itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--stage`.
    pub stage: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// The environment for `${env:…}`.
    pub env: BTreeMap<String, String>,
}

/// A variable that could not be resolved, at the path of the value holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableError {
    /// Path of the value (`provider.environment.TABLE`).
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// Resolves every variable in `root`, in place. `stage` is the stage the
/// service deploys to (`sls:stage`).
pub fn resolve(root: &mut Value, options: &Options) -> Result<(), VariableError> {
    let original = root.clone();
    let mut resolver = Resolver {
        original: &original,
        options,
        stage: None,
    };
    // The stage first, since `${sls:stage}` may appear anywhere.
    let stage = match &options.stage {
        Some(stage) => stage.clone(),
        None => match original.pointer("/provider/stage") {
            Some(value) => match resolver.value(value.clone(), "provider.stage", 0)? {
                Value::String(s) => s,
                Value::Null => "dev".to_string(),
                other => other.to_string(),
            },
            None => "dev".to_string(),
        },
    };
    resolver.stage = Some(stage);
    let resolved = resolver.value(original.clone(), "", 0)?;
    *root = resolved;
    Ok(())
}

struct Resolver<'a> {
    original: &'a Value,
    options: &'a Options,
    stage: Option<String>,
}

const MAX_DEPTH: usize = 16;

impl Resolver<'_> {
    fn value(&self, value: Value, path: &str, depth: usize) -> Result<Value, VariableError> {
        if depth > MAX_DEPTH {
            return Err(self.error(path, "variables refer to each other in a cycle".into()));
        }
        Ok(match value {
            Value::String(s) if s.contains("${") => self.string(&s, path, depth)?,
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| self.value(item, &join(path, &i.to_string()), depth))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let child = join(path, &k);
                        self.value(v, &child, depth).map(|v| (k, v))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => other,
        })
    }

    /// Resolves the innermost `${…}` first, until none is left.
    fn string(&self, text: &str, path: &str, depth: usize) -> Result<Value, VariableError> {
        let mut text = text.to_string();
        loop {
            let Some(start) = innermost_start(&text) else {
                return Ok(Value::String(text));
            };
            let Some(len) = text[start..].find('}') else {
                return Err(self.error(path, format!("unterminated variable in {text:?}")));
            };
            let end = start + len;
            let expression = text[start + 2..end].trim().to_string();
            let Some(resolved) = self.expression(&expression, path, depth)? else {
                // Not one of the Framework's sources (CloudFormation's own
                // `${AWS::Region}` in a Fn::Sub): left as written.
                return Ok(Value::String(text));
            };
            if start == 0 && end + 1 == text.len() {
                if let Value::String(s) = &resolved
                    && s.contains("${")
                {
                    text = s.clone();
                    continue;
                }
                return Ok(resolved);
            }
            let before = &text[..start];
            let inside_another = before.matches("${").count() > before.matches('}').count();
            let replacement = match resolved {
                // A fallback of an enclosing variable: a literal there.
                Value::String(s) if inside_another => format!("'{s}'"),
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            text.replace_range(start..=end, &replacement);
        }
    }

    /// One expression: `source:address` with fallbacks after commas. `None`
    /// when it is not a variable of the Framework's.
    fn expression(
        &self,
        expression: &str,
        path: &str,
        depth: usize,
    ) -> Result<Option<Value>, VariableError> {
        let alternatives = split_top_level(expression);
        let first = alternatives[0].trim();
        if !is_known_source(first) && alternatives.len() == 1 && !is_literal(first) {
            if first.contains("::") || !first.contains(':') {
                return Ok(None);
            }
            let source = first.split(':').next().unwrap_or_default();
            return Err(self.error(
                path,
                format!(
                    "variable source '{source}' in ${{{expression}}} is not supported (rayo resolves sls, opt, self and env)"
                ),
            ));
        }
        for alternative in &alternatives {
            if let Some(value) = self.alternative(alternative.trim(), path, depth)? {
                return Ok(Some(value));
            }
        }
        Err(self.error(
            path,
            format!("cannot resolve variable ${{{expression}}}: no value and no fallback"),
        ))
    }

    fn alternative(
        &self,
        alternative: &str,
        path: &str,
        depth: usize,
    ) -> Result<Option<Value>, VariableError> {
        if let Some(literal) = alternative
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .or_else(|| {
                alternative
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
            })
        {
            return Ok(Some(Value::String(literal.to_string())));
        }
        if let Ok(number) = alternative.parse::<i64>() {
            return Ok(Some(Value::from(number)));
        }
        if alternative == "true" || alternative == "false" {
            return Ok(Some(Value::Bool(alternative == "true")));
        }
        let Some((source, address)) = alternative.split_once(':') else {
            return Err(self.error(path, format!("cannot read variable ${{{alternative}}}")));
        };
        let address = address.trim();
        Ok(match source.trim() {
            "sls" => match address {
                "stage" => self.stage.clone().map(Value::String),
                "instanceId" => Some(Value::String("rayo".to_string())),
                _ => {
                    return Err(self.error(path, format!("unknown variable ${{sls:{address}}}")));
                }
            },
            "opt" => match address {
                "stage" => self.options.stage.clone().map(Value::String),
                "region" => self.options.region.clone().map(Value::String),
                _ => None,
            },
            "env" => self.options.env.get(address).cloned().map(Value::String),
            "self" => {
                let pointer = format!("/{}", address.replace('.', "/"));
                match self.original.pointer(&pointer) {
                    Some(value) => Some(self.value(value.clone(), address, depth + 1)?),
                    None => None,
                }
            }
            other => {
                return Err(self.error(
                    path,
                    format!(
                        "variable source '{other}' is not supported (rayo resolves sls, opt, self and env)"
                    ),
                ));
            }
        })
    }

    fn error(&self, path: &str, message: String) -> VariableError {
        VariableError {
            path: path.to_string(),
            message,
        }
    }
}

fn is_known_source(text: &str) -> bool {
    ["sls:", "opt:", "self:", "env:"]
        .iter()
        .any(|prefix| text.starts_with(prefix))
}

fn is_literal(text: &str) -> bool {
    text.starts_with('\'') || text.starts_with('"') || text.parse::<i64>().is_ok()
}

/// Where the last `${` that has no other `${` after it starts.
fn innermost_start(text: &str) -> Option<usize> {
    text.rfind("${")
}

/// Splits on commas outside quotes.
fn split_top_level(expression: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    for c in expression.chars() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (',', None) => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("never empty").push(c);
    }
    parts
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(document: Value, options: Options, expected: Value) {
        let mut document = document;
        resolve(&mut document, &options).expect("resolves");
        assert_eq!(document, expected);
    }

    fn opts(stage: Option<&str>) -> Options {
        Options {
            stage: stage.map(str::to_string),
            region: None,
            env: BTreeMap::from([("HOME_DIR".to_string(), "/home/x".to_string())]),
        }
    }

    #[test]
    fn sources_and_fallbacks() {
        check(
            json!({"provider": {"stage": "${opt:stage, 'dev'}", "region": "${opt:region, 'us-east-1'}"},
                   "custom": {"name": "${self:service}-${sls:stage}", "mem": 256},
                   "service": "demo",
                   "memory": "${self:custom.mem}",
                   "home": "${env:HOME_DIR}", "missing": "${env:NOPE, 'x'}",
                   "nested": "${opt:stage, ${self:provider.stage}}",
                   "cfn": "${AWS::Region}"}),
            opts(None),
            json!({"provider": {"stage": "dev", "region": "us-east-1"},
                   "custom": {"name": "demo-dev", "mem": 256},
                   "service": "demo", "memory": 256,
                   "home": "/home/x", "missing": "x", "nested": "dev",
                   "cfn": "${AWS::Region}"}),
        );
        check(
            json!({"provider": {"stage": "prod"}, "name": "${sls:stage}", "o": "${opt:stage, 'dev'}"}),
            opts(Some("demo")),
            json!({"provider": {"stage": "prod"}, "name": "demo", "o": "demo"}),
        );
        check(
            json!({"provider": {"stage": "prod"}, "name": "${sls:stage}"}),
            opts(None),
            json!({"provider": {"stage": "prod"}, "name": "prod"}),
        );
    }

    #[test]
    fn errors_name_the_value() {
        let mut document = json!({"provider": {"environment": {"A": "${env:NOT_SET_ANYWHERE}"}}});
        let error = resolve(&mut document, &opts(None)).unwrap_err();
        assert_eq!(error.path, "provider.environment.A");
        let mut document = json!({"a": "${ssm:/x/y}"});
        let error = resolve(&mut document, &opts(None)).unwrap_err();
        assert!(error.message.contains("'ssm'"), "{error:?}");
        let mut document = json!({"a": "${self:b}", "b": "${self:a}"});
        assert!(resolve(&mut document, &opts(None)).is_err());
    }
}
