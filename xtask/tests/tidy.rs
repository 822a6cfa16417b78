//! Tidy: the architecture rules of docs/ARCHITECTURE.md that a test can check, so they stay
//! true as the code moves. The dependency and packaging rules read `cargo metadata` (the
//! manifests as cargo understands them, xtask's included), never the text of a Cargo.toml;
//! each check is a function of that JSON, and the tests at the end feed it drifted copies to
//! show that it catches them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The leaf crates: each owns one concern and depends on no other crate of ours but the shared
/// ones.
/// ops-serve (the daemon's HTTP server) is one: it knows routes, bounds and its snapshot type,
/// nothing of passes; ops-kit builds the snapshots and the orchestrator binary starts it.
const LEAVES: [&str; 7] =
    ["ops-health", "ops-metrics", "ops-recovery", "ops-alert", "ops-board", "ops-jobs", "ops-serve"];

/// The shared leaves, below every leaf: how bytes reach the disk (ops-state) and how a command
/// runs (ops-proc). They depend on no crate of ours, and using them is not joining crates.
const SHARED: [&str; 2] = ["ops-state", "ops-proc"];

/// The only crate of ours xtask links: `bench-metrics` writes its day files with ops-metrics' own
/// writer, so the benchmark reads exactly the product's format.
const XTASK_LINKS: [&str; 1] = ["ops-metrics"];

/// `main.rs` of a binary may have this many lines; past it, logic belongs in a crate.
const MAX_MAIN_LINES: usize = 150;

/// The category slugs crates.io accepts (its `src/boot/categories.toml`).
const CATEGORIES: &[&str] = &[
    "algorithms",
    "api-bindings",
    "asynchronous",
    "authentication",
    "caching",
    "command-line-interface",
    "command-line-utilities",
    "compression",
    "computer-vision",
    "concurrency",
    "config",
    "cryptography",
    "cryptography::cryptocurrencies",
    "data-structures",
    "database",
    "database-implementations",
    "date-and-time",
    "development-tools",
    "development-tools::build-utils",
    "development-tools::cargo-plugins",
    "development-tools::debugging",
    "development-tools::ffi",
    "development-tools::procedural-macro-helpers",
    "development-tools::profiling",
    "development-tools::testing",
    "email",
    "embedded",
    "emulators",
    "encoding",
    "external-ffi-bindings",
    "filesystem",
    "game-development",
    "game-engines",
    "games",
    "graphics",
    "gui",
    "hardware-support",
    "internationalization",
    "localization",
    "mathematics",
    "memory-management",
    "multimedia",
    "multimedia::audio",
    "multimedia::encoding",
    "multimedia::images",
    "multimedia::video",
    "network-programming",
    "no-std",
    "os",
    "os::linux-apis",
    "os::macos-apis",
    "os::unix-apis",
    "os::windows-apis",
    "parser-implementations",
    "parsing",
    "rendering",
    "rendering::data-formats",
    "rendering::engine",
    "rendering::graphics-api",
    "rust-patterns",
    "science",
    "science::robotics",
    "simulation",
    "template-engine",
    "text-editors",
    "text-processing",
    "value-formatting",
    "visualization",
    "wasm",
    "web-programming",
    "web-programming::http-client",
    "web-programming::http-server",
    "web-programming::websocket",
];

/// `cargo metadata --format-version 1 --no-deps` of the workspace, run once.
fn metadata() -> &'static Value {
    static METADATA: OnceLock<Value> = OnceLock::new();
    METADATA.get_or_init(|| {
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
            .arg(repo().join("Cargo.toml"))
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success(), "cargo metadata failed:\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
    })
}

/// What a package is to the architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// One of [`SHARED`]: ops-state (files) and ops-proc (processes), shared by every leaf.
    Shared,
    /// One of [`LEAVES`].
    Leaf,
    /// ops-cli: the binaries' crate over the engine (ops-kit), sharing ops-state.
    Cli,
    /// ops-kit: the one crate that joins the leaves.
    Kit,
    /// A binary under bins/.
    Bin,
    /// xtask.
    Xtask,
    /// test-support: dev-only helpers.
    TestSupport,
}

struct Package<'a> {
    name: &'a str,
    role: Role,
    json: &'a Value,
}

impl Package<'_> {
    fn dir(&self) -> &Path {
        Path::new(self.json["manifest_path"].as_str().unwrap()).parent().unwrap()
    }

    fn publishable(&self) -> bool {
        // `publish = false` is `[]`; absent is `null` (any registry).
        !self.json["publish"].as_array().is_some_and(Vec::is_empty)
    }

    /// The crates of ours this package depends on, as (name, kind, version requirement);
    /// kind is `normal`, `dev` or `build`.
    fn ours<'b>(&'b self, names: &'b BTreeSet<&'b str>) -> impl Iterator<Item = (&'b str, &'b str, &'b str)> {
        self.json["dependencies"].as_array().unwrap().iter().filter_map(move |d| {
            let name = d["name"].as_str().unwrap();
            names
                .contains(name)
                .then(|| (name, d["kind"].as_str().unwrap_or("normal"), d["req"].as_str().unwrap_or("*")))
        })
    }
}

/// The workspace's packages with their roles; a package whose role is unknown is a problem.
fn packages(meta: &Value) -> Result<Vec<Package<'_>>, String> {
    let root = Path::new(meta["workspace_root"].as_str().unwrap());
    let mut out = Vec::new();
    for json in meta["packages"].as_array().unwrap() {
        let name = json["name"].as_str().unwrap();
        let manifest = Path::new(json["manifest_path"].as_str().unwrap());
        let role = match name {
            _ if SHARED.contains(&name) => Role::Shared,
            "ops-cli" => Role::Cli,
            "ops-kit" => Role::Kit,
            "xtask" => Role::Xtask,
            "test-support" => Role::TestSupport,
            _ if LEAVES.contains(&name) => Role::Leaf,
            _ if manifest.starts_with(root.join("bins")) => Role::Bin,
            _ => {
                return Err(format!(
                    "{name} ({}) is new: say in xtask/tests/tidy.rs and docs/ARCHITECTURE.md what it \
                     is (a leaf? a binary?) and what it may depend on",
                    manifest.display()
                ));
            }
        };
        out.push(Package { name, role, json });
    }
    Ok(out)
}

/// Which of our crates a package of `role` may depend on (normal and build dependencies).
fn allowed(role: Role, dep: &str) -> bool {
    let leaf = LEAVES.contains(&dep);
    match role {
        Role::Shared | Role::TestSupport => false,
        Role::Cli => dep == "ops-kit" || dep == "ops-state",
        Role::Leaf => SHARED.contains(&dep),
        Role::Kit => leaf || SHARED.contains(&dep),
        Role::Bin => dep != "test-support" && dep != "xtask",
        Role::Xtask => XTASK_LINKS.contains(&dep),
    }
}

/// The dependency rules of ARCHITECTURE.md: leaf crates depend on no other crate of ours but
/// the shared ones; only ops-kit and the binaries join several of ours (the shared leaves not
/// counted); xtask links exactly
/// [`XTASK_LINKS`]; test-support is only ever a dev-dependency.
fn dependency_problems(meta: &Value) -> Vec<String> {
    let packages = match packages(meta) {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let names: BTreeSet<&str> = packages.iter().map(|p| p.name).collect();
    let mut problems = Vec::new();
    for p in &packages {
        let mut linked = BTreeSet::new();
        for (dep, kind, _) in p.ours(&names) {
            let ok = match kind {
                "dev" => allowed(p.role, dep) || dep == "test-support" || matches!(p.role, Role::Bin),
                _ => allowed(p.role, dep),
            };
            if !ok {
                problems.push(format!(
                    "{} ({:?}) has a {kind} dependency on {dep}: leaf crates depend on no crate of ours \
                     but ops-state and ops-proc, only ops-kit joins them, and test-support is for tests; join them in \
                     ops-kit, or change docs/ARCHITECTURE.md and this test first",
                    p.name, p.role
                ));
            }
            if kind != "dev" {
                linked.insert(dep);
            }
        }
        let joined: BTreeSet<&str> = linked.iter().copied().filter(|d| !SHARED.contains(d)).collect();
        if joined.len() > 1 && !matches!(p.role, Role::Kit | Role::Bin | Role::Cli) {
            problems.push(format!(
                "{} depends on {joined:?}: only ops-kit, ops-cli and the binaries join several crates of ours",
                p.name
            ));
        }
        if p.role == Role::Xtask && linked.iter().copied().ne(XTASK_LINKS) {
            problems.push(format!(
                "xtask links {linked:?} of our crates, docs/ARCHITECTURE.md says {XTASK_LINKS:?}: make the \
                 doc and XTASK_LINKS true"
            ));
        }
    }
    problems
}

/// What crates.io requires of a package, and what we promise of each library crate.
fn packaging_problems(meta: &Value) -> Vec<String> {
    let packages = match packages(meta) {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let names: BTreeSet<&str> = packages.iter().map(|p| p.name).collect();
    let rust_versions: BTreeSet<&str> =
        packages.iter().map(|p| p.json["rust_version"].as_str().unwrap_or("none")).collect();
    let mut problems = Vec::new();
    if rust_versions.len() != 1 || rust_versions.contains("none") {
        problems.push(format!(
            "every package inherits the workspace's rust-version (checked in CI); found {rust_versions:?}"
        ));
    }
    for p in &packages {
        let library = matches!(p.role, Role::Shared | Role::Leaf | Role::Cli | Role::Kit);
        if p.publishable() != library {
            problems.push(format!(
                "{}: publish = {} but it is {}: the library crates (ops-*) are publishable; the \
                 binaries, xtask and test-support are `publish = false`",
                p.name,
                p.publishable(),
                if library { "a library crate" } else { "not a library crate" }
            ));
        }
        // Packaging needs a version on every dependency of ours that is packaged with it.
        for (dep, kind, req) in p.ours(&names) {
            let version = packages.iter().find(|q| q.name == dep).map(|q| &q.json["version"]);
            let wanted = match version.and_then(Value::as_str) {
                _ if dep == "test-support" => "*".to_owned(),
                Some(v) => format!("^{v}"),
                None => continue,
            };
            if req != wanted {
                problems.push(format!(
                    "{}: the {kind} dependency on {dep} asks for {req:?}, expected {wanted:?} (the \
                     workspace's version; test-support has none, so packaging drops it)",
                    p.name
                ));
            }
        }
        if p.publishable() {
            problems.extend(crates_io_problems(p).into_iter().map(|e| format!("{}: {e}", p.name)));
        }
    }
    problems
}

/// The metadata crates.io requires or shows, a README whose example is compiled, and an example.
fn crates_io_problems(p: &Package<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let text = |key: &str| p.json[key].as_str().filter(|s| !s.trim().is_empty());
    for key in ["description", "license", "repository"] {
        if text(key).is_none() {
            problems.push(format!("no {key}"));
        }
    }
    if text("repository").is_some_and(|r| !r.starts_with("https://")) {
        problems.push("the repository is not an https:// URL".into());
    }
    match text("readme") {
        None => problems.push("no readme".into()),
        Some(readme) if !p.dir().join(readme).is_file() => problems.push(format!("no {readme}")),
        Some(_) => {}
    }
    let words = |key: &str| -> Vec<&str> {
        p.json[key].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
    };
    let keywords = words("keywords");
    if !(1..=5).contains(&keywords.len()) {
        problems.push(format!("{} keywords (crates.io takes 1 to 5)", keywords.len()));
    }
    for k in keywords {
        let valid = (1..=20).contains(&k.len())
            && k.starts_with(|c: char| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c));
        if !valid {
            problems.push(format!("keyword {k:?}: up to 20 ASCII letters, digits, '-', '_', '+'"));
        }
    }
    let categories = words("categories");
    if !(1..=5).contains(&categories.len()) {
        problems.push(format!("{} categories (crates.io takes 1 to 5)", categories.len()));
    }
    for c in categories.iter().filter(|c| !CATEGORIES.contains(c)) {
        problems.push(format!("category {c:?} is not a crates.io category slug"));
    }
    let targets = p.json["targets"].as_array().unwrap();
    let kind = |t: &Value, k: &str| t["kind"].as_array().is_some_and(|ks| ks.iter().any(|x| x == k));
    if !targets.iter().any(|t| kind(t, "example")) {
        problems.push("no program in examples/ (cargo test builds them)".into());
    }
    let lib = targets.iter().find(|t| kind(t, "lib")).and_then(|t| t["src_path"].as_str());
    let doctest = lib
        .and_then(|l| fs::read_to_string(l).ok())
        .is_some_and(|src| src.contains("#[cfg(doctest)]\n#[doc = include_str!(\"../README.md\")]"));
    if !doctest {
        problems.push(
            "its lib.rs does not run README.md as a doctest (`#[cfg(doctest)] #[doc = \
             include_str!(\"../README.md\")]` on an item)"
                .into(),
        );
    }
    problems
}

#[test]
fn our_crates_depend_on_each_other_as_the_architecture_says() {
    let problems = dependency_problems(metadata());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_library_crate_is_publishable_with_the_metadata_crates_io_requires() {
    let problems = packaging_problems(metadata());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The crates under crates/, by directory name.
fn crates() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn only_ops_kit_reads_the_environment() {
    for name in crates().iter().filter(|n| *n != "test-support") {
        for file in sources(&repo().join("crates").join(name).join("src")) {
            let text = fs::read_to_string(&file).unwrap();
            let allowed = file.ends_with("ops-kit/src/env.rs");
            for needle in ["env::var(", "env::var_os(", "env::vars("] {
                assert!(
                    allowed || !text.contains(needle),
                    "{} reads the environment ({needle}); only ops_kit::Env::capture does",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn every_crate_and_binary_says_what_it_is_in_its_first_lines() {
    let mut roots: Vec<PathBuf> =
        crates().iter().map(|n| repo().join("crates").join(n).join("src/lib.rs")).collect();
    for entry in fs::read_dir(repo().join("bins")).unwrap() {
        roots.push(entry.unwrap().path().join("src/main.rs"));
    }
    roots.push(repo().join("xtask/src/main.rs"));
    for root in roots {
        let text = fs::read_to_string(&root).unwrap();
        assert!(
            text.starts_with("//! "),
            "{} must open with a `//!` paragraph saying what it owns",
            root.display()
        );
    }
}

#[test]
fn binaries_stay_thin() {
    for entry in fs::read_dir(repo().join("bins")).unwrap() {
        let main = entry.unwrap().path().join("src/main.rs");
        let lines = fs::read_to_string(&main).unwrap().lines().count();
        assert!(
            lines <= MAX_MAIN_LINES,
            "{} has {lines} lines (at most {MAX_MAIN_LINES}, as docs/ARCHITECTURE.md says): logic \
             belongs in a crate (ops-kit)",
            main.display()
        );
    }
}

#[test]
fn only_ops_state_opens_files_for_writing() {
    // ops-state's `file.rs` is where no-follow, O_EXCL and modes are decided; ops-cli writes
    // generated docs where its caller says, test-support is for tests.
    let others =
        crates().into_iter().filter(|n| !["ops-state", "ops-cli", "test-support"].contains(&n.as_str()));
    let mut dirs: Vec<PathBuf> = others.map(|n| repo().join("crates").join(n).join("src")).collect();
    dirs.extend(fs::read_dir(repo().join("bins")).unwrap().map(|e| e.unwrap().path().join("src")));
    for file in dirs.iter().flat_map(|d| sources(d)) {
        let text = fs::read_to_string(&file).unwrap();
        // Unit tests and doc examples set up their files as they like.
        let before_tests = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        let code: String =
            before_tests.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for needle in [
            "File::create",
            "OpenOptions",
            "fs::write(",
            "fs::copy(",
            "fs::rename(",
            "hard_link(",
            "set_permissions(",
        ] {
            assert!(
                !code.contains(needle),
                "{} uses {needle}: files in the agent-ops directories are written through ops-state \
                 (append_lines, write_atomic, open_append, write_new ...), which never follows a symlink \
                 and chooses the mode",
                file.display()
            );
        }
    }
}

// The checks catch drift: each case changes one thing in a copy of the real metadata.

/// A copy of the metadata with `change` applied to the package `name`.
fn drifted(name: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut meta = metadata().clone();
    let package = meta["packages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name}"));
    change(package);
    meta
}

fn with_dependency(name: &str, dep: &str, kind: Option<&str>) -> Value {
    drifted(name, |p| {
        p["dependencies"].as_array_mut().unwrap().push(json!({"name": dep, "kind": kind, "req": "^0.1.0"}));
    })
}

/// Some problem says `wanted`.
fn has(problems: &[String], wanted: &str) {
    assert!(
        problems.iter().any(|p| p.contains(wanted)),
        "expected a problem containing {wanted:?}, got {problems:#?}"
    );
}

/// There are problems, and every one says `wanted`.
fn only(problems: &[String], wanted: &str) {
    assert!(
        !problems.is_empty() && problems.iter().all(|p| p.contains(wanted)),
        "expected problems containing {wanted:?}, got {problems:#?}"
    );
}

#[test]
fn the_dependency_checks_catch_drift() {
    let leaf = dependency_problems(&with_dependency("ops-board", "ops-health", None));
    only(&leaf, "ops-board (Leaf) has a normal dependency on ops-health");
    // The shared leaves are every leaf's, and depend on nothing of ours.
    assert!(dependency_problems(&with_dependency("ops-board", "ops-proc", None)).is_empty());
    only(&dependency_problems(&with_dependency("ops-proc", "ops-state", None)), "ops-proc (Shared)");
    only(&dependency_problems(&with_dependency("ops-state", "ops-cli", Some("build"))), "ops-state (Shared)");
    only(&dependency_problems(&with_dependency("ops-alert", "ops-metrics", Some("dev"))), "dev dependency");
    only(&dependency_problems(&with_dependency("ops-kit", "ops-cli", None)), "ops-kit (Kit)");
    only(&dependency_problems(&with_dependency("ops-kit", "test-support", None)), "on test-support");
    let xtask = dependency_problems(&with_dependency("xtask", "ops-health", None));
    has(&xtask, "only ops-kit, ops-cli and the binaries join");
    has(&xtask, "xtask links {\"ops-health\", \"ops-metrics\"}");
    let unlinked = drifted("xtask", |p| {
        p["dependencies"].as_array_mut().unwrap().retain(|d| d["name"] != "ops-metrics");
    });
    only(&dependency_problems(&unlinked), "xtask links {}");
    let mut new_crate = metadata().clone();
    let mut copy = new_crate["packages"][0].clone();
    copy["name"] = json!("ops-history");
    new_crate["packages"].as_array_mut().unwrap().push(copy);
    only(&dependency_problems(&new_crate), "ops-history");
    // Bins may use any crate of ours in their tests.
    assert!(dependency_problems(&with_dependency("alert", "ops-metrics", Some("dev"))).is_empty());
}

#[test]
fn the_packaging_checks_catch_drift() {
    let set = |name: &str, key: &str, value: Value| drifted(name, |p| p[key] = value);
    only(&packaging_problems(&set("ops-health", "publish", json!([]))), "ops-health: publish = false");
    has(&packaging_problems(&set("alert", "publish", Value::Null)), "alert: publish = true");
    only(&packaging_problems(&set("ops-alert", "description", Value::Null)), "ops-alert: no description");
    only(&packaging_problems(&set("ops-board", "license", json!(" "))), "ops-board: no license");
    only(&packaging_problems(&set("ops-state", "repository", Value::Null)), "no repository");
    only(&packaging_problems(&set("ops-cli", "readme", json!("READ.md"))), "ops-cli: no READ.md");
    only(&packaging_problems(&set("ops-kit", "keywords", json!([]))), "0 keywords");
    only(&packaging_problems(&set("ops-kit", "keywords", json!(["a b"]))), "keyword \"a b\"");
    only(&packaging_problems(&set("ops-metrics", "categories", json!(["metrics"]))), "\"metrics\" is not");
    only(&packaging_problems(&set("ops-recovery", "rust_version", json!("1.85"))), "rust-version");
    let no_version = drifted("ops-kit", |p| {
        for d in p["dependencies"].as_array_mut().unwrap() {
            if d["name"] == "ops-health" {
                d["req"] = json!("*");
            }
        }
    });
    only(&packaging_problems(&no_version), "ops-kit: the normal dependency on ops-health asks for \"*\"");
    let no_example = drifted("ops-health", |p| {
        p["targets"].as_array_mut().unwrap().retain(|t| t["kind"] != json!(["example"]));
    });
    only(&packaging_problems(&no_example), "ops-health: no program in examples/");
    let no_doctest = drifted("ops-board", |p| {
        for t in p["targets"].as_array_mut().unwrap() {
            if t["kind"] == json!(["lib"]) {
                t["src_path"] = json!(repo().join("crates/ops-board/src/model.rs"));
            }
        }
    });
    only(&packaging_problems(&no_doctest), "ops-board: its lib.rs does not run README.md");
}
