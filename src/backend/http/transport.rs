//! One JSON POST to the synchronization server, with timeouts and retries, and every failure
//! turned into an [`Error::Remote`] that names the server (redacted) and the route.
//!
//! werf's own client has no timeout at all (`&http.Client{}`) and retries every lock call up
//! to 10 times with random 0–9 s sleeps (`LockerWithRetry`). Here a call has a connect
//! timeout and a whole-request timeout, and transient failures — the server unreachable, a
//! timeout, a dropped connection, a 5xx — are retried a few times with doubling backoff, so
//! a dead server is reported within seconds instead of hanging or taking minutes.
//! Answers outside the protocol (4xx, a body that is not the expected JSON) are not
//! retried: trying again would get the same answer.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// Timeouts and retries of every request. The defaults bound a call to a dead or
/// unreachable server to about 20 s in the worst case (a server that accepts connections
/// and never answers), and to about 2 s when connections are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// Longest wait for the TCP (and TLS) connection. Default 3 s.
    pub connect_timeout: Duration,
    /// Longest time for a whole request, connection included. Default 5 s: well within the
    /// 10 s lease, so a hung renewal is retried before the lease can expire.
    pub request_timeout: Duration,
    /// How many times a call is tried when it fails transiently (at least 1). Default 4.
    pub attempts: u32,
    /// The sleep after the first failure, doubling after each further one. Default 250 ms.
    pub backoff: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            attempts: 4,
            backoff: Duration::from_millis(250),
        }
    }
}

/// How one request failed.
#[derive(Debug)]
pub(super) struct Failure {
    pub reason: String,
    /// Worth trying again (the server may answer next time).
    pub transient: bool,
    /// The request may have reached the server and been carried out.
    pub maybe_delivered: bool,
}

/// The outcome of a call that may have been tried several times.
pub(super) struct Delivered<T> {
    pub response: T,
    /// An earlier attempt failed after it may have reached the server: its effect (a
    /// granted lease, a release) may have happened although we never saw the answer.
    pub earlier_attempt_maybe_delivered: bool,
}

/// A configured HTTP agent for one server.
#[derive(Debug)]
pub(super) struct Transport {
    agent: ureq::Agent,
    options: HttpOptions,
    /// The server's address, redacted, for errors.
    server: String,
}

impl Transport {
    pub fn new(redacted_server: String, options: HttpOptions) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            // Status codes are checked here, so that an error can quote the body.
            .http_status_as_error(false)
            // werf's server never redirects; following a redirect would turn a POST into a
            // GET. A 3xx is reported instead.
            .max_redirects(0)
            .tls_config(tls)
            .user_agent(concat!("werf-sync/", env!("CARGO_PKG_VERSION")))
            .build();
        Transport {
            agent: ureq::Agent::new_with_config(config),
            options: HttpOptions {
                attempts: options.attempts.max(1),
                ..options
            },
            server: redacted_server,
        }
    }

    pub fn options(&self) -> HttpOptions {
        self.options
    }

    /// POSTs `request` as JSON to `url` and decodes the answer, retrying transient failures
    /// up to `attempts` times (at least once). `route` names the call in errors.
    pub fn post<Q: Serialize, R: DeserializeOwned>(
        &self,
        url: &str,
        route: &str,
        request: &Q,
        attempts: u32,
    ) -> Result<Delivered<R>, Error> {
        let body = serde_json::to_vec(request).map_err(|err| self.error(route, err.to_string()))?;
        let attempts = attempts.max(1);
        let mut backoff = self.options.backoff;
        let mut maybe_delivered = false;
        for attempt in 1..=attempts {
            match self.post_once(url, &body) {
                Ok(response) => {
                    return Ok(Delivered {
                        response,
                        earlier_attempt_maybe_delivered: maybe_delivered,
                    })
                }
                Err(failure) if failure.transient && attempt < attempts => {
                    log::warn!(
                        "{}: POST {route}: {} (attempt {attempt} of {attempts}; retrying in {backoff:?})",
                        self.server,
                        failure.reason
                    );
                    maybe_delivered |= failure.maybe_delivered;
                    std::thread::sleep(backoff);
                    backoff = backoff.saturating_mul(2);
                }
                Err(failure) => {
                    let tries = if attempt > 1 {
                        format!(" (after {attempt} attempts)")
                    } else {
                        String::new()
                    };
                    return Err(self.error(route, format!("{}{tries}", failure.reason)));
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    fn post_once<R: DeserializeOwned>(&self, url: &str, body: &[u8]) -> Result<R, Failure> {
        let mut response = self
            .agent
            .post(url)
            .content_type("application/json")
            .send(body)
            .map_err(classify)?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|err| Failure {
                reason: format!("reading the answer (HTTP {status}): {err}"),
                transient: true,
                maybe_delivered: true,
            })?;
        if status != 200 {
            return Err(Failure {
                reason: format!("HTTP {status}: {}", excerpt(&text)),
                transient: status.is_server_error(),
                maybe_delivered: true,
            });
        }
        serde_json::from_str(&text).map_err(|err| Failure {
            reason: format!(
                "the answer is not the JSON of werf's synchronization server ({err}): {}",
                excerpt(&text)
            ),
            transient: false,
            maybe_delivered: true,
        })
    }

    /// An [`Error::Remote`] naming the server and the route.
    pub fn error(&self, route: &str, reason: impl std::fmt::Display) -> Error {
        Error::Remote {
            address: self.server.clone(),
            reason: format!("POST …/{route}: {reason}"),
        }
    }
}

/// Classifies a failed request: which failures certainly never reached the server.
fn classify(err: ureq::Error) -> Failure {
    use std::io::ErrorKind;
    use ureq::Timeout;
    let not_sent = match &err {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable | ErrorKind::NotFound
        ),
        _ => false,
    };
    let transient = not_sent
        || matches!(
            err,
            ureq::Error::Timeout(_) | ureq::Error::Io(_) | ureq::Error::Protocol(_)
        );
    Failure {
        reason: match &err {
            ureq::Error::Timeout(which) => format!("timed out ({which})"),
            other => other.to_string(),
        },
        transient,
        maybe_delivered: !not_sent,
    }
}

/// The start of an answer's body, for an error message.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{:?}…", &text[..at]),
        None => format!("{text:?}"),
    }
}
