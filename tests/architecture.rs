//! The crate's shape, checked on every test run (issue 21):
//! - no module circle: the modules' `use` graph (every `crate::`, `super::` and `self::` path in
//!   `use` items and in code, tests left out as cargo-modules leaves them out) has no cycle, both
//!   file by file and between the top-level stages;
//! - the engine never reaches up into the control plane or the daemon glue;
//! - no source file is over 500 lines unless its module doc says why ("Over 500 lines: …").
//!
//! The check reads the source, so it needs no extra tool; `cargo modules dependencies --lib
//! --acyclic` (the cargo-modules crate) is the same check done through rust-analyzer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;

struct Module {
    /// `engine::clock`; "" is the crate root.
    name: String,
    /// The source with comments and `#[cfg(test)] mod tests { … }` blocks removed.
    code: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Module path of a library file, or None for the binary and test-only files.
fn module_name(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    let last = parts.last()?.trim_end_matches(".rs").to_string();
    if parts.len() == 1 && (last == "main" || last == "lib") {
        return (last == "lib").then(String::new);
    }
    if last == "tests" {
        return None;
    }
    let mut segs: Vec<String> = parts[..parts.len() - 1].to_vec();
    if last != "mod" {
        segs.push(last);
    }
    Some(segs.join("::"))
}

/// Drops `//` comments (doc links are not uses) and the blocks of `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i64> = None;
    let mut pending_test = false;
    let mut depth: i64 = 0;
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        let opens = code.matches('{').count() as i64;
        let closes = code.matches('}').count() as i64;
        if skip_depth.is_none() && code.trim() == "#[cfg(test)]" {
            pending_test = true;
            continue;
        }
        if pending_test {
            pending_test = false;
            if opens > 0 {
                skip_depth = Some(depth);
            }
            depth += opens - closes;
            if opens == 0 || depth == skip_depth.unwrap() {
                skip_depth = None;
            }
            continue;
        }
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn modules() -> Vec<Module> {
    let mut files = vec![];
    rs_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let name = module_name(&f)?;
            let text = std::fs::read_to_string(&f).unwrap();
            Some(Module { name, code: code_of(&text) })
        })
        .collect()
}

/// Expands `use a::{b, c::{d, e as f}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap()];
        let base = if prefix.is_empty() { head.to_string() } else if head.is_empty() { prefix.to_string() } else { format!("{prefix}::{head}") };
        let (mut level, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => level += 1,
                '}' => level -= 1,
                ',' if level == 0 => {
                    expand(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &base, out);
    } else if !tree.is_empty() {
        let item = tree.split(" as ").next().unwrap().trim();
        out.push(if prefix.is_empty() { item.to_string() } else if item == "self" { prefix.to_string() } else { format!("{prefix}::{item}") });
    }
}

/// Every crate-internal path a module's code names.
fn paths(code: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = code;
    // `use` items (possibly over several lines), then paths anywhere in the code.
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
            if let Some(end) = after.find(';') {
                expand(&after[..end], "", &mut out);
            }
        }
        rest = after;
    }
    let bytes: Vec<char> = code.chars().collect();
    let text: String = bytes.iter().collect();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = text[from..].find(start) {
            let at = from + k;
            from = at + start.len();
            if at > 0 && text[..at].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue;
            }
            let p: String = text[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            out.push(p.trim_end_matches(':').to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The module a path from `module` lands in: the longest prefix that is a module.
fn resolve(module: &str, path: &str, known: &BTreeSet<String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if module.is_empty() { vec![] } else { module.split("::").collect() };
    match segs.first().copied() {
        Some("crate") => {
            base.clear();
            segs.remove(0);
        }
        Some("self") => {
            segs.remove(0);
        }
        Some("super") => {
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
        }
        // `use child::X` inside a module: a path relative to it (2018 edition), when `child`
        // is one of its modules; anything else (std, serde, …) is outside the crate.
        Some(first) => {
            let child = if module.is_empty() { first.to_string() } else { format!("{module}::{first}") };
            if !known.contains(&child) {
                return None;
            }
        }
        None => return None,
    }
    let mut full: Vec<&str> = base;
    full.extend(segs);
    (0..=full.len()).rev().map(|n| full[..n].join("::")).find(|c| known.contains(c))
}

/// Module → modules it uses (self and the crate root left out).
fn graph(mods: &[Module]) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = mods.iter().map(|m| m.name.clone()).collect();
    let mut g = BTreeMap::new();
    for m in mods {
        let mut to = BTreeSet::new();
        for p in paths(&m.code) {
            if let Some(t) = resolve(&m.name, &p, &known) {
                if t != m.name && !t.is_empty() {
                    to.insert(t);
                }
            }
        }
        g.insert(m.name.clone(), to);
    }
    g
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut c = vec![];
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                c.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                c.sort();
                t.out.push(c);
            }
        }
    }
    let mut t = T { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: vec![], on: BTreeSet::new(), out: vec![] };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn describe(g: &BTreeMap<String, BTreeSet<String>>, c: &[String]) -> String {
    let members: BTreeSet<&String> = c.iter().collect();
    let edges: Vec<String> =
        c.iter().flat_map(|a| g[a].iter().filter(|b| members.contains(b)).map(move |b| format!("{a} -> {b}"))).collect();
    format!("[{}]: {}", c.join(", "), edges.join("; "))
}

#[test]
fn no_module_uses_itself_through_a_circle() {
    let mods = modules();
    assert!(mods.len() > 40, "found only {} modules under src/", mods.len());
    let g = graph(&mods);
    let found = cycles(&g);
    assert!(found.is_empty(), "module circles:\n{}", found.iter().map(|c| describe(&g, c)).collect::<Vec<_>>().join("\n"));
    // The stages too: folding every module into its top-level stage leaves no circle either.
    let mut stages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, to) in &g {
        let top = |m: &str| m.split("::").next().unwrap().to_string();
        let e = stages.entry(top(a)).or_default();
        e.extend(to.iter().map(|b| top(b)).filter(|b| *b != top(a)));
    }
    let found = cycles(&stages);
    assert!(found.is_empty(), "stage circles:\n{}", found.iter().map(|c| describe(&stages, c)).collect::<Vec<_>>().join("\n"));
}

#[test]
fn the_engine_knows_nothing_of_control_or_the_daemon() {
    let mods = modules();
    let g = graph(&mods);
    for (m, to) in g.iter().filter(|(m, _)| m.as_str() == "engine" || m.starts_with("engine::")) {
        let up: Vec<&String> = to.iter().filter(|t| t.starts_with("control") || t.starts_with("daemon")).collect();
        assert!(up.is_empty(), "{m} uses {up:?}");
    }
    // The check itself sees uses: control does use the engine.
    assert!(g["control::reload"].iter().any(|t| t.starts_with("engine")), "{:?}", g["control::reload"]);
}

#[test]
fn no_file_is_over_500_lines_without_a_reason() {
    // Every file: the library's, the binary's and the test modules'.
    let mut files = vec![];
    rs_files(&src(), &mut files);
    assert!(files.len() > 40);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let doc = text.lines().take_while(|l| l.starts_with("//!") || l.trim().is_empty()).collect::<Vec<_>>().join("\n");
            let lines = text.lines().count();
            (lines > MAX_LINES && !doc.contains("Over 500 lines:")).then(|| format!("{} ({lines} lines)", f.strip_prefix(src()).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines with no reason in the module doc: {long:?}");
}

#[test]
fn the_checker_reads_use_trees_and_finds_a_circle() {
    let mut out = vec![];
    expand("crate::{a::{B, c::D as E}, f}", "", &mut out);
    assert_eq!(out, ["crate::a::B", "crate::a::c::D", "crate::f"]);
    let known: BTreeSet<String> = ["", "a", "a::c", "f"].iter().map(|s| s.to_string()).collect();
    assert_eq!(resolve("a::c", "super::X", &known).as_deref(), Some("a"));
    assert_eq!(resolve("f", "crate::a::c::D", &known).as_deref(), Some("a::c"));
    assert_eq!(resolve("a", "c::D", &known).as_deref(), Some("a::c"));
    assert_eq!(resolve("a", "std::fs", &known), None);
    let code = code_of("use crate::a::X; // crate::f\n#[cfg(test)]\nmod tests {\n    use crate::f;\n}\nfn g() { crate::a::c::h() }\n");
    assert_eq!(paths(&code), ["crate::a::X", "crate::a::c::h"]);
    let g: BTreeMap<String, BTreeSet<String>> = [("a", vec!["f"]), ("f", vec!["a::c"]), ("a::c", vec!["a"])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "a::c".into(), "f".into()]]);
}
