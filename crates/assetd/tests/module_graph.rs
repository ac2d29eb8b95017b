//! The crate's modules form a one-way street (`../shared/DESIGN.md`, "Inside one node"): no
//! module imports one that imports it back, the domain modules know no framework, and metadata
//! and storage depend on the domain only. Read from the source text, so a new import that
//! breaks a rule fails here, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules of plain domain types and rules: no I/O framework, no other layer.
const DOMAIN: &[&str] = &[
    "file_types",
    "ids",
    "keys",
    "labels",
    "ranges",
    "scopes",
    "timestamp",
    "tokens",
    "urls",
    "variant_plan",
    "webhook_events",
    "webhook_signature",
    "webhook_targets",
];

/// Layers that may use only the domain.
const ON_THE_DOMAIN_ONLY: &[&str] = &["meta", "storage"];

/// Background services and the caches and limits requests use: each takes the few handles it
/// needs, so none may import the app's state, the HTTP layer or its error type.
const SERVICES: &[&str] = &[
    "background",
    "backup",
    "confirmer",
    "delivery_cache",
    "grant_cache",
    "import",
    "metrics",
    "ratelimit",
    "scrub",
    "settle",
    "site_deletion",
    "sweep",
    "token_usage",
    "upload_signer",
    "variants",
    "webhooks",
];

/// What sits above the services.
const ABOVE_SERVICES: &[&str] = &[
    "app",
    "cli",
    "error",
    "http",
    "maintenance",
    "server",
    "state",
];

/// Crates a domain module must not name.
const FRAMEWORKS: &[&str] = &["axum", "hyper", "sqlx", "tokio", "tower"];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Each top-level module's `crate::…` imports, and the external crates it names, in its
/// non-test code (what follows a file's first `#[cfg(test)]` is left out, comments too).
fn read_graph() -> (Graph, Graph) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut imports = Graph::new();
    let mut externals = Graph::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src");
            let module = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|c| c.trim_end_matches(".rs").to_owned())
                .expect("a module name");
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let own = imports.entry(module.clone()).or_default();
            let named = externals.entry(module.clone()).or_default();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let name: String = line[at + "crate::".len()..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name != module {
                        own.insert(name);
                    }
                }
                for framework in FRAMEWORKS {
                    if line.contains(&format!("{framework}::")) {
                        named.insert((*framework).to_owned());
                    }
                }
            }
        }
    }
    (imports, externals)
}

/// Every module `from` reaches through imports.
fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(module) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let (graph, _) = read_graph();
    assert!(graph.contains_key("meta") && graph.contains_key("http"));
    let cycles: Vec<String> = graph
        .iter()
        .flat_map(|(module, imports)| {
            imports
                .iter()
                .filter(|import| reachable(&graph, import).contains(module))
                .map(move |import| format!("{module} → {import} → … → {module}"))
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn domain_modules_know_no_framework_and_no_other_layer() {
    let (graph, externals) = read_graph();
    for module in DOMAIN {
        let imports = graph.get(*module).expect("a domain module exists");
        let above: Vec<_> = imports
            .iter()
            .filter(|i| !DOMAIN.contains(&i.as_str()))
            .collect();
        assert!(above.is_empty(), "{module} imports {above:?}");
        let frameworks = &externals[*module];
        assert!(frameworks.is_empty(), "{module} names {frameworks:?}");
    }
}

#[test]
fn metadata_and_storage_depend_on_the_domain_only() {
    let (graph, _) = read_graph();
    for module in ON_THE_DOMAIN_ONLY {
        let above: Vec<_> = graph[*module]
            .iter()
            .filter(|i| !DOMAIN.contains(&i.as_str()))
            .collect();
        assert!(above.is_empty(), "{module} imports {above:?}");
    }
}

#[test]
fn services_take_handles_not_the_app_state() {
    let (graph, _) = read_graph();
    for module in SERVICES {
        let above: Vec<_> = graph[*module]
            .iter()
            .filter(|i| ABOVE_SERVICES.contains(&i.as_str()))
            .collect();
        assert!(above.is_empty(), "{module} imports {above:?}");
    }
}
