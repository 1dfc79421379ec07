//! Shutdown on Ctrl-C or SIGTERM, observable by every task.

use tokio::sync::watch;

/// A handle that tells when shutdown was asked for.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown triggered by Ctrl-C or SIGTERM.
    pub fn on_signals() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    /// A shutdown triggered by the returned sender (for tests and embedding).
    pub fn manual() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    /// Whether shutdown was asked for.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until shutdown is asked for.
    pub async fn wait(&mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                // the sender is gone: nobody can ask any more; wait forever
                std::future::pending::<()>().await;
            }
        }
    }
}
