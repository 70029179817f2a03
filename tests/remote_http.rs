//! `http(s)://` synchronization against the real server side (spec §5): lockgate v0.1.1's
//! handler, backend and in-memory store behind werf's routing, and Go peers on lockgate's
//! own `DistributedLocker` over HTTP — werf's client code path. Needs Go (the tests fail,
//! saying so, without it). The waits for a lease to expire (10–11 s) run in parallel
//! threads of one test, so the file takes about 20 s.

#[path = "remote/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use harness::{GoPeer, Proc, Server};
use werf_sync::backend::distributed::DistributedLocker;
use werf_sync::backend::http::{HttpLeaseBackend, HttpOptions};
use werf_sync::backend::{conformance, LockBackend};
use werf_sync::{Address, Error, LockMode, LockOptions, Synchronization, WerfHome};

const SECOND: Duration = Duration::from_secs(1);

/// How long lockgate's Go peer may take to notice a release: its poll period is 2 s.
const GO_TAKEOVER: Duration = Duration::from_millis(3500);

type Locker = DistributedLocker<HttpLeaseBackend>;

fn http_address(url: &str) -> werf_sync::address::HttpAddress {
    match Address::parse(url).unwrap() {
        Address::Http(a) => a,
        other => panic!("not http: {other:?}"),
    }
}

/// A Rust client in `client_id`'s namespace, polling every 100 ms.
fn client(url: &str, client_id: &str) -> Locker {
    client_with(url, client_id, HttpOptions::default())
}

fn client_with(url: &str, client_id: &str, options: HttpOptions) -> Locker {
    let backend = HttpLeaseBackend::new(&http_address(url), Some(client_id), options).unwrap();
    DistributedLocker::new(backend).poll_interval(Duration::from_millis(100))
}

fn fresh_id() -> String {
    uuid_like()
}

/// A unique client ID per call, so tests sharing a server never share a namespace.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

#[test]
fn conformance_suite_passes_on_lockgates_server() {
    let server = Server::start();
    let id = fresh_id();
    conformance::lock_backend(&|| Box::new(client(&server.url, &id))).unwrap();
}

#[test]
fn rust_and_go_exclude_each_other_exclusively() {
    let server = Server::start();
    let (url, id) = (&server.url, &fresh_id());
    let rust = client(url, id);

    // Rust holds: the Go peer's try fails, its blocking acquire waits, then takes over.
    let held = rust.lock_stage("p", "d1").unwrap();
    assert!(!GoPeer::try_once(url, id, "p.d1", false));
    assert!(
        !GoPeer::try_once(url, id, "p.d1", true),
        "shared vs exclusive"
    );
    let waiting = GoPeer::start(url, id, "p.d1", &[]);
    waiting.0.expect("WAITING", 5 * SECOND);
    assert!(!waiting.0.says_within("ACQUIRED", SECOND));
    rust.unlock(&held).unwrap();
    waiting.0.expect("ACQUIRED", GO_TAKEOVER);

    // Go holds: Rust's try finds it held, its blocking lock waits, then takes over within
    // one poll interval of the release.
    assert!(rust
        .try_lock("p.d1", LockMode::Exclusive)
        .unwrap()
        .is_none());
    assert!(rust.try_lock("p.d1", LockMode::Shared).unwrap().is_none());
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let waited = Mutex::new(false);
            let handle = rust
                .lock(
                    "p.d1",
                    LockOptions::exclusive().on_wait(|_| *waited.lock().unwrap() = true),
                )
                .unwrap();
            tx.send((Instant::now(), handle, *waited.lock().unwrap()))
                .unwrap();
        });
        assert!(rx.recv_timeout(SECOND).is_err(), "granted while Go holds");
        let released = Instant::now();
        waiting.release();
        let (granted, handle, waited) = rx.recv_timeout(5 * SECOND).unwrap();
        assert!(waited, "the on-wait callback ran");
        assert!(
            granted.duration_since(released) < SECOND,
            "took {:?}",
            granted.duration_since(released)
        );
        rust.unlock(&handle).unwrap();
    });
    assert!(GoPeer::try_once(url, id, "p.d1", false));
}

#[test]
fn shared_locks_share_across_languages_and_exclude_writers() {
    let server = Server::start();
    let (url, id) = (&server.url, &fresh_id());
    let rust = client(url, id);

    let rust_shared = rust.try_lock("p.s", LockMode::Shared).unwrap().unwrap();
    let go_shared = GoPeer::start(url, id, "p.s", &["-shared", "-try"]);
    let line = go_shared.0.expect("ACQUIRED", 5 * SECOND);
    assert!(
        line.ends_with(&rust_shared.uuid),
        "lockgate gives every shared holder one uuid: {line} vs {rust_shared:?}"
    );
    assert!(!GoPeer::try_once(url, id, "p.s", false), "Go writer");
    rust.unlock(&rust_shared).unwrap();
    // The Go reader still holds it.
    assert!(rust.try_lock("p.s", LockMode::Exclusive).unwrap().is_none());
    go_shared.release();
    let writer = rust.try_lock("p.s", LockMode::Exclusive).unwrap().unwrap();
    assert!(
        !GoPeer::try_once(url, id, "p.s", true),
        "Go reader vs writer"
    );
    rust.unlock(&writer).unwrap();
}

#[test]
fn different_client_ids_do_not_exclude_each_other() {
    let server = Server::start();
    let (a, b) = (fresh_id(), fresh_id());
    let rust = client(&server.url, &a);
    let held = rust.lock_stage("p", "d").unwrap();
    let other = client(&server.url, &b);
    let theirs = other.try_lock("p.d", LockMode::Exclusive).unwrap().unwrap();
    assert!(
        !GoPeer::try_once(&server.url, &b, "p.d", false),
        "Go in b vs Rust in b"
    );
    assert!(!GoPeer::try_once(&server.url, &a, "p.d", false));
    other.unlock(&theirs).unwrap();
    assert!(GoPeer::try_once(&server.url, &b, "p.d", false));
    rust.unlock(&held).unwrap();
}

/// The role of a child process: hold a lock with the Rust client until killed.
const HOLDER_ENV: &str = "WERF_SYNC_TEST_HTTP_HOLDER";

#[test]
fn holder_process() {
    let Ok(spec) = std::env::var(HOLDER_ENV) else {
        return; // not a child: nothing to do
    };
    let mut parts = spec.splitn(3, ' ');
    let (url, id, lock) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let rust = client(url, id);
    let handle = rust.lock(lock, LockOptions::exclusive()).unwrap();
    // On a line of its own: libtest has printed "test holder_process ... " without one.
    println!("\nACQUIRED {}", handle.uuid);
    std::thread::sleep(Duration::from_secs(600));
}

fn rust_holder_process(url: &str, id: &str, lock: &str) -> Proc {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "holder_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, format!("{url} {id} {lock}"));
    Proc::spawn(command, "rust holder process")
}

/// The long waits, in parallel: holds past the 10 s lease, and takeovers after SIGKILL.
#[test]
fn leases_outlive_their_ttl_while_renewed_and_expire_when_the_holder_is_killed() {
    let server = Server::start();
    let url = &server.url;
    std::thread::scope(|s| {
        // Rust holds 15 s: the Go peer is still excluded.
        s.spawn(|| {
            let id = fresh_id();
            let rust = client(url, &id);
            let held = rust.lock_stage("p", "long").unwrap();
            std::thread::sleep(15 * SECOND);
            assert!(!GoPeer::try_once(url, &id, "p.long", false));
            assert!(rust.lost(&held).is_none());
            rust.unlock(&held).unwrap();
        });
        // Go holds 15 s: Rust is still excluded.
        s.spawn(|| {
            let id = fresh_id();
            let go = GoPeer::start(url, &id, "p.long", &[]);
            go.0.expect("ACQUIRED", 5 * SECOND);
            std::thread::sleep(15 * SECOND);
            let rust = client(url, &id);
            assert!(rust
                .try_lock("p.long", LockMode::Exclusive)
                .unwrap()
                .is_none());
            go.release();
        });
        // SIGKILL of the Go holder: Rust takes over once the lease expires.
        s.spawn(|| {
            let id = fresh_id();
            let mut go = GoPeer::start(url, &id, "p.kill", &[]);
            go.0.expect("ACQUIRED", 5 * SECOND);
            let rust = client(url, &id);
            go.0.kill();
            let killed = Instant::now();
            let handle = rust
                .lock("p.kill", LockOptions::exclusive().timeout(20 * SECOND))
                .unwrap();
            let took = killed.elapsed();
            assert!(took <= 12 * SECOND, "took over after {took:?}");
            rust.unlock(&handle).unwrap();
        });
        // SIGKILL of a Rust holder process: the Go peer takes over once the lease expires.
        s.spawn(|| {
            let id = fresh_id();
            let mut holder = rust_holder_process(url, &id, "p.kill");
            holder.expect("ACQUIRED", 10 * SECOND);
            let waiter = GoPeer::start(url, &id, "p.kill", &[]);
            waiter.0.expect("WAITING", 5 * SECOND);
            holder.kill();
            let killed = Instant::now();
            waiter.0.expect("ACQUIRED", 15 * SECOND);
            let took = killed.elapsed();
            assert!(
                took >= 5 * SECOND,
                "the lease outlived its holder only {took:?}"
            );
            waiter.release();
        });
    });
}

#[test]
fn a_server_restart_loses_the_lease_and_says_so() {
    let mut server = Server::start();
    let id = fresh_id();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let rust = client(&server.url, &id).on_lost_lease(move |err| {
        let _ = tx.lock().unwrap().send(err.to_string());
    });
    let held = rust.lock_stage("p", "restart").unwrap();
    server.restart();
    let message = rx
        .recv_timeout(6 * SECOND)
        .expect("on_lost_lease was called");
    assert!(
        message.contains("p.restart") && message.contains("no existing lock lease found"),
        "{message}"
    );
    assert!(matches!(rust.lost(&held), Some(Error::LostLease { .. })));
    let err = rust.unlock(&held).unwrap_err();
    assert!(matches!(err, Error::LostLease { .. }), "{err}");
    // The restarted server works: the lock is free again.
    let again = rust.lock_stage("p", "restart").unwrap();
    rust.unlock(&again).unwrap();
}

/// A one-connection-at-a-time HTTP server that answers every request with `response`.
fn canned_server(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

fn quick() -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
        attempts: 2,
        backoff: Duration::from_millis(50),
    }
}

#[test]
fn protocol_violations_and_dead_servers_are_clear_errors() {
    let server = Server::start();
    let expect_remote = |locker: &Locker, wants: &[&str]| {
        let started = Instant::now();
        let err = locker.try_lock("p.d", LockMode::Exclusive).unwrap_err();
        assert!(
            started.elapsed() < 5 * SECOND,
            "took {:?}",
            started.elapsed()
        );
        let message = err.to_string();
        assert!(matches!(err, Error::Remote { .. }), "{err:?}");
        assert!(message.contains("locker/acquire"), "{message}");
        for want in wants {
            assert!(message.contains(want), "{message} lacks {want:?}");
        }
        assert!(!message.contains("secret"), "{message}");
    };
    // 404: a base URL the server does not route (credentials must not show).
    let with_creds = server.url.replace("http://", "http://user:secret@");
    expect_remote(
        &client_with(&format!("{with_creds}/nope"), "c", quick()),
        &["HTTP 404", &format!("{}/nope", server.url)],
    );
    // 400, as lockgate answers a body it cannot decode.
    let bad_request = canned_server(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 41\r\nConnection: close\r\n\r\nunable to unmarshal request json: EOF\r\n\r\n",
    );
    expect_remote(
        &client_with(&bad_request, "c", quick()),
        &["HTTP 400", "unable to unmarshal request json"],
    );
    // A 200 whose body is not the protocol's JSON.
    let garbage =
        canned_server("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<garbage>");
    expect_remote(
        &client_with(&garbage, "c", quick()),
        &["not the JSON of werf's synchronization server", "<garbage>"],
    );
    // A 200 with an error the protocol does not know.
    let unknown = canned_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 24\r\nConnection: close\r\n\r\n{\"err\":\"disk on fire\"}\n\r\n",
    );
    expect_remote(&client_with(&unknown, "c", quick()), &["disk on fire"]);
    // Nobody listening: refused at once, retried, reported naming the address.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    expect_remote(
        &client_with(&dead, "c", quick()),
        &[&dead, "after 2 attempts"],
    );
    // Accepts connections and never answers: the request timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    expect_remote(
        &client_with(&silent_url, "c", quick()),
        &["timed out", "after 2 attempts"],
    );
    drop(silent);
    // With the default options a dead server is reported within seconds too.
    let started = Instant::now();
    let err = client(&dead, "c")
        .lock("p.d", LockOptions::exclusive())
        .unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    assert!(started.elapsed() < 5 * SECOND, "{:?}", started.elapsed());
}

#[test]
fn synchronization_for_an_http_address_gets_a_fresh_client_id() {
    let server = Server::start();
    let home_dir = tempfile::tempdir().unwrap();
    let home = WerfHome::new(home_dir.path()).unwrap();
    let address = Address::parse(&server.url).unwrap();
    let sync = Synchronization::new(address.clone(), home.clone());
    sync.ensure_available().unwrap();
    let id = sync.client_id().unwrap().expect("an http client ID");
    assert_eq!(id.len(), 36, "a uuid from /new-client-id: {id}");
    let held = sync.locks().lock_stage("p", "d").unwrap();
    // A second synchronization with that ID shares the namespace; without it, it does not.
    let same = Synchronization::with_client_id(address.clone(), home.clone(), Some(&id)).unwrap();
    assert!(same
        .locks()
        .try_lock("p.d", LockMode::Exclusive)
        .unwrap()
        .is_none());
    assert!(!GoPeer::try_once(&server.url, &id, "p.d", false));
    let other = Synchronization::new(address.clone(), home.clone());
    let theirs = other
        .locks()
        .try_lock("p.d", LockMode::Exclusive)
        .unwrap()
        .unwrap();
    assert_ne!(other.client_id().unwrap().unwrap(), id);
    other.locks().unlock(&theirs).unwrap();
    sync.locks().unlock(&held).unwrap();
    // Nothing of :local was touched.
    assert!(!home_dir.path().join("service").exists());
    // A client ID that cannot be a path segment is refused up front.
    let err = Synchronization::with_client_id(address, home, Some("a/b")).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}
