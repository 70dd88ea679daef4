//! Route selection as HTTP APIs do it, on matchit tables built per API.
//!
//! API Gateway picks, for a request's method and path: a route without a
//! greedy variable that matches the whole path before any route with one
//! (`{proxy+}`); among those, the most specific (a literal segment before a
//! variable, earliest segment first); at equal specificity the route of the
//! request's method before `ANY`; and `$default` when nothing matches.
//!
//! matchit gives the most specific match within one table but refuses a
//! variable and a greedy variable at the same position, and two variables
//! with different names there. So variables are renamed by position
//! (`{s2}`), greedy routes and full routes live in separate tables per
//! method, and a route a table still refuses goes to another layer of that
//! table; every layer is asked and the best answer wins.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayo_core::http_trigger::RouteKey;

use crate::event::decode;

/// A compiled set of route keys.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    full: HashMap<String, Layers>,
    greedy: HashMap<String, Layers>,
    seen: HashSet<(String, String)>,
    default_route: Option<usize>,
}

/// The route a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The index of the route key in the list the table was built from.
    pub index: usize,
    /// Path variables, decoded.
    pub path_parameters: BTreeMap<String, String>,
}

impl RouteTable {
    /// Builds a table from route keys; the index of a key in `route_keys`
    /// is what [`RouteTable::find`] answers. Keys that do not parse, or
    /// that repeat another key's method and path shape (`GET /a/{x}` after
    /// `GET /a/{y}`), are left out and described in the second value.
    pub fn new<'a>(route_keys: impl IntoIterator<Item = &'a str>) -> (RouteTable, Vec<String>) {
        let mut table = RouteTable::default();
        let mut problems = Vec::new();
        for (index, key) in route_keys.into_iter().enumerate() {
            if let Err(problem) = table.insert(index, key) {
                problems.push(problem);
            }
        }
        (table, problems)
    }

    /// The route for a request, or `None` when none matches and there is
    /// no `$default` route. `raw_path` is percent-encoded, as received.
    pub fn find(&self, method: &str, raw_path: &str) -> Option<RouteMatch> {
        for tables in [&self.full, &self.greedy] {
            let exact = tables
                .get(method)
                .and_then(|l| l.best(raw_path, &self.routes));
            let any = tables
                .get("ANY")
                .and_then(|l| l.best(raw_path, &self.routes));
            let best = match (exact, any) {
                (Some(exact), Some(any)) => {
                    // At equal specificity the method's own route wins.
                    if self.routes[any.0].rank > self.routes[exact.0].rank {
                        Some(any)
                    } else {
                        Some(exact)
                    }
                }
                (exact, any) => exact.or(any),
            };
            if let Some((index, params)) = best {
                let route = &self.routes[index];
                let path_parameters = params
                    .into_iter()
                    .filter_map(|(position_name, value)| {
                        route
                            .names
                            .get(&position_name)
                            .map(|name| (name.clone(), decode(&value)))
                    })
                    .collect();
                return Some(RouteMatch {
                    index,
                    path_parameters,
                });
            }
        }
        self.default_route.map(|index| RouteMatch {
            index,
            path_parameters: BTreeMap::new(),
        })
    }

    fn insert(&mut self, index: usize, key: &str) -> Result<(), String> {
        let parsed = RouteKey::parse(key);
        let (method, path) = match parsed {
            Err(problem) => {
                self.routes.push(CompiledRoute::placeholder());
                return Err(problem);
            }
            Ok(RouteKey::Default) => {
                self.routes.push(CompiledRoute::placeholder());
                if self.default_route.is_some() {
                    return Err("$default is repeated".to_string());
                }
                self.default_route = Some(index);
                return Ok(());
            }
            Ok(RouteKey::Route { method, path }) => (method, path),
        };
        let compiled = CompiledRoute::new(&path);
        let is_greedy = compiled.is_greedy;
        let pattern = compiled.pattern.clone();
        self.routes.push(compiled);
        if !self.seen.insert((method.clone(), pattern.clone())) {
            return Err(format!(
                "route {key:?} overlaps another route of the same method with the same path shape"
            ));
        }
        let tables = if is_greedy {
            &mut self.greedy
        } else {
            &mut self.full
        };
        tables
            .entry(method)
            .or_default()
            .insert(&pattern, index)
            .map_err(|error| format!("route {key:?} cannot be routed: {error}"))
    }
}

/// matchit routers tried in turn; a route goes to the first that takes it.
#[derive(Debug, Default)]
struct Layers {
    layers: Vec<matchit::Router<usize>>,
}

impl Layers {
    fn insert(&mut self, pattern: &str, index: usize) -> Result<(), matchit::InsertError> {
        for layer in &mut self.layers {
            if layer.insert(pattern, index).is_ok() {
                return Ok(());
            }
        }
        let mut layer = matchit::Router::new();
        layer.insert(pattern, index)?;
        self.layers.push(layer);
        Ok(())
    }

    /// The most specific match across layers: (route index, raw params).
    fn best(
        &self,
        raw_path: &str,
        routes: &[CompiledRoute],
    ) -> Option<(usize, Vec<(String, String)>)> {
        let mut best: Option<(usize, Vec<(String, String)>)> = None;
        for layer in &self.layers {
            let Ok(found) = layer.at(raw_path) else {
                continue;
            };
            let index = *found.value;
            let better = best
                .as_ref()
                .is_none_or(|(current, _)| routes[index].rank > routes[*current].rank);
            if better {
                let params = found
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                best = Some((index, params));
            }
        }
        best
    }
}

#[derive(Debug)]
struct CompiledRoute {
    /// The path with variables renamed by position: `/items/{s1}`.
    pattern: String,
    /// Position name → the route's own variable name.
    names: HashMap<String, String>,
    /// Specificity per segment: 2 literal, 1 variable, 0 greedy; compared
    /// lexicographically, larger is more specific.
    rank: Vec<u8>,
    is_greedy: bool,
}

impl CompiledRoute {
    /// `path` has passed [`RouteKey::parse`].
    fn new(path: &str) -> CompiledRoute {
        let mut pattern = String::new();
        let mut names = HashMap::new();
        let mut rank = Vec::new();
        let mut is_greedy = false;
        for (position, segment) in path[1..].split('/').enumerate() {
            pattern.push('/');
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let position_name = format!("s{position}");
                    match name.strip_suffix('+') {
                        Some(name) => {
                            pattern.push_str(&format!("{{*{position_name}}}"));
                            names.insert(position_name, name.to_string());
                            rank.push(0);
                            is_greedy = true;
                        }
                        None => {
                            pattern.push_str(&format!("{{{position_name}}}"));
                            names.insert(position_name, name.to_string());
                            rank.push(1);
                        }
                    }
                }
                None => {
                    pattern.push_str(segment);
                    rank.push(2);
                }
            }
        }
        CompiledRoute {
            pattern,
            names,
            rank,
            is_greedy,
        }
    }

    fn placeholder() -> CompiledRoute {
        CompiledRoute {
            pattern: String::new(),
            names: HashMap::new(),
            rank: Vec::new(),
            is_greedy: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of AWS's "Working with routes for HTTP APIs", and more.
    const ROUTES: &[&str] = &[
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "GET /pets/{proxy+}",
        "ANY /{proxy+}",
        "$default",
        "GET /sum",
        "ANY /items/{id}",
        "DELETE /items/{itemId}",
        "POST /items/{id}/tags/{tag}",
        "GET /",
        "ANY /files/{path+}",
        "GET /{section}/about",
    ];

    fn check(method: &str, path: &str, expected: &str, params: &[(&str, &str)]) {
        let (table, problems) = RouteTable::new(ROUTES.iter().copied());
        assert!(problems.is_empty(), "{problems:?}");
        let found = table
            .find(method, path)
            .unwrap_or_else(|| panic!("no route for {method} {path}"));
        assert_eq!(ROUTES[found.index], expected, "{method} {path}");
        let params: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(found.path_parameters, params, "{method} {path}");
    }

    #[test]
    fn the_most_specific_route_wins() {
        check("GET", "/pets/dog/1", "GET /pets/dog/1", &[]);
        check("GET", "/pets/dog/2", "GET /pets/dog/{id}", &[("id", "2")]);
        check(
            "GET",
            "/pets/cat/1",
            "GET /pets/{proxy+}",
            &[("proxy", "cat/1")],
        );
        check(
            "POST",
            "/pets/dog/1",
            "ANY /{proxy+}",
            &[("proxy", "pets/dog/1")],
        );
        check("GET", "/sum", "GET /sum", &[]);
        check("POST", "/sum", "ANY /{proxy+}", &[("proxy", "sum")]);
        check("GET", "/items/42", "ANY /items/{id}", &[("id", "42")]);
        check(
            "DELETE",
            "/items/42",
            "DELETE /items/{itemId}",
            &[("itemId", "42")],
        );
        check(
            "POST",
            "/items/7/tags/red",
            "POST /items/{id}/tags/{tag}",
            &[("id", "7"), ("tag", "red")],
        );
        check("GET", "/", "GET /", &[]);
        check(
            "GET",
            "/files/a/b/c.txt",
            "ANY /files/{path+}",
            &[("path", "a/b/c.txt")],
        );
        check(
            "GET",
            "/home/about",
            "GET /{section}/about",
            &[("section", "home")],
        );
        check("GET", "/items/a%20b", "ANY /items/{id}", &[("id", "a b")]);
    }

    #[test]
    fn unmatched_requests_take_the_default_route() {
        check("POST", "/", "$default", &[]);
        check("HEAD", "/", "$default", &[]);
        let (table, _) = RouteTable::new(["GET /sum"]);
        assert_eq!(table.find("GET", "/other"), None);
        assert_eq!(table.find("POST", "/sum"), None);
        assert_eq!(table.find("GET", "/sum/"), None);
    }

    #[test]
    fn greedy_variables_need_a_segment() {
        let (table, _) = RouteTable::new(["ANY /{proxy+}"]);
        assert_eq!(table.find("GET", "/"), None);
        assert!(table.find("GET", "/x").is_some());
    }

    #[test]
    fn variables_and_greedy_variables_share_positions() {
        let keys = [
            "GET /{id}",
            "ANY /{proxy+}",
            "GET /{a}/{b}",
            "GET /{a}/x/{rest+}",
            "GET /{a}/{rest+}",
        ];
        let (table, problems) = RouteTable::new(keys);
        assert!(problems.is_empty(), "{problems:?}");
        let key = |method, path| table.find(method, path).map(|m| keys[m.index]);
        assert_eq!(key("GET", "/1"), Some("GET /{id}"));
        assert_eq!(key("GET", "/1/2"), Some("GET /{a}/{b}"));
        assert_eq!(key("GET", "/1/x/2/3"), Some("GET /{a}/x/{rest+}"));
        assert_eq!(key("GET", "/1/y/2/3"), Some("GET /{a}/{rest+}"));
        assert_eq!(key("PUT", "/1"), Some("ANY /{proxy+}"));
    }

    #[test]
    fn overlapping_keys_are_reported() {
        let (table, problems) =
            RouteTable::new(["GET /a/{x}", "GET /a/{y}", "ANY /a/{z}", "nonsense"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(table.find("GET", "/a/1").unwrap().index, 0);
        assert_eq!(table.find("POST", "/a/1").unwrap().index, 2);
    }
}
