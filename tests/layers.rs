//! The top-level modules of `src/` depend on each other one way (docs/architecture.md, Layers).
//!
//! The graph is read from the source text: every `crate::X` path, and every `super::` chain
//! that climbs to the crate root and names `X` (`use` groups included), is an edge from the
//! file's top-level module to `X`. Comments and literals are skipped, so a doc comment naming
//! `crate::api` is no dependency. Paths the compiler resolves otherwise (a glob import's names,
//! a re-export seen through another module) are not followed: the edge is where the path is
//! written, which is the dependency a reader sees.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// For each importing module, each module it imports, with the first place it does so
/// (`src/file.rs:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// What must not be imported by whom: the lower layers, which the upper ones build on.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "store",
        &[
            "api",
            "app",
            "workflows",
            "engine",
            "chain",
            "ops",
            "webhooks",
        ],
    ),
    ("engine", &["api", "app", "workflows", "chain", "webhooks"]),
    ("chain", &["api", "app", "workflows", "engine"]),
    ("config", &["api", "app", "workflows", "engine", "chain"]),
    ("webhooks", &["api", "app", "workflows"]),
];

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = source_graph();
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules of src/:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn lower_layers_import_no_upper_one() {
    let graph = source_graph();
    let mut wrong = Vec::new();
    for (from, banned) in FORBIDDEN {
        for (to, at) in graph.get(*from).into_iter().flatten() {
            if banned.contains(&to.as_str()) {
                wrong.push(format!("{from} imports {to} ({at})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A file over this many lines holds more than one job (docs/architecture.md).
const MAX_LINES: usize = 500;

#[test]
fn no_source_file_is_over_500_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by concern:\n{}",
        long.join("\n")
    );
}

/// What `src/api/` may name in `store`: pure conversions of stored values. Besides these it
/// names only the shapes it renders (types and constants, spelled in CamelCase or UPPER_CASE)
/// and the entity modules those live in.
const API_MAY_CALL_IN_STORE: &[&str] = &["from_ms", "opt_from_ms", "is_timeout"];

/// Names that read or write the database, or open a transaction, by hand.
const DATABASE_WORK: &[&str] = &[
    "begin",
    "begin_write",
    "commit",
    "rollback",
    "TransactionTrait",
    "ConnectionTrait",
    "EntityTrait",
    "QueryFilter",
    "Statement",
    "query_all",
    "query_one",
    "execute",
];

/// `src/api/` parses, authorizes, calls a use case of `app` and maps its answer: it calls no
/// store function and opens no transaction (docs/architecture.md, Layers).
#[test]
fn the_api_calls_no_store_function_and_opens_no_transaction() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files = Vec::new();
    rust_files(&api, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display();
        for (name, line) in store_names(&tokens(&text)) {
            if !(API_MAY_CALL_IN_STORE.contains(&name.as_str()) || is_shape(&name)) {
                wrong.push(format!("{shown}:{line} names store's `{name}`"));
            }
        }
        for (token, line) in tokens(&text) {
            if matches!(&token, Token::Ident(name) if DATABASE_WORK.contains(&name.as_str())) {
                wrong.push(format!("{shown}:{line} does database work: {token:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "move these into a use case of src/app/:\n{}",
        wrong.join("\n")
    );
}

/// A type or a constant (`KeyRow`, `MINT`), or an entity module (`entity::workflow`): a shape.
fn is_shape(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase()) || name.starts_with("entity::")
}

/// What each path through `store::` names last (`store::time::{from_ms, X}` names `from_ms`
/// and `X`), with its line; an entity module is named with its `entity::` prefix.
fn store_names(tokens: &[(Token, usize)]) -> Vec<(String, usize)> {
    let ident = |i: usize| match tokens.get(i) {
        Some((Token::Ident(name), _)) => Some(name.as_str()),
        _ => None,
    };
    let is = |i: usize, t: Token| tokens.get(i).is_some_and(|(tok, _)| *tok == t);
    let mut out = Vec::new();
    for (i, (_, line)) in tokens.iter().enumerate() {
        if ident(i) != Some("store") || !is(i + 1, Token::PathSep) {
            continue;
        }
        // Walk `a::b::c`; the last name, or each item of a closing group.
        let mut j = i + 2;
        let mut segments = Vec::new();
        while let Some(name) = ident(j) {
            segments.push(name);
            if !is(j + 1, Token::PathSep) {
                break;
            }
            j += 2;
        }
        let prefix = if segments.first() == Some(&"entity") {
            "entity::"
        } else {
            ""
        };
        if is(j, Token::Open) {
            let mut k = j + 1;
            while let Some(name) = ident(k) {
                out.push((format!("{prefix}{name}"), *line));
                // Past `as alias` and to the next item.
                while !is(k, Token::Comma) && !is(k, Token::Close) && k < tokens.len() {
                    k += 1;
                }
                k += 1;
            }
        } else if let Some(last) = segments.last() {
            let name = if prefix.is_empty() || segments.len() == 1 {
                last.to_string()
            } else {
                format!("{prefix}{last}")
            };
            out.push((name, *line));
        }
    }
    out
}

/// The scanner itself: each form of path it must see, and what it must not mistake for one.
#[test]
fn scanner_reads_paths_not_comments_or_literals() {
    let tops: BTreeSet<String> = ["api", "store", "engine", "chain", "ops"]
        .map(String::from)
        .into();
    let text = r##"
        use crate::{store::{self, rows}, engine};
        // use crate::api::Nothing;
        /* use crate::api::Nothing; /* nested */ crate::api */
        const S: &str = "crate::api::Nothing";
        const R: &str = r#"crate::api "quoted" "#;
        const C: char = '{';
        fn f<'a>(x: &'a str) -> &'a str { x }
        mod tests {
            fn g() { super::super::super::ops::run(); super::super::local(); }
        }
        fn h() { super::super::chain::call() }
    "##;
    let mut found = BTreeMap::new();
    scan_file(
        text,
        &["api".into(), "edge".into()],
        &tops,
        "t.rs",
        &mut found,
    );
    let names: Vec<_> = found.keys().map(String::as_str).collect();
    // Inside `mod tests`, three `super`s reach the root; outside it, two do.
    assert_eq!(names, ["chain", "engine", "ops", "store"]);
}

/// The graph of `src/`, from the modules `src/lib.rs` declares.
fn source_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("reading src/lib.rs");
    let tops: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_owned)
        .collect();
    assert!(tops.len() > 10, "src/lib.rs declares only {tops:?}");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let mut module: Vec<String> = relative
            .with_extension("")
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        if module.last().is_some_and(|m| m == "mod") {
            module.pop();
        }
        // lib.rs is the root, which only declares; main.rs is the binary, another crate.
        if module == ["lib"] || module == ["main"] {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        let shown = format!("src/{}", relative.display());
        let mut found = BTreeMap::new();
        scan_file(&text, &module, &tops, &shown, &mut found);
        found.remove(&module[0]);
        let edges = graph.entry(module[0].clone()).or_default();
        for (to, at) in found {
            edges.entry(to).or_insert(at);
        }
    }
    graph
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("listing src/")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each shortest cycle, once, as `a -> b -> a` with where each import is.
fn cycles(graph: &Graph) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for start in graph.keys() {
        let Some(path) = shortest_path_back(graph, start) else {
            continue;
        };
        let members: BTreeSet<_> = path.iter().cloned().collect();
        if !seen.insert(members) {
            continue;
        }
        let mut line = start.clone();
        let mut from = start;
        for to in path.iter().skip(1).chain([start]) {
            line += &format!(" -> {to} ({})", graph[from][to]);
            from = to;
        }
        out.push(line);
    }
    out
}

/// The modules on a shortest way from `start` back to itself (`start` first), if any.
fn shortest_path_back(graph: &Graph, start: &String) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for next in graph.get(at).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                let mut path = vec![at.clone()];
                let mut step = at;
                while step != start {
                    step = came_from[step];
                    path.push(step.clone());
                }
                path.reverse();
                return Some(path);
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other,
}

/// Adds to `found` each top-level module that `text`, the file of `module`, names from the
/// crate root, with where it first does.
fn scan_file(
    text: &str,
    module: &[String],
    tops: &BTreeSet<String>,
    shown: &str,
    found: &mut BTreeMap<String, String>,
) {
    let tokens = tokens(text);
    let ident = |i: usize| match tokens.get(i) {
        Some((Token::Ident(name), _)) => Some(name.as_str()),
        _ => None,
    };
    let is = |i: usize, t: Token| tokens.get(i).is_some_and(|(tok, _)| *tok == t);
    // How deep the braces are, and the inline modules (`mod tests { .. }`) open at which depth.
    let mut depth = 0;
    let mut inline: Vec<usize> = Vec::new();
    for (i, (token, line)) in tokens.iter().enumerate() {
        match token {
            Token::Open => {
                depth += 1;
                if i >= 2 && ident(i - 2) == Some("mod") && ident(i - 1).is_some() {
                    inline.push(depth);
                }
                continue;
            }
            Token::Close => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if i > 0 && is(i - 1, Token::PathSep) {
            continue; // inside a path, not its start
        }
        // The index of the `::` after which the path names a module of the crate root.
        let after_root = match ident(i) {
            Some("crate") => i + 1,
            Some("super") => {
                let mut supers = 1;
                while is(i + 2 * supers - 1, Token::PathSep)
                    && ident(i + 2 * supers) == Some("super")
                {
                    supers += 1;
                }
                if supers != module.len() + inline.len() {
                    continue;
                }
                i + 2 * supers - 1
            }
            _ => continue,
        };
        if !is(after_root, Token::PathSep) {
            continue;
        }
        let mut named = Vec::new();
        if is(after_root + 1, Token::Open) {
            // A `use` group: the first name of each item at its top level.
            let mut level = 0;
            let mut j = after_root + 1;
            while let Some((t, _)) = tokens.get(j) {
                match t {
                    Token::Open => level += 1,
                    Token::Close if level == 1 => break,
                    Token::Close => level -= 1,
                    Token::Ident(name)
                        if level == 1 && (is(j - 1, Token::Open) || is(j - 1, Token::Comma)) =>
                    {
                        named.push(name.clone())
                    }
                    _ => {}
                }
                j += 1;
            }
        } else if let Some(name) = ident(after_root + 1) {
            named.push(name.to_owned());
        }
        for name in named.into_iter().filter(|n| tops.contains(n)) {
            found
                .entry(name)
                .or_insert_with(|| format!("{shown}:{line}"));
        }
    }
}

/// The tokens of Rust source that matter to paths, each with its line; comments, string and
/// character literals are left out.
fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips to just after `end`, counting lines.
    let skip_to = |i: &mut usize, line: &mut usize, end: &[char]| {
        while *i < chars.len() && !chars[*i..].starts_with(end) {
            if chars[*i] == '\n' {
                *line += 1;
            }
            *i += if chars[*i] == '\\' && end == ['"'] {
                2
            } else {
                1
            };
        }
        *i += end.len();
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if at(i + 1) == '/' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut nested = 0;
                while i < chars.len() {
                    if chars[i..].starts_with(&['/', '*']) {
                        nested += 1;
                        i += 2;
                    } else if chars[i..].starts_with(&['*', '/']) {
                        nested -= 1;
                        i += 2;
                        if nested == 0 {
                            break;
                        }
                    } else {
                        line += usize::from(chars[i] == '\n');
                        i += 1;
                    }
                }
            }
            '"' => {
                i += 1;
                skip_to(&mut i, &mut line, &['"']);
            }
            // A character literal; a lifetime (`'a` with no closing quote) is left to the ident.
            '\'' if at(i + 1) == '\\' => {
                i += 3; // the quote, the backslash and the escaped character
                skip_to(&mut i, &mut line, &['\'']);
            }
            '\'' if at(i + 2) == '\'' => i += 3,
            ':' if at(i + 1) == ':' => {
                out.push((Token::PathSep, line));
                i += 2;
            }
            '{' | '}' | ',' => {
                let token = match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    _ => Token::Comma,
                };
                out.push((token, line));
                i += 1;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // A raw string: r"..", r#".."#, br#".."#.
                let hashes = chars[i..].iter().take_while(|&&h| h == '#').count();
                if (word == "r" || word == "br") && at(i + hashes) == '"' {
                    let end: Vec<char> = std::iter::once('"')
                        .chain(std::iter::repeat_n('#', hashes))
                        .collect();
                    i += hashes + 1;
                    while i < chars.len() && !chars[i..].starts_with(&end) {
                        line += usize::from(chars[i] == '\n');
                        i += 1;
                    }
                    i += end.len();
                } else if !word.starts_with(|c: char| c.is_ascii_digit()) {
                    out.push((Token::Ident(word), line));
                }
            }
            _ => {
                out.push((Token::Other, line));
                i += 1;
            }
        }
    }
    out
}

/// Where a workflow's state, its engine status or a transaction's status may not be written as
/// a string literal: the layers above `workflows` name them through the enums (`MintState`,
/// `PaymentState`, ..., `Status`, `TxStatus`), so a renamed state cannot leave a stale
/// spelling behind.
const TYPED_STATE_DIRS: &[&str] = &["api", "app"];

/// What may still spell a state name there, and why.
const STATE_LITERALS_ALLOWED: &[(&str, &str)] = &[
    (
        "src/api/examples/",
        "OpenAPI examples are documentation: they show the names the spec promises",
    ),
    (
        "src/api/webhooks/views.rs",
        "webhook deliveries' own statuses (`pending`, `failed`), another column",
    ),
];

#[test]
fn state_names_are_typed_above_workflows() {
    use mintflow::store::{chain::TxStatus, mints::MintState, workflows::Status};
    use mintflow::workflows::{
        deployment::DeploymentState, mint_batch::BatchState, payment::PaymentState,
    };
    let names: BTreeSet<&str> = MintState::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(PaymentState::ALL.iter().map(|s| s.as_str()))
        .chain(DeploymentState::ALL.iter().map(|s| s.as_str()))
        .chain(BatchState::ALL.iter().map(|s| s.as_str()))
        .chain(Status::ALL.iter().map(|s| s.as_str()))
        .chain(TxStatus::ALL.iter().map(|s| s.as_str()))
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in TYPED_STATE_DIRS {
        rust_files(&root.join("src").join(dir), &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        if STATE_LITERALS_ALLOWED
            .iter()
            .any(|(prefix, _)| shown.starts_with(prefix))
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            // Attributes name what serde and the OpenAPI document spell; comments are prose.
            if code.starts_with("//") || code.contains("#[oai(") || code.contains("#[serde(") {
                continue;
            }
            for literal in string_literals(code) {
                if names.contains(literal.as_str()) {
                    found.push(format!("{shown}:{}: \"{literal}\"", n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "state names spelled as literals (use the kind's enum, `Status` or `TxStatus`):\n{}",
        found.join("\n")
    );
}

/// The contents of the plain `"..."` literals on one line of code (escapes kept as written).
fn string_literals(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '/' && chars.clone().next() == Some('/') {
            break;
        }
        if c != '"' {
            continue;
        }
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => {
                    literal.push(c);
                    literal.extend(chars.next());
                }
                c => literal.push(c),
            }
        }
        out.push(literal);
    }
    out
}
