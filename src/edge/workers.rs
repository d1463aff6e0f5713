//! The threads that serve connections: each runs its own single-threaded event loop, and
//! a connection lives on one of them from its first byte to its last, as in nginx's worker
//! processes. A request's read, handler and write then happen on one thread with no
//! hand-over between threads, which on a loaded machine is what requests per second
//! depend on most (the work per request is the same either way).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio_util::sync::CancellationToken;

/// Running connection threads, handed connections in turn.
pub(super) struct Workers {
    handles: Vec<Handle>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
    stop: CancellationToken,
}

impl Workers {
    /// Starts `count` threads (at least one).
    pub(super) fn start(count: usize) -> std::io::Result<Self> {
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        for i in 0..count.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("sessiond-http-{i}"))
                .spawn(move || {
                    runtime.block_on(stop.cancelled());
                    // What is still running was given its drain time by the edge.
                    runtime.shutdown_background();
                })?;
            threads.push(thread);
        }
        Ok(Self {
            handles,
            threads,
            next: AtomicUsize::new(0),
            stop,
        })
    }

    /// The thread the next connection goes to.
    pub(super) fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    /// Stops every thread (ending what still runs on them) and waits for them.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}
