//! The request head limit, counted on the bytes as they arrive.
//!
//! hyper checks its buffer size before each read, not after, so a head can
//! overshoot its limit by a whole read; and a limit measured on the parsed
//! head misses what parsing drops (spaces around values). `HeadBound` follows
//! a connection's requests (each head, then its `Content-Length` of body) and
//! hands hyper at most `limit` bytes of any head: a head that does not end by
//! then fills hyper's buffer (sized to `limit`), which hyper answers with 431.
//! After a body it cannot frame (`Transfer-Encoding`), it stops counting and
//! `serve` closes the connection after that request (`close_unframed`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct HeadBound<S> {
    inner: S,
    framing: Framing,
    scratch: Vec<u8>,
}

impl<S> HeadBound<S> {
    pub fn new(inner: S, limit: usize) -> HeadBound<S> {
        HeadBound { inner, framing: Framing::new(limit), scratch: Vec::new() }
    }
}

/// Where a connection's bytes are: in a head, in a body, or past what it can frame.
#[derive(Debug)]
struct Framing {
    limit: usize,
    phase: Phase,
    /// The head read so far (at most `limit + 1` bytes), read for its framing once it ends.
    head: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Phase {
    Head(HeadScan),
    Body(u64),
    Unframed,
}

impl Framing {
    fn new(limit: usize) -> Framing {
        Framing { limit, phase: Phase::Head(HeadScan::default()), head: Vec::new() }
    }

    /// The most the next read may bring: enough to finish the body in
    /// progress and fill hyper's buffer with a head, no more. (hyper checks the
    /// buffer only when a head is incomplete: one byte more would let a complete
    /// head of `limit + 1` bytes through.)
    fn allowed(&self) -> usize {
        match &self.phase {
            Phase::Head(scan) => self.limit.saturating_sub(scan.bytes),
            Phase::Body(left) => usize::try_from(*left).unwrap_or(usize::MAX).saturating_add(self.limit),
            Phase::Unframed => usize::MAX,
        }
    }

    /// Takes `bytes` as the next ones of the connection.
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.phase {
                Phase::Head(scan) => {
                    let used = scan.feed(bytes);
                    self.head.extend_from_slice(&bytes[..used]);
                    bytes = &bytes[used..];
                    if scan.ended {
                        self.phase = match body_length(&self.head) {
                            Some(0) => Phase::Head(HeadScan::default()),
                            Some(length) => Phase::Body(length),
                            None => Phase::Unframed,
                        };
                        self.head = Vec::new();
                    }
                }
                Phase::Body(left) => {
                    let used = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
                    *left -= used as u64;
                    bytes = &bytes[used..];
                    if *left == 0 {
                        self.phase = Phase::Head(HeadScan::default());
                    }
                }
                Phase::Unframed => return,
            }
        }
    }
}

/// The body length a request head gives: its `Content-Length`, 0 without one;
/// None when it cannot be told (`Transfer-Encoding`, a head hyper refuses too).
fn body_length(head: &[u8]) -> Option<u64> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let mut length = None;
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let value: u64 = std::str::from_utf8(header.value).ok()?.trim().parse().ok()?;
            if length.is_some_and(|earlier| earlier != value) {
                return None;
            }
            length = Some(value);
        }
    }
    Some(length.unwrap_or(0))
}

/// Where a head ends: an empty line after the request line, lines ending in
/// CRLF or a bare LF, as hyper's parser accepts them.
#[derive(Debug, Default, PartialEq)]
struct HeadScan {
    bytes: usize,
    seen_text: bool,
    line_empty: bool,
    ended: bool,
}

impl HeadScan {
    /// Takes bytes up to the end of the head; how many it took.
    fn feed(&mut self, bytes: &[u8]) -> usize {
        for (taken, &byte) in bytes.iter().enumerate() {
            if self.ended {
                return taken;
            }
            self.bytes += 1;
            match byte {
                b'\n' if self.seen_text && self.line_empty => self.ended = true,
                b'\n' => self.line_empty = true,
                b'\r' => {}
                _ => {
                    self.seen_text = true;
                    self.line_empty = false;
                }
            }
        }
        bytes.len()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadBound<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.framing.phase == Phase::Unframed {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let allowed = this.framing.allowed().min(buf.remaining());
        if allowed == 0 {
            // hyper reads no further once its buffer is full; should it ask, the
            // connection has nothing more to give.
            return Poll::Ready(Ok(()));
        }
        this.scratch.resize(allowed.min(64 * 1024), 0);
        let mut limited = ReadBuf::new(&mut this.scratch);
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let read = limited.filled();
        this.framing.feed(read);
        buf.put_slice(read);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadBound<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request whose body `HeadBound` cannot frame is the connection's last:
/// its answer says `Connection: close`, and hyper closes after it.
pub async fn close_unframed(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let unframed = request.headers().contains_key(axum::http::header::TRANSFER_ENCODING);
    let mut response = next.run(request).await;
    if unframed {
        response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends_after(input: &[u8]) -> Option<usize> {
        let mut scan = HeadScan::default();
        let used = scan.feed(input);
        scan.ended.then_some(used)
    }

    #[test]
    fn a_head_ends_at_its_empty_line_however_lines_end() {
        assert_eq!(ends_after(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"), Some(27));
        assert_eq!(ends_after(b"GET / HTTP/1.1\nHost: x\n\nbody"), Some(24));
        assert_eq!(ends_after(b"GET / HTTP/1.1\r\nHost: x\n\r\n"), Some(26));
    }

    #[test]
    fn leading_empty_lines_do_not_end_a_head() {
        assert_eq!(ends_after(b"\r\n\r\n\n\nGET / HTTP/1.1\r\n"), None);
        assert_eq!(ends_after(b"\n\nGET / HTTP/1.1\n\n"), Some(18));
    }

    #[test]
    fn each_request_of_a_connection_is_counted_from_its_own_head() {
        let mut framing = Framing::new(100);
        framing.feed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel");
        assert_eq!(framing.phase, Phase::Body(2));
        // The body's rest, then a whole head and part of the next, in one read.
        framing.feed(b"loGET / HTTP/1.1\r\n\r\nGET /x HT");
        assert!(matches!(&framing.phase, Phase::Head(scan) if scan.bytes == 9), "{:?}", framing.phase);
        assert_eq!(framing.allowed(), 91);
    }

    #[test]
    fn a_head_split_over_reads_is_counted_whole() {
        let mut framing = Framing::new(100);
        for piece in [&b"GET / HTTP/1.1\r"[..], b"\n", b"Host: x\r\n\r", b"\nGET"] {
            framing.feed(piece);
        }
        assert!(matches!(&framing.phase, Phase::Head(scan) if scan.bytes == 3), "{:?}", framing.phase);
    }

    #[test]
    fn a_body_it_cannot_frame_stops_the_count() {
        for head in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
        ] {
            let mut framing = Framing::new(100);
            framing.feed(head);
            assert_eq!(framing.phase, Phase::Unframed, "{}", String::from_utf8_lossy(head));
        }
    }
}
