//! W6's echo server and the HTTP plaintext workload's server.

use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

/// Binds host:port, says so on stderr, and serves each connection with
/// `handle` in a task of its own until SIGINT or SIGTERM. Returns the exit
/// status.
async fn serve<F, Fut>(host: String, port: u16, handle: F) -> i32
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = match TcpListener::bind((host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{host}:{port}: {e}");
            return 1;
        }
    };
    let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    eprintln!("listening on {host}:{bound}");
    let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(i), Ok(t)) => (i, t),
        _ => return 1,
    };
    loop {
        tokio::select! {
            _ = int.recv() => return 0,
            _ = term.recv() => return 0,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(handle(stream));
                }
            }
        }
    }
}

/// W6: a task per connection reading up to 64 KiB and writing it back.
pub async fn echo_server(host: String, port: u16) -> i32 {
    serve(host, port, |mut s: TcpStream| async move {
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(k) => {
                    if s.write_all(&buf[..k]).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await
}

/// An HTTP date (RFC 9110 IMF-fixdate) for a Unix time.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One parsed request head: its length, whether the connection stays open,
/// the body bytes to skip, and the response.
struct Request {
    head_len: usize,
    body_len: usize,
    keep_alive: bool,
    response_status: u16,
    head_only: bool,
}

/// Parses the request head at the front of buf. None: incomplete.
/// Err(()): malformed (answered 400 and closed).
fn parse(buf: &[u8]) -> Result<Option<Request>, ()> {
    let end = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => p + 4,
        None if buf.len() > 8192 => return Err(()),
        None => return Ok(None),
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ())?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().ok_or(())?.split(' ');
    let (method, path, version) = (parts.next().ok_or(())?, parts.next().ok_or(())?, parts.next().ok_or(())?);
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(()),
    };
    let mut keep_alive = minor == 1;
    let mut body_len = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(())?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            keep_alive = if value.eq_ignore_ascii_case("close") {
                false
            } else {
                keep_alive || value.eq_ignore_ascii_case("keep-alive")
            };
        } else if name.eq_ignore_ascii_case("content-length") {
            body_len = value.parse().map_err(|_| ())?;
        }
    }
    let head_only = method == "HEAD";
    let response_status = if method != "GET" && !head_only {
        405
    } else if path != "/" && path != "/plaintext" {
        404
    } else {
        200
    };
    Ok(Some(Request { head_len: end, body_len, keep_alive, response_status, head_only }))
}

/// Appends the response to `req` to out.
fn respond(out: &mut Vec<u8>, req: &Request, date: &str) {
    let (status, body): (&str, &str) = match req.response_status {
        200 => ("200 OK", "Hello, World!"),
        404 => ("404 Not Found", "Not Found\n"),
        _ => ("405 Method Not Allowed", "Method Not Allowed\n"),
    };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\nServer: tokio\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nDate: {date}\r\n{}\r\n",
            body.len(),
            if req.keep_alive { "" } else { "Connection: close\r\n" }
        )
        .as_bytes(),
    );
    if !req.head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

/// The HTTP plaintext workload's server (TechEmpower's plaintext test):
/// GET or HEAD of / or /plaintext is 200 "Hello, World!", other paths 404,
/// other methods 405; keep-alive (HTTP/1.0 only on request); pipelined
/// requests answered in order, each read's responses in one write; a
/// malformed head is 400 and close. Debian packages no HTTP library for
/// Tokio, so the parser is this file's, as small as the C example's.
pub async fn http_server(host: String, port: u16) -> i32 {
    serve(host, port, |mut s: TcpStream| async move {
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut out: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 8192];
        let mut skip = 0usize; // body bytes still to discard
        let mut date_secs = 0u64;
        let mut date = String::new();
        loop {
            let k = match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => k,
            };
            buf.extend_from_slice(&chunk[..k]);
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            if now != date_secs {
                date_secs = now;
                date = http_date(now);
            }
            let mut at = 0;
            let mut close = false;
            loop {
                let drop = skip.min(buf.len() - at);
                at += drop;
                skip -= drop;
                if skip > 0 {
                    break;
                }
                match parse(&buf[at..]) {
                    Ok(None) => break,
                    Ok(Some(req)) => {
                        respond(&mut out, &req, &date);
                        at += req.head_len;
                        skip = req.body_len;
                        if !req.keep_alive {
                            close = true;
                            break;
                        }
                    }
                    Err(()) => {
                        out.extend_from_slice(
                            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n",
                        );
                        close = true;
                        break;
                    }
                }
            }
            buf.drain(..at);
            if !out.is_empty() {
                if s.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
            if close {
                return;
            }
        }
    })
    .await
}
