//! Zero-copy delivery of stored files over HTTP/1: the kernel's `sendfile` moves the bytes from
//! the page cache to the socket, under hyper's connection, without `unsafe` and without reading
//! them into user space.
//!
//! hyper writes a response body by handing the connection's stream the body's `Bytes`, so the
//! stream is where bytes can be swapped for a file. A file body ([`FileBody`]) yields *placeholder*
//! chunks, slices of one private static buffer that nothing else points into, and for each chunk
//! records in the connection's [`FileRegions`] which file range it stands for. The connection's
//! stream ([`ZeroCopyStream`]) recognises a placeholder by its address and, instead of writing
//! it, calls `sendfile` for the next recorded range. hyper sees an ordinary write of that many
//! bytes and carries on (framing, keep-alive, pipelining are all still hyper's).
//!
//! Why this holds:
//! - hyper's HTTP/1 writer queues body buffers and writes them in order with vectored writes
//!   (its "queue" strategy, chosen because this stream reports vectored writes) and never
//!   copies a body buffer with a known length; chunks reach the stream in the order the body
//!   yielded them, so the recorded ranges are consumed first in, first out, across pipelined
//!   responses too.
//! - A placeholder is recorded when hyper *polls* the body, and hyper polls it only to write it.
//! - Only HTTP/1 connections get a [`FileRegions`] (see `server.rs`), so HTTP/2, whose framing
//!   is not a plain byte copy, never sees a placeholder; the handler streams there instead.
//! - Each chunk starts at its own offset in the placeholder (its *tag*, a per-connection
//!   sequence number), and its range records that tag: the stream sends a range only for the
//!   chunk it was recorded for. A placeholder without its range (a body polled and not written,
//!   say by a layer that reads bodies, which the router must not have), or a file shorter than
//!   recorded, fails the connection instead.
//! - hyper copies body buffers only with its "flatten" write strategy (non-vectored streams,
//!   `writev(false)`, `pipeline_flush(true)`); `server.rs` pins `writev(true)`, and the tests
//!   compare served bytes that contain no zero byte.
//!
//! Elsewhere (not Linux, or a store without local files) delivery streams through user space.
//!
//! Because this relies on hyper's write strategy, `Cargo.toml` pins hyper to one version;
//! check the points above before moving it. Kept for its figure: a 1 MiB `hostedUrl` GET over
//! loopback, one keep-alive connection (`cargo bench -p assetd --bench serving`, group
//! `get_1MiB`), measured 2026-12-06 on AMD EPYC (Zen 4), 2 vCPU, a busy machine, five runs: 0.40–0.82 ms
//! against 0.70–1.21 ms streamed (1.01–2.99×, median 1.69×).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Largest placeholder chunk. hyper polls the next chunk once the previous one is (nearly)
/// written, so this bounds one `sendfile` call, not memory: the buffer is never touched, and a
/// zeroed static costs no memory until it is.
const CHUNK: usize = 1 << 20;

/// Distinct chunk start offsets (tags) before they repeat.
const TAGS: usize = 4096;

static PLACEHOLDER: [u8; CHUNK + TAGS] = [0; CHUNK + TAGS];

/// Where `buf` starts in the placeholder, if it is a slice of it.
fn placeholder_offset(buf: &[u8]) -> Option<usize> {
    let start = PLACEHOLDER.as_ptr() as usize;
    let at = (buf.as_ptr() as usize).checked_sub(start)?;
    (!buf.is_empty() && at < PLACEHOLDER.len()).then_some(at)
}

/// One range of a file that one placeholder chunk stands for.
struct Region {
    file: Arc<File>,
    offset: u64,
    /// Where the chunk starts in the placeholder.
    tag: usize,
    len: usize,
    remaining: usize,
}

/// The file ranges a connection's placeholders stand for, in the order they will be written.
/// Shared by the connection's stream and the file bodies of its responses.
#[derive(Default)]
pub struct FileRegions {
    queue: Mutex<VecDeque<Region>>,
    next_tag: std::sync::atomic::AtomicUsize,
}

impl FileRegions {
    /// A fresh queue for one connection.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Records that the next chunk of `len` bytes stands for `file` from `offset`; returns the
    /// chunk.
    fn push(&self, file: &Arc<File>, offset: u64, len: usize) -> Bytes {
        let tag = self
            .next_tag
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % TAGS;
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(Region {
                file: Arc::clone(file),
                offset,
                tag,
                len,
                remaining: len,
            });
        Bytes::from_static(&PLACEHOLDER[tag..tag + len])
    }

    /// The file and offset to send for the placeholder `buf`, which starts `at` bytes into the
    /// placeholder; refused unless `buf` is exactly the unsent rest of the front region's chunk.
    fn next(&self, at: usize, buf: &[u8]) -> io::Result<(Arc<File>, u64)> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match queue.front() {
            Some(region)
                if at == region.tag + (region.len - region.remaining)
                    && buf.len() == region.remaining =>
            {
                Ok((Arc::clone(&region.file), region.offset))
            }
            _ => Err(io::Error::other(
                "a placeholder chunk reached the socket without its file region",
            )),
        }
    }

    fn advance(&self, sent: usize) {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(region) = queue.front_mut() {
            region.offset += sent as u64;
            region.remaining -= sent;
            if region.remaining == 0 {
                queue.pop_front();
            }
        }
    }
}

/// A response body of `len` bytes of `file` from `offset`, sent by the connection's stream with
/// `sendfile`.
pub struct FileBody {
    regions: Arc<FileRegions>,
    file: Arc<File>,
    offset: u64,
    remaining: u64,
}

impl FileBody {
    /// The body; `regions` must be the connection's that will write it.
    pub fn new(regions: Arc<FileRegions>, file: File, offset: u64, len: u64) -> Self {
        Self {
            regions,
            file: Arc::new(file),
            offset,
            remaining: len,
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let chunk = self.regions.push(&self.file, self.offset, len);
        self.offset += len as u64;
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A connection's TCP stream that sends placeholder chunks as file ranges.
pub struct ZeroCopyStream {
    stream: TcpStream,
    regions: Arc<FileRegions>,
    sent: prometheus::IntCounter,
}

impl ZeroCopyStream {
    /// Wraps `stream`; `sent` counts the bytes sent with `sendfile`.
    pub fn new(stream: TcpStream, regions: Arc<FileRegions>, sent: prometheus::IntCounter) -> Self {
        Self {
            stream,
            regions,
            sent,
        }
    }

    /// Sends (part of) the file range the placeholder `buf`, `at` bytes into the placeholder,
    /// stands for.
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        at: usize,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let (file, offset) = self.regions.next(at, buf)?;
        let len = buf.len();
        loop {
            std::task::ready!(self.stream.poll_write_ready(cx))?;
            let sent = self.stream.try_io(tokio::io::Interest::WRITABLE, || {
                send_file(&self.stream, &file, offset, len)
            });
            match sent {
                Ok(0) => {
                    // The file is shorter than recorded; never pad with the placeholder.
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ended before its recorded length",
                    )));
                }
                Ok(sent) => {
                    self.regions.advance(sent);
                    self.sent.inc_by(sent as u64);
                    return Poll::Ready(Ok(sent));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Whether this platform can send files with [`ZeroCopyStream`]; elsewhere delivery streams.
pub const SUPPORTED: bool = cfg!(target_os = "linux");

#[cfg(target_os = "linux")]
fn send_file(socket: &TcpStream, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    let mut offset = offset;
    rustix::fs::sendfile(socket, file, Some(&mut offset), len).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn send_file(_socket: &TcpStream, _file: &File, _offset: u64, _len: usize) -> io::Result<usize> {
    Err(io::Error::other(
        "sendfile is not supported on this platform",
    ))
}

impl AsyncRead for ZeroCopyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ZeroCopyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(at) = placeholder_offset(buf) {
            return self.poll_send_file(cx, at, buf);
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Plain buffers up to the first placeholder go out in one writev; a placeholder at the
        // front goes out with sendfile. Either way a prefix is written, as writev's contract asks.
        let first = bufs
            .iter()
            .enumerate()
            .find_map(|(i, buf)| Some((i, placeholder_offset(buf)?)));
        match first {
            Some((0, at)) => self.poll_send_file(cx, at, &bufs[0]),
            Some((i, _)) => Pin::new(&mut self.stream).poll_write_vectored(cx, &bufs[..i]),
            None => Pin::new(&mut self.stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        // hyper queues body buffers (no copy) only for streams with vectored writes.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slices_of_the_placeholder_are_placeholders() {
        assert_eq!(placeholder_offset(&PLACEHOLDER[..10]), Some(0));
        assert_eq!(placeholder_offset(&PLACEHOLDER[CHUNK..]), Some(CHUNK));
        assert_eq!(placeholder_offset(&PLACEHOLDER[PLACEHOLDER.len()..]), None);
        let zeros = vec![0u8; 16];
        assert_eq!(placeholder_offset(&zeros), None);
    }

    #[test]
    fn a_range_is_sent_only_for_the_chunk_it_was_recorded_for() {
        let file = Arc::new(tempfile::tempfile().expect("temp file"));
        let regions = FileRegions::new();
        let first = regions.push(&file, 0, 100);
        let second = regions.push(&file, 500, 10);
        assert_ne!(
            first.as_ptr(),
            second.as_ptr(),
            "chunks carry distinct tags"
        );
        let at = |chunk: &[u8]| placeholder_offset(chunk).expect("a placeholder");

        // The second chunk cannot take the first one's range.
        assert!(regions.next(at(&second), &second).is_err());
        // The first, sent in two parts.
        assert_eq!(
            regions.next(at(&first), &first).map(|(_, o)| o).ok(),
            Some(0)
        );
        regions.advance(60);
        assert!(
            regions.next(at(&first), &first).is_err(),
            "already partly sent"
        );
        let rest = &first[60..];
        assert_eq!(regions.next(at(rest), rest).map(|(_, o)| o).ok(), Some(60));
        regions.advance(40);
        assert_eq!(
            regions.next(at(&second), &second).map(|(_, o)| o).ok(),
            Some(500)
        );
        regions.advance(10);
        assert!(
            regions.next(at(&second), &second).is_err(),
            "no range left: refuse, never send zeros"
        );
    }
}
