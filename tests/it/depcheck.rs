//! Fails when a dependency arrow appears between workspace crates that CONVENTIONS.md §1 does
//! not allow (the same idea as DataFusion's `dev/depcheck`).

use std::collections::{BTreeMap, BTreeSet};

/// Which workspace crates each workspace crate may depend on.
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let all = [
        "lookout-model",
        "lookout-storage",
        "lookout-collector",
        "lookout-query",
        "lookout-dashboards",
        "lookout-tui",
    ];
    BTreeMap::from([
        ("lookout-model", BTreeSet::new()),
        ("lookout-storage", BTreeSet::from(["lookout-model"])),
        (
            "lookout-collector",
            BTreeSet::from(["lookout-model", "lookout-storage"]),
        ),
        (
            "lookout-query",
            BTreeSet::from(["lookout-model", "lookout-storage"]),
        ),
        (
            "lookout-dashboards",
            BTreeSet::from(["lookout-model", "lookout-query"]),
        ),
        ("lookout-tui", BTreeSet::from(["lookout-model"])),
        ("lookout", BTreeSet::from(all)),
    ])
}

/// Crates that only some workspace members may use (CONVENTIONS.md §1 invariants).
fn restricted_external() -> Vec<(&'static str, BTreeSet<&'static str>)> {
    vec![
        (
            "opentelemetry-proto",
            BTreeSet::from(["lookout-collector", "lookout"]),
        ),
        ("tantivy", BTreeSet::from(["lookout-storage"])),
        ("lettre", BTreeSet::from(["lookout-query"])),
        ("tonic", BTreeSet::from(["lookout-collector", "lookout"])),
        (
            "datafusion",
            BTreeSet::from(["lookout-storage", "lookout-query"]),
        ),
    ]
}

#[test]
fn workspace_dependency_arrows_follow_the_conventions() {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata runs");
    let allowed = allowed();
    let members: BTreeSet<String> = metadata
        .workspace_packages()
        .iter()
        .map(|package| package.name.to_string())
        .collect();
    assert_eq!(
        members,
        allowed.keys().map(|name| name.to_string()).collect(),
        "workspace members changed: update the table in this test and CONVENTIONS.md"
    );
    let mut violations = Vec::new();
    for package in metadata.workspace_packages() {
        let name = package.name.as_str();
        for dependency in &package.dependencies {
            // Dev-dependencies may reach further (tests drive the whole system).
            if dependency.kind == cargo_metadata::DependencyKind::Development {
                continue;
            }
            let target = dependency.name.as_str();
            if members.contains(target) && !allowed[name].contains(target) {
                violations.push(format!("{name} -> {target}"));
            }
            for (external, users) in restricted_external() {
                if target == external && !users.contains(name) {
                    violations.push(format!("{name} -> {target} (reserved for {users:?})"));
                }
            }
        }
    }
    assert!(violations.is_empty(), "forbidden arrows: {violations:?}");
}

#[test]
fn the_rules_reject_a_forbidden_arrow() {
    // The table itself must forbid the arrows the conventions forbid.
    let allowed = allowed();
    assert!(!allowed["lookout-model"].contains("lookout-storage"));
    assert!(!allowed["lookout-storage"].contains("lookout-query"));
    assert!(!allowed["lookout-tui"].contains("lookout-storage"));
    assert!(!allowed["lookout-collector"].contains("lookout-query"));
}
