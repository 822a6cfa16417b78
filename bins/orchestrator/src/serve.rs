//! `--loop` with `--listen ADDR` or `http.listen`: the status server, started before the first
//! pass (a bad address or a port in use stops the daemon at once), given a snapshot after each
//! pass, and stopped with the loop (when it is dropped).

use std::net::SocketAddr;

use ops_cli::Failure;
use ops_kit::pass::{PassError, PassReport};
use ops_kit::serve::Publisher;
use ops_kit::{Config, Layout};
use ops_serve::{Credentials, Options, Server};

use crate::render;

/// The server and what builds its snapshots, when serving was asked for.
pub struct Http(Option<(Server, Publisher, Layout)>);

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
        let server = Server::bind(addr, Options { auth, ..Options::default() }).map_err(Failure::failed)?;
        ops_cli::out(&format!(
            "{}\n",
            render::serving(server.local_addr(), config.http.basic_auth.is_some())
        ));
        Ok(Self(Some((server, Publisher::default(), layout.clone()))))
    }

    /// Serves what the pass just run (with `config`) left.
    pub fn publish(&mut self, result: &Result<PassReport, PassError>, config: &Config) {
        if let Some((server, publisher, layout)) = &mut self.0 {
            server.publish(publisher.after_pass(layout, config, result));
        }
    }
}
