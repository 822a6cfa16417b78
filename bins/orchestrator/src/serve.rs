//! `--loop` with `--listen ADDR` or `http.listen`: the status server, started before the first
//! pass (a bad address or a port in use stops the daemon at once), given a snapshot and the
//! configuration of the pass (for job pings, `/ping/TOKEN...`) after each pass, and stopped
//! with the loop (when it is dropped).

use std::net::SocketAddr;

use ops_cli::Failure;
use ops_kit::pass::{PassError, PassReport};
use ops_kit::serve::{Publisher, SharedConfig, pings};
use ops_kit::{Config, Layout};
use ops_serve::{Credentials, Options, Server};

use crate::render;

/// The server, what builds its snapshots and the configuration its pings see, when serving
/// was asked for.
pub struct Http(Option<(Server, Publisher, Layout, SharedConfig)>);

impl Http {
    /// Starts serving on `listen` (the flag) or `http.listen`, and says where; nothing when
    /// neither asks. An address beyond loopback without basic auth (and without `http.public`)
    /// is a usage error (exit 2); one that cannot be listened on fails (exit 1).
    pub fn start(layout: &Layout, config: &Config, listen: Option<SocketAddr>) -> Result<Self, Failure> {
        let Some(addr) = listen.or(config.http.listen) else { return Ok(Self(None)) };
        config.http.exposure(addr).map_err(|e| Failure::usage(format!("--listen: {e}")))?;
        let auth = match &config.http.basic_auth {
            Some(a) => Some(Credentials::new(&a.user, a.password.expose()).map_err(Failure::usage)?),
            None => None,
        };
        let shared = SharedConfig::new(config);
        // A ping that cannot be recorded is said on standard error (the job and the file, never
        // the token).
        let pings = pings(shared.clone(), layout.clone(), |e| ops_cli::err(&format!("error: {e}\n")));
        let options = Options { auth, pings: Some(pings), ..Options::default() };
        let server = Server::bind(addr, options).map_err(Failure::failed)?;
        ops_cli::out(&format!(
            "{}\n",
            render::serving(server.local_addr(), config.http.basic_auth.is_some())
        ));
        Ok(Self(Some((server, Publisher::default(), layout.clone(), shared))))
    }

    /// Serves what the pass just run (with `config`) left; pings are checked against `config`
    /// from now on.
    pub fn publish(&mut self, result: &Result<PassReport, PassError>, config: &Config) {
        if let Some((server, publisher, layout, shared)) = &mut self.0 {
            shared.set(config);
            server.publish(publisher.after_pass(layout, config, result));
        }
    }
}
