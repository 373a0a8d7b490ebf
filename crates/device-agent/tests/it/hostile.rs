//! Issue 12, item 9: a hostile server cannot redirect the agent's check-in to another origin,
//! nor stream an unbounded response into its memory. Real HTTP servers on loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use device_agent::client::{CaCerts, CheckinBody, Client, ClientError, MAX_RESPONSE_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves every connection with `respond(stream)` after reading the request head and body
/// (up to a pause); counts connections.
async fn serve<F, Fut>(respond: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            let respond = respond.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                // Read the request (head and small JSON body).
                let mut got = Vec::new();
                while !contains(&got, b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                respond(s).await;
            });
        }
    });
    (format!("http://{addr}"), hits)
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

fn client(base: &str) -> Client {
    Client::new(base, &CaCerts::default()).expect("client")
}

#[tokio::test]
async fn no_redirect_to_another_origin() {
    let (other, other_hits) = serve(|mut s| async move {
        let _ = s
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            )
            .await;
    })
    .await;
    let location = format!("{other}/api/v1/checkin");
    let (base, _) = serve(move |mut s| {
        let location = location.clone();
        async move {
            let head = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes()).await;
        }
    })
    .await;
    let r = client(&base)
        .checkin("device-token-secret", &CheckinBody::full(&[], &[], 1))
        .await;
    let e = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("another origin"), "{e}");
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "the other host was contacted"
    );
}

#[tokio::test]
async fn a_huge_streamed_response_is_refused() {
    // Chunked, no length: 64 MiB of JSON-ish bytes, streamed.
    let (base, _) = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..64 {
            let head = format!("{:x}\r\n", chunk.len());
            if s.write_all(head.as_bytes()).await.is_err()
                || s.write_all(&chunk).await.is_err()
                || s.write_all(b"\r\n").await.is_err()
            {
                return;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let r = client(&base)
        .checkin("t", &CheckinBody::full(&[], &[], 1))
        .await;
    match r {
        Err(ClientError::Retryable(m)) => assert!(m.contains("larger than 8 MiB"), "{m}"),
        other => panic!("expected a refused response, got {other:?}"),
    }
    assert_eq!(MAX_RESPONSE_BYTES, 8 << 20);
}

#[tokio::test]
async fn a_huge_declared_response_is_refused_unread() {
    let (base, _) = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 524288000\r\n\r\n{")
            .await;
        // Then nothing: a client that waited for 500 MB would hang here.
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    })
    .await;
    let r = client(&base)
        .checkin("t", &CheckinBody::full(&[], &[], 1))
        .await;
    match r {
        Err(ClientError::Retryable(m)) => assert!(m.contains("larger than 8 MiB"), "{m}"),
        other => panic!("expected a refused response, got {other:?}"),
    }
}
