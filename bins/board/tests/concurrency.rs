//! Many writers on one board: the `board` binary and the Python kit's `add_task` at the same
//! time, and writers killed with SIGKILL at random moments.
#![allow(clippy::print_stderr)] // the kill test says how its random moments fell

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

fn board_cmd(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_board"));
    cmd.env("HOME", home).env_remove("AGENT_OPS_HOME").env_remove("AGENT_OPS_CONFIG");
    cmd
}

fn board_path(home: &Path) -> PathBuf {
    home.join(".agent-ops/state/board.json")
}

/// board.json as JSON, checked to be a board: `columns` and `tasks` lists.
fn parse_board(home: &Path) -> Value {
    let bytes = fs::read(board_path(home)).unwrap();
    let v: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("board.json does not parse ({e}): {:?}", String::from_utf8_lossy(&bytes)));
    assert!(v["columns"].is_array() && v["tasks"].is_array(), "{v}");
    v
}

fn task_ids(board: &Value) -> Vec<String> {
    board["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}

/// The id in `board add`'s "Created: task-xxxxxxxx — title" line.
fn created_id(line: &str) -> Option<String> {
    line.strip_prefix("Created: ")?.split_whitespace().next().map(str::to_owned)
}

#[test]
fn eight_writers_half_board_half_the_seed_add_1600_tasks_without_losing_one() {
    const WRITERS: usize = 4; // of each kind
    const ADDS: usize = 200;
    let Some((python, seed)) = test_support::require_seed() else { return };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    fs::create_dir_all(home.join(".agent-ops/state")).unwrap();

    let seed_writers: Vec<Child> = (0..WRITERS)
        .map(|w| {
            Command::new(&python)
                .env("HOME", home)
                .env("PYTHONWARNINGS", "ignore")
                .arg("-c")
                .arg(format!(
                    "import sys; sys.path.insert(0, {seed:?})\nfrom agent_ops_board import add_task\n\
                     for i in range({ADDS}): add_task(f'py-{w}-{{i}}')",
                    seed = seed.display().to_string()
                ))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let ours: Vec<Vec<String>> = thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || {
                    (0..ADDS)
                        .map(|i| {
                            let out = board_cmd(home).args(["add", &format!("rs-{w}-{i}")]).output().unwrap();
                            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                            created_id(&String::from_utf8(out.stdout).unwrap()).unwrap()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for mut child in seed_writers {
        let status = child.wait().unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(status.success(), "seed writer failed: {err}");
    }

    let board = parse_board(home);
    let ids = task_ids(&board);
    assert_eq!(ids.len(), 2 * WRITERS * ADDS, "exactly 1,600 tasks");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "unique ids");
    let titles: HashSet<&str> =
        board["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    for w in 0..WRITERS {
        for i in 0..ADDS {
            assert!(titles.contains(format!("py-{w}-{i}").as_str()), "lost py-{w}-{i}");
            assert!(titles.contains(format!("rs-{w}-{i}").as_str()), "lost rs-{w}-{i}");
        }
    }
    let ids: HashSet<String> = ids.into_iter().collect();
    assert!(ours.iter().flatten().all(|id| ids.contains(id)), "every id the binary reported is on the board");
}

/// A small xorshift generator: reproducible from the seed printed by the test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn writers_killed_at_random_moments_never_break_the_board_or_lose_a_reported_add() {
    const KILLS: usize = 100;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // A board of some size, so that a write takes long enough to be interrupted.
    let status = board_cmd(home).args(["add", "seed task"]).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    let path = board_path(home);
    let mut board = parse_board(home);
    let template = board["tasks"][0].clone();
    let tasks = board["tasks"].as_array_mut().unwrap();
    for i in 0..500 {
        let mut t = template.clone();
        t["id"] = format!("task-{i:08x}").into();
        tasks.push(t);
    }
    fs::write(&path, serde_json::to_vec_pretty(&board).unwrap()).unwrap();

    // How long one add takes here, to spread the kills over a writer's whole life.
    let start = Instant::now();
    let status = board_cmd(home).args(["add", "timing"]).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    let life = u64::try_from(start.elapsed().as_micros()).unwrap().max(1000) * 3 / 2;

    let seed = u64::from(std::process::id()) << 32 | u64::from(start.elapsed().subsec_nanos()) | 1;
    eprintln!("kill moments from xorshift seed {seed}, spread over {life} µs");
    let mut rng = Rng(seed);
    let mut reported: Vec<String> = Vec::new();
    let mut killed_before_reporting = 0;
    let mut left_temporaries = 0;
    for round in 0..KILLS {
        // Two writers at once; one of them is killed at a random moment.
        let mut writers: Vec<Child> = (0..2)
            .map(|w| {
                board_cmd(home)
                    .args(["add", &format!("round {round} writer {w}")])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let victim = usize::try_from(rng.below(2)).unwrap();
        thread::sleep(Duration::from_micros(rng.below(life)));
        writers[victim].kill().unwrap(); // SIGKILL
        for (w, mut child) in writers.into_iter().enumerate() {
            let status = child.wait().unwrap();
            let mut out = String::new();
            child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            match created_id(&out) {
                Some(id) => reported.push(id),
                None if w == victim => killed_before_reporting += 1,
                None => panic!("writer {w} of round {round} was not killed but failed: {status}"),
            }
        }
        left_temporaries += state_files(home).iter().filter(|n| n.starts_with(".board.json.")).count();
        let board = parse_board(home);
        let ids: HashSet<String> = task_ids(&board).into_iter().collect();
        for id in &reported {
            assert!(ids.contains(id), "round {round}: {id} was reported added but is missing");
        }
    }
    eprintln!(
        "{KILLS} kills: {killed_before_reporting} writers died before reporting, {left_temporaries} torn temporary \
         file(s) seen; {} adds reported, all present",
        reported.len()
    );
    // The backup is whole too; the next writer works and sweeps up what dead writers left.
    let backup: Value = serde_json::from_slice(&fs::read(path.with_extension("json.bak")).unwrap()).unwrap();
    assert!(backup["tasks"].is_array());
    let out = board_cmd(home).args(["add", "after the kills"]).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(state_files(home), ["board.json", "board.json.bak", "board.lock"]);
}

fn state_files(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(home.join(".agent-ops/state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
