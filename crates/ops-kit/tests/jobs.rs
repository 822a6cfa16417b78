//! The core of HTTP pings (`POST /ping/TOKEN[/start|/fail|/CODE]`) on real files, and the
//! daemon's handler of them in a real ops-serve server: the token finds its job, every event is
//! recorded as `job ping` records it, and no answer, error or file holds the token.

use std::fs;

use ops_jobs::jiff::Timestamp;
use ops_jobs::{JobName, Jobs, Status};
use ops_kit::jobs::{HttpPingError, http_ping, redact_ping_path};
use ops_kit::{Config, Env, Layout};

const TOKEN: &str = "5f2b0c6e9a4d4e1fb3c7a8d2e6f10b94";
const OTHER: &str = "other-job-token-0123456789";

fn setup() -> (tempfile::TempDir, Layout, Config) {
    let dir = tempfile::tempdir().unwrap();
    let env = Env { agent_ops_home: Some(dir.path().join("ops").into()), ..Env::default() };
    let layout = Layout::from_env(&env).unwrap();
    fs::create_dir_all(layout.config.parent().unwrap()).unwrap();
    fs::write(
        &layout.config,
        format!(
            r#"{{"services": [
                {{"name": "Agent run", "type": "job", "job": "agent-run", "period_seconds": 900, "ping_token": "{TOKEN}"}},
                {{"name": "Other", "type": "job", "job": "other", "period_seconds": 900, "ping_token": "{OTHER}"}},
                {{"name": "Unpingable", "type": "job", "job": "quiet", "period_seconds": 900}}]}}"#
        ),
    )
    .unwrap();
    let config = Config::load(&layout, &env).unwrap().config;
    (dir, layout, config)
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn every_event_is_recorded_for_the_job_of_the_token() {
    let (_dir, layout, config) = setup();
    let start =
        http_ping(&config, &layout, &format!("{TOKEN}/start"), b"", at("2026-11-30T10:00:00Z")).unwrap();
    assert_eq!(
        (start.service.as_str(), start.job.as_str(), start.run.status),
        ("Agent run", "agent-run", Status::Running)
    );
    let end =
        http_ping(&config, &layout, TOKEN, b"processed 12 items\n", at("2026-11-30T10:02:00Z")).unwrap();
    assert_eq!((end.run.id, end.run.status, end.run.duration_seconds), (0, Status::Ok, Some(120.0)));
    assert_eq!(end.run.output, "processed 12 items");
    let failed =
        http_ping(&config, &layout, &format!("{TOKEN}/fail"), b"", at("2026-11-30T10:15:00Z")).unwrap();
    assert_eq!(failed.run.status, Status::Failed);
    let code = http_ping(&config, &layout, &format!("{OTHER}/3"), b"", at("2026-11-30T10:16:00Z")).unwrap();
    assert_eq!((code.job.as_str(), code.run.exit_code, code.run.status), ("other", Some(3), Status::Failed));
    let zero = http_ping(&config, &layout, &format!("{OTHER}/0"), b"", at("2026-11-30T10:31:00Z")).unwrap();
    assert_eq!(zero.run.status, Status::Ok);
    let jobs = Jobs::new(layout.jobs());
    assert_eq!(jobs.read(&JobName::new("agent-run").unwrap()).unwrap().unwrap().runs.len(), 2);
    // Each end has its metrics line, under the job's name, and none holds the token.
    let day = fs::read_to_string(layout.metrics.join("2026-11-30.jsonl")).unwrap();
    assert_eq!(day.lines().filter(|l| l.contains(r#""name": "job:agent-run""#)).count(), 2, "{day}");
    assert_eq!(day.lines().filter(|l| l.contains(r#""name": "job:other""#)).count(), 2, "{day}");
    for file in
        [layout.metrics.join("2026-11-30.jsonl"), jobs.state_path(&JobName::new("agent-run").unwrap())]
    {
        let text = fs::read_to_string(file).unwrap();
        assert!(!text.contains(TOKEN) && !text.contains(OTHER));
    }
}

#[test]
fn a_wrong_token_or_path_is_not_found_and_never_echoed() {
    let (_dir, layout, config) = setup();
    let now = at("2026-11-30T10:00:00Z");
    let wrong = [
        String::new(),
        "nope".to_owned(),
        TOKEN[..TOKEN.len() - 1].to_owned(),
        format!("{TOKEN}x"),
        format!("{TOKEN}/stop"),
        format!("{TOKEN}/256"),
        format!("{TOKEN}/+3"),
        format!("{TOKEN}/03"),
        format!("{TOKEN}/-1"),
        format!("{TOKEN}/start/again"),
        TOKEN.to_uppercase(),
    ];
    for rest in &wrong {
        let e = http_ping(&config, &layout, rest, b"", now).unwrap_err();
        assert!(matches!(e, HttpPingError::NotFound), "{rest}: {e}");
        assert!(!e.to_string().contains(TOKEN) && !format!("{e:?}").contains(TOKEN));
    }
    assert!(!layout.jobs().exists(), "nothing was recorded");
    assert_eq!(redact_ping_path(&format!("/ping/{TOKEN}/fail")), "/ping/[redacted]/fail");
    assert!(!format!("{config:?}").contains(TOKEN), "the configuration's Debug redacts it");
}

#[test]
fn a_state_file_that_cannot_be_written_is_an_error_naming_the_job_not_the_token() {
    let (_dir, layout, config) = setup();
    fs::create_dir_all(layout.jobs()).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", layout.jobs().join("agent-run.json")).unwrap();
    let e = http_ping(&config, &layout, TOKEN, b"", at("2026-11-30T10:00:00Z")).unwrap_err();
    assert!(matches!(e, HttpPingError::State { .. }));
    assert!(
        e.to_string().starts_with("cannot record the ping of job agent-run: refusing to follow the symlink"),
        "{e}"
    );
    assert!(!e.to_string().contains(TOKEN));
}

/// POST to a real ops-serve server; the status and body.
fn post(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(format!("POST {path} HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi").as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), body.to_owned())
}

/// The daemon's handler in ops-serve's server: it sees the configuration set last, answers
/// 200, 404 and 500 (naming the job; the whole error goes to `report`), and never the token.
#[test]
fn the_servers_ping_handler_answers_from_the_configuration_set_last() {
    use std::sync::{Arc, Mutex};

    use ops_kit::serve::{SharedConfig, pings};
    let (_dir, layout, config) = setup();
    let shared = SharedConfig::new(&Config { services: Vec::new(), ..config.clone() });
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&reported);
    let handler = pings(shared.clone(), layout.clone(), move |e| log.lock().unwrap().push(e.to_owned()));
    let options = ops_serve::Options { pings: Some(handler), ..ops_serve::Options::default() };
    let server = ops_serve::Server::bind("127.0.0.1:0".parse().unwrap(), options).unwrap();
    let addr = server.local_addr();

    let mut answers = vec![post(addr, &format!("/ping/{TOKEN}"))];
    assert_eq!(answers[0], (404, "not found\n".to_owned()), "not a job's token yet");
    shared.set(&config);
    answers.push(post(addr, &format!("/ping/{TOKEN}/start")));
    assert_eq!(answers[1], (200, "ok\n".to_owned()));
    fs::create_dir_all(layout.jobs()).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", layout.jobs().join("other.json")).unwrap();
    answers.push(post(addr, &format!("/ping/{OTHER}")));
    assert_eq!(
        answers[2],
        (500, "cannot record the ping of job other; see the daemon's output\n".to_owned())
    );
    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 1);
    assert!(reported[0].starts_with("cannot record the ping of job other: refusing to follow the symlink"));
    for (_, text) in &answers {
        assert!(!text.contains(TOKEN) && !text.contains(OTHER));
    }
    assert!(!reported[0].contains(OTHER));
}

/// A job's state file whose lock another process holds (a `job ping` stopped mid-write, say):
/// the ping's 500 reaches the client before the server's write deadline closes it, rather than
/// the worker waiting past it for the lock (the client then closed without an answer, and
/// every ping queued behind waiting as long); once the lock is free, pings are recorded again.
#[test]
fn a_held_state_lock_is_a_500_the_client_receives() {
    use std::sync::mpsc;
    use std::time::Duration;

    use ops_kit::serve::{SharedConfig, pings};
    let (_dir, layout, config) = setup();
    let reported = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = std::sync::Arc::clone(&reported);
    let handler =
        pings(SharedConfig::new(&config), layout.clone(), move |e| log.lock().unwrap().push(e.into()));
    let options = ops_serve::Options { pings: Some(handler), ..ops_serve::Options::default() };
    let server = ops_serve::Server::bind("127.0.0.1:0".parse().unwrap(), options).unwrap();
    let addr = server.local_addr();

    let lock =
        Jobs::new(layout.jobs()).state_path(&JobName::new("agent-run").unwrap()).with_extension("json.lock");
    let (held, is_held) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        ops_state::with_lock(&lock, Duration::from_secs(60), || {
            held.send(()).unwrap();
            released.recv().unwrap();
        })
        .unwrap();
    });
    is_held.recv().unwrap();
    assert_eq!(
        post(addr, &format!("/ping/{TOKEN}")),
        (500, "cannot record the ping of job agent-run; see the daemon's output\n".to_owned())
    );
    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 1);
    assert!(
        reported[0].starts_with("cannot record the ping of job agent-run: could not lock"),
        "{reported:?}"
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(post(addr, &format!("/ping/{TOKEN}")), (200, "ok\n".to_owned()));
}
