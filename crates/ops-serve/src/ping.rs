//! `/ping/REST`: the caller's handler, run on a worker thread of its own so that what it waits
//! for (a file, a lock) never holds the server's thread. The server hands it a ping through a
//! bounded queue and gets the answer back through a channel and its doorbell.

use std::fmt;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

/// What the ping handler answers: a status and a short plain text (`ok`, `not found`, or a
/// sentence). The server sends it as it is: it must not hold the request's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingAnswer {
    /// The HTTP status: 200, 404, 500...
    pub status: u16,
    /// The body (`text/plain`).
    pub text: String,
}

impl PingAnswer {
    /// An answer of `status` with `text`.
    pub fn new(status: u16, text: impl Into<String>) -> Self {
        Self { status, text: text.into() }
    }
}

type Handler = dyn Fn(&str, &[u8]) -> PingAnswer + Send + Sync;

/// The handler of `/ping/REST` ([`crate::Options::pings`]), and how many pings may wait for it.
///
/// It is called with `REST`, the path after `/ping/` without the query, percent-decoded
/// segment by segment and joined with `/` (so `%2F` reads as a slash, as in a badge's name),
/// and the request's body: the first 2 KiB of a `POST`'s body (`Content-Length`; a chunked
/// body is not read and the handler gets none), empty for `GET` and `HEAD`. It runs on one
/// worker thread, one ping at a time, never on the server's; a ping that finds
/// [`Pings::queue`] pings waiting is answered 503 at once. A client that gives up (or whose
/// write deadline passes) while its ping is handled is closed, and the answer dropped: the
/// handler still ran. `Debug` shows nothing of the handler.
#[derive(Clone)]
pub struct Pings {
    handler: Arc<Handler>,
    /// Pings waiting for the worker at most (besides the one it handles). At least 1.
    pub queue: usize,
}

impl Pings {
    /// `handler` for `/ping/REST`, with a queue of 64.
    pub fn new(handler: impl Fn(&str, &[u8]) -> PingAnswer + Send + Sync + 'static) -> Self {
        Self { handler: Arc::new(handler), queue: 64 }
    }
}

impl fmt::Debug for Pings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pings").field("queue", &self.queue).finish_non_exhaustive()
    }
}

/// A ping for the worker: the connection it answers (by its sequence number), its path and
/// body.
pub(crate) struct Job {
    pub seq: u64,
    pub rest: String,
    pub body: Vec<u8>,
}

/// The server's side of the worker.
pub(crate) struct Worker {
    jobs: SyncSender<Job>,
    /// Answers, by the sequence number of their connection.
    pub answers: Receiver<(u64, PingAnswer)>,
}

impl Worker {
    /// Starts the worker thread; `waker` is written to after each answer, to wake the server's
    /// thread. The thread ends when the server's side is dropped (after the ping it handles).
    pub fn start(pings: &Pings, waker: UnixStream) -> std::io::Result<Self> {
        let (jobs, queued) = mpsc::sync_channel::<Job>(pings.queue.max(1));
        let (answered, answers) = mpsc::channel();
        let handler = Arc::clone(&pings.handler);
        thread::Builder::new().name("http-ping".into()).spawn(move || {
            for job in queued {
                let answer = catch_unwind(AssertUnwindSafe(|| handler(&job.rest, &job.body)))
                    .unwrap_or_else(|_| PingAnswer::new(500, "internal error: the ping handler failed\n"));
                if answered.send((job.seq, answer)).is_err() {
                    break;
                }
                // A full doorbell already rings.
                let _ = (&waker).write(&[1]);
            }
        })?;
        Ok(Self { jobs, answers })
    }

    /// Queues `job`, without waiting; false when the queue is full (the worker cannot be
    /// gone: it outlives the server's thread).
    pub fn queue(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }
}
