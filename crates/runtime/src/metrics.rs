//! The Prometheus endpoint: a registry and a tiny HTTP server that answers
//! `GET /metrics` in the text exposition format.

use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A registry shared by a service's parts.
pub type SharedRegistry = Arc<Mutex<Registry>>;

/// A new, empty registry with a prefix (e.g. `refute_executor`).
pub fn registry(prefix: &str) -> SharedRegistry {
    Arc::new(Mutex::new(Registry::with_prefix(prefix)))
}

/// The registry in the text exposition format.
pub fn render(registry: &SharedRegistry) -> String {
    let mut out = String::new();
    let reg = registry.lock().unwrap_or_else(|e| e.into_inner());
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String cannot fail");
    out
}

/// Binds `addr` and serves `/metrics` until the task is dropped. Returns the bound
/// address (useful with port 0).
pub async fn serve(addr: SocketAddr, registry: SharedRegistry) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            let registry = registry.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let response = if request.starts_with("GET /metrics") {
                    let body = render(&registry);
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
                };
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[tokio::test]
    async fn serves_registered_metrics() {
        let reg = registry("refute_test");
        let c: Counter = Counter::default();
        reg.lock().unwrap().register("moves", "Moves sent", c.clone());
        c.inc_by(3);
        let addr = serve("127.0.0.1:0".parse().unwrap(), reg).await.unwrap();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("refute_test_moves_total 3"), "{body}");
    }
}
