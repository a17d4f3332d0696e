//! The request head limit, counted on the bytes as they arrive.
//!
//! hyper checks its buffer size before each read, not after, so a head can
//! overshoot its limit by a whole read; and a limit measured on the parsed
//! head misses what parsing drops (spaces around values, bare LF line ends).
//! `HeadBound` hands hyper at most `limit + 1` bytes of a request head: a head
//! that does not end by then fills hyper's buffer (sized to `limit`), which
//! hyper answers with 431. The server serves one request per connection, so
//! the head is always what a connection sends first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct HeadBound<S> {
    inner: S,
    limit: usize,
    head: HeadScan,
    scratch: Vec<u8>,
}

impl<S> HeadBound<S> {
    pub fn new(inner: S, limit: usize) -> HeadBound<S> {
        HeadBound { inner, limit, head: HeadScan::default(), scratch: Vec::new() }
    }
}

/// Where the end of a head is: an empty line after the request line, lines
/// ending in CRLF or a bare LF, as hyper's parser accepts them.
#[derive(Debug, Default)]
struct HeadScan {
    bytes: usize,
    seen_text: bool,
    line_empty: bool,
    ended: bool,
}

impl HeadScan {
    /// Takes `bytes` as the next ones of the connection.
    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.ended {
                return;
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
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadBound<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.head.ended {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        // One byte past the limit: enough for hyper to see the head is too large.
        let allowed = (this.limit + 1).saturating_sub(this.head.bytes).min(buf.remaining());
        if allowed == 0 {
            // hyper reads no further once its buffer is full; should it ask, the
            // connection has nothing more to give.
            return Poll::Ready(Ok(()));
        }
        this.scratch.resize(allowed, 0);
        let mut limited = ReadBuf::new(&mut this.scratch);
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let read = limited.filled();
        this.head.feed(read);
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

#[cfg(test)]
mod tests {
    use super::HeadScan;

    fn ends_after(input: &[u8]) -> Option<usize> {
        let mut scan = HeadScan::default();
        scan.feed(input);
        scan.ended.then_some(scan.bytes)
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
    fn a_head_split_over_reads_is_counted_whole() {
        let mut scan = HeadScan::default();
        for piece in [&b"GET / HTTP/1.1\r"[..], b"\n", b"Host: x\r\n\r", b"\nrest"] {
            scan.feed(piece);
        }
        assert!(scan.ended);
        assert_eq!(scan.bytes, 27);
    }
}
