//! The real server side for the `http(s)://` tests (spec §5): lockgate v0.1.1's server code
//! behind werf's routing, and a Go peer on lockgate's own `DistributedLocker` — both built
//! from the Go module in tests/remote/lockgate. Every process started here is killed when
//! its guard drops, also when a test fails.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds the Go programs once per test process, into `target/tmp/lockgate-bin` (Go's own
/// build cache makes a rebuild take a second or two; a cold one about a minute).
pub fn go_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remote/lockgate");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lockgate-bin");
        // `go build -o` writes several programs only into an existing directory.
        std::fs::create_dir_all(&out).map_err(|err| format!("{}: {err}", out.display()))?;
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .args(["./server", "./peer"])
            .current_dir(&module)
            .status()
            .map_err(|err| {
                format!(
                    "the http(s) tests need the Go toolchain (go 1.24 or later) to build \
                     lockgate v0.1.1's server and peer from {}: running `go` failed: {err}",
                    module.display()
                )
            })?;
        if !status.success() {
            return Err(format!(
                "`go build ./server ./peer` in {} failed ({status}); see its output above",
                module.display()
            ));
        }
        Ok(out)
    });
    match dir {
        Ok(dir) => dir.join(name),
        Err(message) => panic!("{message}"),
    }
}

/// A child process whose standard output is read line by line on a thread.
pub struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub name: String,
}

impl Proc {
    pub fn spawn(mut command: Command, name: &str) -> Proc {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("starting {name}: {err}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            stdin: child.stdin.take(),
            child,
            lines,
            name: name.to_owned(),
        }
    }

    /// Waits up to `within` for a line starting with `prefix`, skipping others; returns it.
    pub fn expect(&self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no {prefix:?} line within {within:?}", self.name)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: exited before printing {prefix:?}", self.name)
                }
            }
        }
    }

    /// Whether a line starting with `prefix` comes within `within`.
    pub fn says_within(&self, prefix: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Closes the child's standard input (a peer then releases its lock and exits).
    pub fn close_stdin(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
    }

    /// The child's process ID.
    #[allow(dead_code)] // not every test file signals its children
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// lockgate's server behind werf's routing, on 127.0.0.1.
pub struct Server {
    proc: Proc,
    pub url: String,
}

impl Server {
    /// On an ephemeral port.
    pub fn start() -> Server {
        Server::start_on("127.0.0.1:0")
    }

    /// On `addr` (`HOST:PORT`), e.g. the port of a server that was stopped.
    pub fn start_on(addr: &str) -> Server {
        let mut command = Command::new(go_bin("server"));
        command.args(["-addr", addr]);
        let proc = Proc::spawn(command, "lockgate server");
        let line = proc.expect("LISTENING ", Duration::from_secs(10));
        let url = line["LISTENING ".len()..].to_owned();
        Server { proc, url }
    }

    /// `HOST:PORT`.
    pub fn addr(&self) -> &str {
        &self.url["http://".len()..]
    }

    /// Kills the server (all its state is lost, as on a restart of werf's server) and starts
    /// a new one on the same port.
    pub fn restart(&mut self) {
        self.proc.kill();
        let addr = self.addr().to_owned();
        *self = Server::start_on(&addr);
    }
}

/// A Go process holding (or trying to hold) one lock with lockgate's `DistributedLocker`.
pub struct GoPeer(pub Proc);

impl GoPeer {
    pub fn start(url: &str, client_id: &str, lock: &str, extra: &[&str]) -> GoPeer {
        let mut command = Command::new(go_bin("peer"));
        command
            .args(["-url", url, "-client-id", client_id, "-lock", lock])
            .args(extra);
        GoPeer(Proc::spawn(command, &format!("go peer on {lock}")))
    }

    /// Releases (by closing its standard input) and waits for it to exit.
    pub fn release(mut self) {
        self.0.close_stdin();
        self.0.expect("RELEASED", Duration::from_secs(15));
        assert!(self.0.wait().success(), "go peer exited with an error");
    }

    /// One non-blocking acquire: `true` if it got the lock (then released it).
    pub fn try_once(url: &str, client_id: &str, lock: &str, shared: bool) -> bool {
        let mut extra = vec!["-try"];
        if shared {
            extra.push("-shared");
        }
        let mut peer = GoPeer::start(url, client_id, lock, &extra);
        peer.0.close_stdin();
        let status = peer.0.wait();
        match status.code() {
            Some(0) => true,
            Some(3) => false,
            _ => panic!("go peer -try on {lock} failed: {status}"),
        }
    }
}
