//! The server over real loopback sockets: every route, the bounds, and hostile clients
//! (silent, dripping, oversized, never reading). Bounds are shown by facts (an answer that
//! arrives while hundreds of connections are held, the server's own counters), never by time.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use ops_serve::{Badge, Color, Credentials, Options, PingAnswer, Pings, Server, ServiceBadges, Snapshot};
use test_support::client::{self, Response, get, send};

/// The value of an unlabelled sample (or one with exactly these labels) in `/metrics`.
fn sample(addr: SocketAddr, series: &str) -> u64 {
    let text = get(addr, "/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

fn badge(label: &str, message: &str) -> Badge {
    Badge { label: label.into(), message: message.into(), color: Color::BrightGreen }
}

fn snapshot() -> Snapshot {
    let mut badges = std::collections::HashMap::new();
    for name in
        ["API", "Disk Space /var", "<script>alert(1)</script>", "Tom & \"Jerry\"", "日本語", "bell\u{7}"]
    {
        let uptime = BTreeMap::from([(7, badge("uptime 7d", "99.9%")), (30, badge("uptime 30d", "98%"))]);
        badges.insert(name.to_owned(), ServiceBadges { status: badge(name, "up"), uptime });
    }
    Snapshot {
        finished: Some(Instant::now()),
        fresh_for: Duration::from_secs(3600),
        page: "<!DOCTYPE html><title>page</title>".into(),
        services_json: "{\"services\": []}".into(),
        metrics: "# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n".into(),
        badges: badges.into(),
    }
}

fn serve(options: Options) -> Server {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), options).unwrap();
    server.publish(snapshot());
    server
}

#[test]
fn every_route_answers_from_the_snapshot() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), Options::default()).unwrap();
    let addr = server.local_addr();
    for path in ["/", "/api/v1/services", "/metrics", "/healthz", "/badge/API/status.svg"] {
        let a = get(addr, path);
        assert_eq!(a.status, 503, "{path} before the first snapshot");
        assert_eq!(a.text(), "starting: no pass has finished yet\n");
    }
    server.publish(snapshot());

    let page = get(addr, "/");
    assert_eq!((page.status, page.text().as_str()), (200, "<!DOCTYPE html><title>page</title>"));
    assert_eq!(page.header("content-type").unwrap(), "text/html; charset=utf-8");
    assert_eq!(page.header("content-length").unwrap(), "34");
    assert_eq!(page.header("connection").unwrap(), "close");
    assert!(page.header("content-security-policy").unwrap().starts_with("default-src 'none';"));
    assert!(page.header("date").unwrap().ends_with(" GMT"));
    let json = get(addr, "/api/v1/services");
    assert_eq!((json.status, json.text().as_str()), (200, "{\"services\": []}"));
    assert_eq!(json.header("content-type").unwrap(), "application/json");
    let metrics = get(addr, "/metrics");
    assert_eq!(metrics.header("content-type").unwrap(), "text/plain; version=0.0.4; charset=utf-8");
    let text = metrics.text();
    assert!(
        text.starts_with("# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n# HELP agent_ops_http_connections "),
        "{text}"
    );
    assert!(text.contains("\nagent_ops_http_connections 1\n"), "{text}");
    assert!(text.contains("\nagent_ops_http_responses_total{code=\"503\"} 5\n"), "{text}");
    let health = get(addr, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok: the last pass finished 0s ago\n"));

    let svg = get(addr, "/badge/API/status.svg");
    assert_eq!((svg.status, svg.header("content-type").unwrap().as_str()), (200, "image/svg+xml"));
    assert!(svg.text().contains("<title>API: up</title>"));
    let week = get(addr, "/badge/API/uptime/7d.svg");
    assert!(week.text().contains("<title>uptime 7d: 99.9%</title>"), "{}", week.text());
    assert_eq!(get(addr, "/badge/API/uptime/90d.svg").status, 404, "no such window in the snapshot");
    for path in ["/badge/Disk%20Space%20/var/status.svg", "/badge/Disk%20Space%20%2Fvar/status.svg"] {
        assert!(get(addr, path).text().contains("<title>Disk Space /var: up</title>"), "{path}");
    }
    let script = get(addr, "/badge/%3Cscript%3Ealert(1)%3C%2Fscript%3E/status.svg").text();
    assert!(
        script.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;: up</title>")
            && !script.contains("<script")
    );
    assert!(
        get(addr, "/badge/Tom%20%26%20%22Jerry%22/status.svg").text().contains("Tom &amp; &quot;Jerry&quot;")
    );
    assert!(get(addr, "/badge/%E6%97%A5%E6%9C%AC%E8%AA%9E/status.svg").text().contains(">日本語</text>"));
    assert!(get(addr, "/badge/bell%07/status.svg").text().contains("<title>bell\u{fffd}: up</title>"));

    for missing in
        ["/nope", "/badge/Nope/status.svg", "/badge/API/uptime/1d.svg", "/metrics/", "/badge//status.svg"]
    {
        let a = get(addr, missing);
        assert_eq!((a.status, a.text().as_str()), (404, "not found\n"), "{missing}");
    }
    assert_eq!(get(addr, "/badge/%FF/status.svg").status, 400);

    let head = send(addr, b"HEAD /api/v1/services HTTP/1.1\r\n\r\n");
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("content-length").unwrap(), "16", "the length GET would send");
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get"] {
        let a =
            send(addr, format!("{method} /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").as_bytes());
        assert_eq!(a.status, 405, "{method}");
        assert_eq!(a.header("allow").unwrap(), "GET, HEAD");
    }
    assert_eq!(
        send(addr, b"POST /nope HTTP/1.1\r\n\r\n").status,
        404,
        "no such resource, whatever the method"
    );
    assert_eq!(send(addr, b"GET /healthz HTTP/1.0\r\n\r\n").status, 200);
    assert_eq!(send(addr, b"GET /healthz HTTP/3\r\n\r\n").status, 505);
    assert_eq!(send(addr, b"GET /he\xffalthz HTTP/1.1\r\n\r\n").status, 400);
    assert_eq!(
        send(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").status,
        400,
        "TLS is not HTTP"
    );
}

#[test]
fn healthz_is_503_once_the_last_pass_is_older_than_allowed() {
    let server = serve(Options::default());
    server.publish(Snapshot {
        finished: Instant::now().checked_sub(Duration::from_secs(30)),
        fresh_for: Duration::from_secs(20),
        ..snapshot()
    });
    let a = get(server.local_addr(), "/healthz");
    assert_eq!(a.status, 503);
    assert!(a.text().starts_with("stale: the last pass finished 3"), "{}", a.text());
    assert!(a.text().ends_with("s ago, more than 20s\n"), "{}", a.text());
    assert_eq!(get(server.local_addr(), "/").status, 200, "the last page is still served");
}

#[test]
fn basic_auth_guards_every_route() {
    let auth = Credentials::new("ops", "s3cret pass").unwrap();
    let server = serve(Options { auth: Some(auth), ..Options::default() });
    let addr = server.local_addr();
    let with =
        |path: &str, header: &str| send(addr, format!("GET {path} HTTP/1.1\r\n{header}\r\n\r\n").as_bytes());
    // base64("ops:s3cret pass")
    let good = "Authorization: Basic b3BzOnMzY3JldCBwYXNz";
    for path in ["/", "/api/v1/services", "/metrics", "/healthz", "/badge/API/status.svg", "/nope"] {
        for header in [
            "X-Nothing: 1",
            "Authorization: Basic b3BzOndyb25n",
            "Authorization: Bearer b3BzOnMzY3JldCBwYXNz",
        ] {
            let a = with(path, header);
            assert_eq!(a.status, 401, "{path} {header}");
            assert_eq!(a.header("www-authenticate").unwrap(), "Basic realm=\"agent-ops\", charset=\"UTF-8\"");
            assert!(!a.head.contains("s3cret") && !a.text().contains("s3cret"));
        }
        let expected = if path == "/nope" { 404 } else { 200 };
        assert_eq!(with(path, good).status, expected, "{path}");
    }
    assert_eq!(
        with("/", "authorization: basic b3BzOnMzY3JldCBwYXNz").status,
        200,
        "names and schemes are case-insensitive"
    );
}

/// Raises the soft open-file limit to the hard one; false when that is still too few.
fn descriptors_for(n: u64) -> bool {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
    let have = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if have < n {
        test_support::missing(&format!("an open-file limit of {n} (the hard limit is {have})"));
        return false;
    }
    true
}

/// Slowloris: 500 connections that send nothing are all held, and another client's request
/// is answered while they are. The server's gauge shows them held when the answer comes.
#[test]
fn five_hundred_silent_connections_do_not_stop_another_client() {
    if !descriptors_for(1200) {
        return;
    }
    let server = serve(Options::default());
    let addr = server.local_addr();
    let silent: Vec<TcpStream> = (0..500).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Accepting is asynchronous: wait until the server holds all of them (501 with this one).
    while sample(addr, "agent_ops_http_connections") < 501 {
        std::thread::yield_now();
    }
    let mut probe = TcpStream::connect(addr).unwrap();
    probe.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(client::read(&mut probe).status, 200);
    assert_eq!(sample(addr, "agent_ops_http_connections_dropped_total{reason=\"evicted\"}"), 0);
    // They are still open: each one still gets its answer.
    for mut s in silent.into_iter().take(20) {
        s.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(client::read(&mut s).status, 200);
    }
}

/// Past the connection cap, the oldest waiting connection makes room: a new client is always
/// answered, and the dropped ones are counted.
#[test]
fn when_every_slot_is_taken_the_oldest_waiting_connection_makes_room() {
    let server = serve(Options { max_connections: 4, ..Options::default() });
    let addr = server.local_addr();
    let mut silent: Vec<TcpStream> = Vec::new();
    for _ in 0..10 {
        silent.push(TcpStream::connect(addr).unwrap());
        // One at a time, so that the order of acceptance is the order of connection.
        while sample(addr, "agent_ops_http_connections_accepted_total") < 2 * silent.len() as u64 {
            std::thread::yield_now();
        }
    }
    assert_eq!(get(addr, "/healthz").status, 200);
    assert!(sample(addr, "agent_ops_http_connections_dropped_total{reason=\"evicted\"}") >= 6);
    // The first ones were closed without an answer; the newest is still held.
    let mut first = silent.remove(0);
    let mut rest = Vec::new();
    assert_eq!(first.read_to_end(&mut rest).unwrap_or(0), 0, "closed, nothing said");
    let mut newest = silent.pop().unwrap();
    newest.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(client::read(&mut newest).status, 200);
}

fn short_deadlines() -> Options {
    Options {
        head_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_millis(300),
        linger: Duration::from_millis(300),
        ..Options::default()
    }
}

/// A request line that never ends, and one dripped a byte at a time, both get 408 at the head
/// deadline (the test finishing is the proof that they do not hold the server), while other
/// clients are answered meanwhile.
#[test]
fn a_head_that_never_ends_gets_408_at_its_deadline() {
    let server = serve(short_deadlines());
    let addr = server.local_addr();
    let mut unended = TcpStream::connect(addr).unwrap();
    unended.write_all(b"GET /healthz HTTP/1.1").unwrap();
    let mut dripping = TcpStream::connect(addr).unwrap();
    let dripper = std::thread::spawn(move || {
        let mut sent = 0;
        for b in b"GET /healthz HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
            if dripping.write_all(&[*b]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        (sent, dripping)
    });
    assert_eq!(get(addr, "/healthz").status, 200, "answered while the others hold their connections");
    assert_eq!(client::read(&mut unended).status, 408);
    let (sent, mut dripping) = dripper.join().unwrap();
    assert!(sent < 8 * 1024, "cut off by the deadline, not by the size cap: {sent}");
    let mut rest = Vec::new();
    let _ = dripping.read_to_end(&mut rest);
    assert!(rest.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"), "{}", String::from_utf8_lossy(&rest));
    assert!(sample(addr, "agent_ops_http_connections_dropped_total{reason=\"timeout\"}") >= 2);
}

/// A 1 MiB header and a 1 MiB request line: answered 431 and 414 after 8 KiB, the rest read
/// and dropped (never kept), and the server goes on.
#[test]
fn oversized_heads_are_refused_after_8_kib() {
    let server = serve(Options::default());
    let addr = server.local_addr();
    let huge = |request: Vec<u8>| {
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let sent = writer.write_all(&request);
            let _ = writer.shutdown(Shutdown::Write);
            sent.is_ok()
        });
        let answer = client::read(&mut stream);
        (answer, sender.join().unwrap())
    };
    let mut header = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
    header.resize(header.len() + (1 << 20), b'a');
    header.extend_from_slice(b"\r\n\r\n");
    let (a, all_sent) = huge(header);
    assert_eq!(a.status, 431);
    assert!(all_sent, "the server read the rest and dropped it, so the client could send it all");
    let mut line = b"GET /".to_vec();
    line.resize(1 << 20, b'a');
    let (a, _) = huge(line);
    assert_eq!(a.status, 414);
    assert_eq!(get(addr, "/healthz").status, 200);
}

/// A client that asks for a large answer and never reads it is closed at the write deadline;
/// meanwhile others are answered.
#[test]
fn a_client_that_never_reads_is_closed_at_the_write_deadline() {
    let server = serve(short_deadlines());
    let addr = server.local_addr();
    server.publish(Snapshot { page: "x".repeat(64 << 20).into(), ..snapshot() });
    let mut stuck = TcpStream::connect(addr).unwrap();
    stuck.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(get(addr, "/healthz").status, 200);
    while sample(addr, "agent_ops_http_connections_dropped_total{reason=\"timeout\"}") < 1 {
        std::thread::yield_now();
    }
    let mut got = Vec::new();
    let _ = stuck.read_to_end(&mut got);
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n") && got.len() < 64 << 20, "cut off: {} bytes", got.len());
}

/// A new snapshot is answered from at once; a request in flight keeps the one it started with.
#[test]
fn publishing_swaps_the_snapshot_for_the_next_requests() {
    let server = serve(Options::default());
    let addr = server.local_addr();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    server.publish(Snapshot { page: "second".into(), ..snapshot() });
    assert_eq!(get(addr, "/").text(), "second");
    slow.write_all(b"\r\n").unwrap();
    assert_eq!(client::read(&mut slow).text(), "second", "answered when its head was complete");
}

/// Stopping closes every connection and ends the thread (the test returning is the proof).
#[test]
fn stop_closes_everything() {
    let server = serve(Options::default());
    let addr = server.local_addr();
    let mut held = TcpStream::connect(addr).unwrap();
    while sample(addr, "agent_ops_http_connections") < 2 {
        std::thread::yield_now();
    }
    server.stop();
    let mut rest = Vec::new();
    let n = held.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(TcpStream::connect(addr).is_err(), "nothing listens any more");
}

/// Badges for names from every class of character parse as XML (python3's parser, strict),
/// with the whole name (control characters replaced) as their title, and the drawn text cut.
#[test]
fn badges_for_any_name_are_well_formed_xml() {
    let Some(python) = test_support::require_tool("python3") else { return };
    let mut rng = test_support::Rng::new(15);
    let pool: Vec<char> = "aZ09 &<>\"'/%;=\u{0}\u{1}\t\n\r\u{1b}\u{7f}\u{85}\u{9b}\u{a0}é日本🙂\u{200b}\u{202e}\u{fffd}\u{fffe}\u{ffff}\u{10ffff}]]>-".chars().collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut expected = Vec::new();
    for i in 0..300 {
        let len = rng.between(1, 90);
        let name: String = (0..len).map(|_| pool[rng.between(0, pool.len() - 1)]).collect();
        let svg = Badge { label: name.clone(), message: "up".into(), color: Color::Red }.svg();
        std::fs::write(dir.join(format!("{i:03}.svg")), svg).unwrap();
        let shown: String = name
            .chars()
            .map(|c| if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' { '\u{fffd}' } else { c })
            .collect();
        let drawn = if shown.chars().count() > 64 {
            format!("{}…", shown.chars().take(64).collect::<String>())
        } else {
            shown.clone()
        };
        expected.push((format!("{shown}: up"), drawn));
    }
    let script = "import sys, json, glob, xml.dom.minidom as m\n\
        out = []\n\
        for f in sorted(glob.glob(sys.argv[1] + '/*.svg')):\n\
        \x20   d = m.parse(f)\n\
        \x20   texts = d.getElementsByTagName('text')\n\
        \x20   out.append([d.getElementsByTagName('title')[0].firstChild.data, texts[1].firstChild.data])\n\
        print(json.dumps(out))\n";
    let run = std::process::Command::new(python).args(["-c", script]).arg(dir).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let parsed: Vec<(String, String)> = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(parsed, expected);
}

/// What a test's ping handler was given: the path after `/ping/`, the body.
type Pinged = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A handler that records what it is given and knows one token, `tok`.
fn recording() -> (Pings, Pinged) {
    let seen: Pinged = Arc::default();
    let log = Arc::clone(&seen);
    let pings = Pings::new(move |rest, body| {
        log.lock().unwrap().push((rest.to_owned(), body.to_vec()));
        match rest.split_once('/').map_or(rest, |(token, _)| token) {
            "tok" => PingAnswer::new(200, "ok\n"),
            _ => PingAnswer::new(404, "not found\n"),
        }
    });
    (pings, seen)
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Response {
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: m\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(body);
    send(addr, &request)
}

#[test]
fn pings_reach_the_handler_with_their_body_and_need_no_basic_auth() {
    let (pings, seen) = recording();
    let auth = Credentials::new("ops", "pw").unwrap();
    let server = serve(Options { pings: Some(pings), auth: Some(auth), ..Options::default() });
    let addr = server.local_addr();
    let last = || seen.lock().unwrap().last().cloned().unwrap();

    let a = post(addr, "/ping/tok/start", b"");
    assert_eq!((a.status, a.text().as_str()), (200, "ok\n"));
    assert_eq!(a.header("content-type").unwrap(), "text/plain; charset=utf-8");
    assert_eq!(last(), ("tok/start".to_owned(), Vec::new()));
    assert_eq!(post(addr, "/ping/tok", b"hello").status, 200);
    assert_eq!(last(), ("tok".to_owned(), b"hello".to_vec()));
    assert_eq!(post(addr, "/ping/t%6Fk/fail?x=1", b"").status, 200, "decoded, without the query");
    assert_eq!(last().0, "tok/fail");
    let wrong = post(addr, "/ping/nope", b"");
    assert_eq!((wrong.status, wrong.text().as_str()), (404, "not found\n"), "the handler's answer");

    // The body in pieces, the head first.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /ping/tok/3 HTTP/1.1\r\nContent-Length: 11\r\n\r\nexit").unwrap();
    s.write_all(b" three").unwrap();
    s.write_all(b"!").unwrap();
    assert_eq!(client::read(&mut s).status, 200);
    assert_eq!(last(), ("tok/3".to_owned(), b"exit three!".to_vec()));

    // A large body: its first 2 KiB reach the handler, the rest is read and dropped.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut s = TcpStream::connect(addr).unwrap();
    let mut writer = s.try_clone().unwrap();
    let request =
        [format!("POST /ping/tok HTTP/1.1\r\nContent-Length: {}\r\n\r\n", big.len()).as_bytes(), &big]
            .concat();
    let sender = std::thread::spawn(move || writer.write_all(&request).is_ok());
    assert_eq!(client::read(&mut s).status, 200);
    assert!(sender.join().unwrap(), "the whole body was read");
    assert_eq!(last().1, big[..2048]);

    // GET and HEAD work (no body read); a chunked body is not read.
    assert_eq!(get(addr, "/ping/tok").status, 200);
    assert_eq!(last(), ("tok".to_owned(), Vec::new()));
    let head = send(addr, b"HEAD /ping/tok/start HTTP/1.1\r\n\r\n");
    assert_eq!(
        (head.status, head.body.len(), head.header("content-length").unwrap().as_str()),
        (200, 0, "3")
    );
    let chunked =
        send(addr, b"POST /ping/tok HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(chunked.status, 200);
    assert_eq!(last(), ("tok".to_owned(), Vec::new()));
    let count = seen.lock().unwrap().len();

    // Other methods are 405 on a ping, POST is 405 elsewhere; other routes still want auth.
    let put = send(addr, b"PUT /ping/tok HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((put.status, put.header("allow").unwrap().as_str()), (405, "GET, HEAD, POST"));
    let good = "Authorization: Basic b3BzOnB3";
    let elsewhere =
        send(addr, format!("POST /healthz HTTP/1.1\r\n{good}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    assert_eq!((elsewhere.status, elsewhere.header("allow").unwrap().as_str()), (405, "GET, HEAD"));
    assert_eq!(get(addr, "/healthz").status, 401);
    assert_eq!(send(addr, format!("GET /healthz HTTP/1.1\r\n{good}\r\n\r\n").as_bytes()).status, 200);
    assert_eq!(get(addr, "/ping").status, 401, "not a ping: no token");

    // A client that closes before its whole body is sent is never handed over.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /ping/tok/cut HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly this").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed without an answer");
    assert_eq!(post(addr, "/ping/tok/after", b"").status, 200);
    let seen_now: Vec<String> = seen.lock().unwrap()[count..].iter().map(|(r, _)| r.clone()).collect();
    assert_eq!(seen_now, ["tok/after"]);

    let metrics = send(addr, format!("GET /metrics HTTP/1.1\r\n{good}\r\n\r\n").as_bytes()).text();
    assert!(metrics.contains("\nagent_ops_http_pings_total{result=\"ok\"} 9\n"), "{metrics}");
    assert!(metrics.contains("\nagent_ops_http_pings_total{result=\"not_found\"} 1\n"), "{metrics}");
    assert!(metrics.contains("\nagent_ops_http_pings_total{result=\"busy\"} 0\n"), "{metrics}");
    assert!(metrics.contains("\nagent_ops_http_pings_waiting 0\n"), "{metrics}");
}

#[test]
fn without_a_handler_a_ping_is_404() {
    let server = serve(Options::default());
    let a = post(server.local_addr(), "/ping/tok", b"x");
    assert_eq!((a.status, a.text().as_str()), (404, "not found\n"));
    assert!(!get(server.local_addr(), "/metrics").text().contains("agent_ops_http_pings"));
}

/// A handler held by the test: it says when it is entered, and returns when released.
fn held(queue: usize) -> (Pings, mpsc::Receiver<String>, mpsc::Sender<()>) {
    let (entered, entries) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let mut pings = Pings::new(move |rest, _| {
        entered.send(rest.to_owned()).unwrap();
        released.lock().unwrap().recv().unwrap();
        PingAnswer::new(200, "ok\n")
    });
    pings.queue = queue;
    (pings, entries, release)
}

/// A ping handler that blocks (on a file lock, say) holds no one else: /healthz is answered
/// while it is blocked; past the queue, a ping is answered 503 at once; the blocked ones are
/// answered once it returns.
#[test]
fn a_blocked_ping_handler_delays_no_other_request_and_a_full_queue_is_503() {
    let (pings, entries, release) = held(1);
    let server = serve(Options { pings: Some(pings), ..Options::default() });
    let addr = server.local_addr();
    let start = |path: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(format!("POST {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n").as_bytes()).unwrap();
        s
    };
    let mut first = start("/ping/one");
    assert_eq!(entries.recv().unwrap(), "one");
    let health = get(addr, "/healthz");
    assert_eq!(health.status, 200, "answered while the handler is blocked");
    let mut second = start("/ping/two");
    // Queued: two connections wait for the worker.
    while sample(addr, "agent_ops_http_pings_waiting") < 2 {
        std::thread::yield_now();
    }
    let busy = post(addr, "/ping/three", b"");
    assert_eq!((busy.status, busy.header("retry-after").as_deref()), (503, Some("1")));
    assert_eq!(busy.text(), "busy: too many pings are waiting; try again\n");
    release.send(()).unwrap();
    assert_eq!(client::read(&mut first).status, 200);
    assert_eq!(entries.recv().unwrap(), "two", "the queued one, never the refused one");
    release.send(()).unwrap();
    assert_eq!(client::read(&mut second).status, 200);
    assert_eq!(sample(addr, "agent_ops_http_pings_total{result=\"busy\"}"), 1);
    assert_eq!(sample(addr, "agent_ops_http_pings_total{result=\"ok\"}"), 2);
}

/// A ping whose handler outlasts the write deadline: the client is closed without an answer,
/// the handler still finishes (the ping is recorded), and its answer is dropped.
#[test]
fn a_ping_past_its_write_deadline_is_closed_and_its_answer_dropped() {
    let (pings, entries, release) = held(4);
    let server = serve(Options { pings: Some(pings), ..short_deadlines() });
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /ping/slow HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(entries.recv().unwrap(), "slow");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.is_empty(), "closed without an answer: {}", String::from_utf8_lossy(&got));
    assert_eq!(sample(addr, "agent_ops_http_connections_dropped_total{reason=\"timeout\"}"), 1);
    release.send(()).unwrap();
    while sample(addr, "agent_ops_http_pings_total{result=\"ok\"}") < 1 {
        std::thread::yield_now();
    }
    assert_eq!(sample(addr, "agent_ops_http_pings_waiting"), 0);
}
