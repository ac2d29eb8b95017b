//! Reading a POST Object form with bounded memory, whatever the client sends.
//!
//! AWS allows at most 20 KB of form fields before the file. Counting names and values alone is
//! not enough: multer keeps every part it parses and buffers whatever it pulls from the body
//! until it finds the end of a part's headers, so empty parts (which carry no name or value)
//! and a part header that never ends would cost memory without limit. Three bounds hold here:
//! - **raw bytes**: before the file (and again after it) at most [`MAX_RAW_FORM_BYTES`] of the
//!   body are handed to multer ([`FormGate`]); a form that needs more to reach its next part is
//!   refused with `MaxPostPreDataLengthExceeded`. That charges every part its boundary and
//!   header bytes, and bounds multer's buffer.
//! - **parts**: at most [`MAX_FORM_PARTS`] fields on either side of the file.
//! - **names and values**: at most [`MAX_PRE_DATA`] bytes, AWS's own limit.
//!
//! So a refused form costs at most about 192 KiB of raw body, one body chunk and 20 KB of
//! fields, however large the body it was refused from.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;

use crate::error::S3Error;

/// AWS: the form fields before the file may not exceed 20 KB (names and values).
pub const MAX_PRE_DATA: usize = 20 * 1024;

/// Most raw body bytes (boundaries, part headers, names, values) multer may read before the
/// file part, and again for the fields after it: AWS's 20 KB of names and values plus
/// [`MAX_FORM_PARTS`] part headers of typical size (boundary, `Content-Disposition`, ~100
/// bytes each), so that any form AWS accepts fits.
pub const MAX_RAW_FORM_BYTES: u64 = 192 * 1024;

/// Most bytes of a whole form around its file: the raw allowance on either side of it, and
/// the file part's own boundary and headers.
pub const MAX_FORM_BYTES: u64 = 2 * MAX_RAW_FORM_BYTES + 4096;

/// Most form fields on either side of the file. AWS documents no count, only the 20 KB; a real
/// form has a few dozen at most (the policy's fields plus metadata).
pub const MAX_FORM_PARTS: usize = 1000;

/// Limits how much of the body multer may read, shared between the stream it reads
/// ([`GatedBody`]) and the code that drives the form.
#[derive(Debug)]
pub struct FormGate {
    /// Body bytes handed to multer so far.
    pulled: AtomicU64,
    /// Multer may read until `pulled` reaches this (`u64::MAX`: no limit).
    limit: AtomicU64,
    /// Multer asked for more while `pulled` was at `limit`.
    starved: AtomicBool,
}

impl FormGate {
    /// A gate that lets [`MAX_RAW_FORM_BYTES`] through.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            pulled: AtomicU64::new(0),
            limit: AtomicU64::new(MAX_RAW_FORM_BYTES),
            starved: AtomicBool::new(false),
        })
    }

    /// No limit: the file part streams through.
    pub fn open(&self) {
        self.limit.store(u64::MAX, Ordering::Relaxed);
        self.starved.store(false, Ordering::Relaxed);
    }

    /// [`MAX_RAW_FORM_BYTES`] more from here on (the fields after the file).
    pub fn rearm(&self) {
        let pulled = self.pulled.load(Ordering::Relaxed);
        self.limit
            .store(pulled.saturating_add(MAX_RAW_FORM_BYTES), Ordering::Relaxed);
        self.starved.store(false, Ordering::Relaxed);
    }

    fn starved(&self) -> bool {
        self.starved.load(Ordering::Relaxed)
    }
}

/// The request body as multer reads it: at its gate's limit it reports "nothing yet" instead
/// of reading on, and marks the gate starved so that the caller refuses the form (see
/// [`FormReader`]) rather than waiting for bytes that will never be let through.
pub struct GatedBody<S> {
    inner: S,
    gate: Arc<FormGate>,
}

impl<S> GatedBody<S> {
    /// `inner`, limited by `gate`.
    pub fn new(inner: S, gate: Arc<FormGate>) -> Self {
        Self { inner, gate }
    }
}

impl<S, E> Stream for GatedBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let gate = &self.gate;
        if gate.pulled.load(Ordering::Relaxed) >= gate.limit.load(Ordering::Relaxed) {
            // No waker is registered: whoever polls the form next sees the gate starved.
            gate.starved.store(true, Ordering::Relaxed);
            return Poll::Pending;
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.gate
                .pulled
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        polled
    }
}

/// Maps multer's errors to S3's.
pub fn multipart_error(err: multer::Error) -> S3Error {
    match err {
        multer::Error::IncompleteStream
        | multer::Error::IncompleteFieldData { .. }
        | multer::Error::IncompleteHeaders
        | multer::Error::StreamReadFailed(_) => S3Error::IncompleteBody,
        other => S3Error::MalformedPost(other.to_string()),
    }
}

/// Drives a form's reads. Each read waits at most `idle` for the client; the fields on either
/// side of the file must arrive whole within `idle` too, and the file at an average of at least
/// [`MIN_FILE_RATE`] once `idle` has passed, so that a client dripping a byte at a time cannot
/// hold a connection (and a slot of the connection table) for days; and a read that needs more
/// of the body than the gate lets through fails with `MaxPostPreDataLengthExceeded`.
pub struct FormReader {
    gate: Arc<FormGate>,
    idle: Duration,
    phase: Phase,
}

/// Where the reader is in the form, and the bound of that part.
enum Phase {
    /// Fields (before or after the file): all of them by this instant.
    Fields { deadline: Instant },
    /// The file: begun at `since`, `received` bytes so far.
    File { since: Instant, received: u64 },
}

/// The slowest average a file may arrive at, after the first `idle` (AWS documents none; this
/// is far below any real connection's rate, a slow mobile one included).
pub const MIN_FILE_RATE: u64 = 1024;

impl FormReader {
    /// A reader over `gate` with the idle limit `idle`.
    pub fn new(gate: Arc<FormGate>, idle: Duration) -> Self {
        Self {
            gate,
            idle,
            phase: Phase::Fields {
                deadline: Instant::now() + idle,
            },
        }
    }

    /// The file part begins: the gate opens and the rate rule starts.
    pub fn begin_file(&mut self) {
        self.gate.open();
        self.phase = Phase::File {
            since: Instant::now(),
            received: 0,
        };
    }

    /// The file part has ended: the fields after it get their own allowance and deadline.
    pub fn end_file(&mut self) {
        self.gate.rearm();
        self.phase = Phase::Fields {
            deadline: Instant::now() + self.idle,
        };
    }

    /// The gate (for tests).
    #[cfg(test)]
    fn gate(&self) -> &FormGate {
        &self.gate
    }

    async fn bounded<T>(
        &self,
        read: impl Future<Output = Result<T, multer::Error>>,
    ) -> Result<T, S3Error> {
        let wait = match self.phase {
            Phase::Fields { deadline } => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(S3Error::RequestTimeout);
                }
                left.min(self.idle)
            }
            Phase::File { .. } => self.idle,
        };
        let mut read = pin!(read);
        let gated = std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(result.map_err(multipart_error)),
            Poll::Pending if self.gate.starved() => {
                Poll::Ready(Err(S3Error::MaxPostPreDataLengthExceeded))
            }
            Poll::Pending => Poll::Pending,
        });
        match tokio::time::timeout(wait, gated).await {
            Ok(result) => result,
            // A stalled client must not hold a connection and a temp file forever.
            Err(_) if wait < self.idle => Err(S3Error::RequestTimeout),
            Err(_) => Err(S3Error::IncompleteBody),
        }
    }

    /// The next part of the form.
    pub async fn next_part<'r>(
        &self,
        form: &mut multer::Multipart<'r>,
    ) -> Result<Option<multer::Field<'r>>, S3Error> {
        self.bounded(form.next_field()).await
    }

    /// The next chunk of a part.
    pub async fn next_chunk(
        &mut self,
        field: &mut multer::Field<'_>,
    ) -> Result<Option<Bytes>, S3Error> {
        let chunk = self.bounded(field.chunk()).await?;
        if let (Phase::File { since, received }, Some(chunk)) = (&mut self.phase, &chunk) {
            *received += chunk.len() as u64;
            let late = since.elapsed().saturating_sub(self.idle);
            if *received < MIN_FILE_RATE.saturating_mul(late.as_secs()) {
                return Err(S3Error::RequestTimeout);
            }
        }
        Ok(chunk)
    }

    /// Reads a non-file field's value, charging its name and value to `fields`.
    pub async fn read_field(
        &mut self,
        field: &mut multer::Field<'_>,
        fields: &mut FieldBudget,
    ) -> Result<String, S3Error> {
        fields.charge_part(field.name().map_or(0, str::len))?;
        let mut value = Vec::new();
        while let Some(chunk) = self.next_chunk(field).await? {
            fields.charge(chunk.len())?;
            value.extend_from_slice(&chunk);
        }
        String::from_utf8(value)
            .map_err(|_| S3Error::InvalidArgument("Form field values must be UTF-8".to_owned()))
    }
}

/// What is left of the field count and the names-and-values allowance on one side of the file.
#[derive(Debug)]
pub struct FieldBudget {
    parts: usize,
    bytes: usize,
}

impl FieldBudget {
    /// AWS's 20 KB and [`MAX_FORM_PARTS`] fields.
    pub fn new() -> Self {
        Self {
            parts: MAX_FORM_PARTS,
            bytes: MAX_PRE_DATA,
        }
    }

    /// One more field whose name is `name_len` bytes.
    pub fn charge_part(&mut self, name_len: usize) -> Result<(), S3Error> {
        self.parts = self
            .parts
            .checked_sub(1)
            .ok_or(S3Error::MaxPostPreDataLengthExceeded)?;
        self.charge(name_len)
    }

    /// `len` more bytes of a value.
    pub fn charge(&mut self, len: usize) -> Result<(), S3Error> {
        self.bytes = self
            .bytes
            .checked_sub(len)
            .ok_or(S3Error::MaxPostPreDataLengthExceeded)?;
        Ok(())
    }
}

impl Default for FieldBudget {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures_util::stream;

    fn form_of(body: Vec<u8>, chunk: usize) -> (multer::Multipart<'static>, FormReader) {
        let gate = FormGate::new();
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let gated = GatedBody::new(stream::iter(chunks), Arc::clone(&gate));
        (
            multer::Multipart::new(gated, "B"),
            FormReader::new(gate, Duration::from_secs(5)),
        )
    }

    async fn read_fields(
        form: &mut multer::Multipart<'static>,
        reader: &mut FormReader,
    ) -> Result<Vec<(String, String)>, S3Error> {
        let mut budget = FieldBudget::new();
        let mut fields = Vec::new();
        while let Some(mut field) = reader.next_part(form).await? {
            let name = field.name().unwrap_or_default().to_owned();
            let value = reader.read_field(&mut field, &mut budget).await?;
            fields.push((name, value));
        }
        Ok(fields)
    }

    fn part(name: &str, value: &str) -> String {
        format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    }

    #[tokio::test]
    async fn an_ordinary_form_is_read_whole() {
        let mut body = String::new();
        for i in 0..20 {
            body.push_str(&part(&format!("x-amz-meta-{i}"), &"v".repeat(900)));
        }
        body.push_str("--B--\r\n");
        let (mut form, mut reader) = form_of(body.into_bytes(), 64 * 1024);
        let fields = read_fields(&mut form, &mut reader).await.unwrap();
        assert_eq!(fields.len(), 20);
        assert_eq!(fields[19].1.len(), 900);
    }

    #[tokio::test]
    async fn empty_parts_are_charged_and_refused() {
        let mut body =
            "--B\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n\r\n".repeat(50_000);
        body.push_str("--B--\r\n");
        let (mut form, mut reader) = form_of(body.into_bytes(), 8 * 1024);
        let err = read_fields(&mut form, &mut reader).await.unwrap_err();
        assert!(
            matches!(err, S3Error::MaxPostPreDataLengthExceeded),
            "{err:?}"
        );
        // Refused after the gate's allowance, not after the whole body.
        let pulled = reader.gate().pulled.load(Ordering::Relaxed);
        assert!(pulled <= MAX_RAW_FORM_BYTES + 8 * 1024, "pulled {pulled}");
    }

    #[tokio::test]
    async fn a_part_header_that_never_ends_is_refused_after_the_allowance() {
        let mut body = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ".to_vec();
        body.extend(std::iter::repeat_n(b'a', 4 << 20));
        let (mut form, mut reader) = form_of(body, 16 * 1024);
        let err = read_fields(&mut form, &mut reader).await.unwrap_err();
        assert!(
            matches!(err, S3Error::MaxPostPreDataLengthExceeded),
            "{err:?}"
        );
        let pulled = reader.gate().pulled.load(Ordering::Relaxed);
        assert!(pulled <= MAX_RAW_FORM_BYTES + 16 * 1024, "pulled {pulled}");
    }

    #[tokio::test]
    async fn more_parts_than_the_cap_are_refused_even_when_they_are_small() {
        // 50 bytes a part: the count cap, not the raw allowance, is what stops it.
        let mut body = "--B\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n\r\n"
            .repeat(MAX_FORM_PARTS + 1);
        body.push_str("--B--\r\n");
        assert!((body.len() as u64) < MAX_RAW_FORM_BYTES);
        let (mut form, mut reader) = form_of(body.into_bytes(), 64 * 1024);
        let err = read_fields(&mut form, &mut reader).await.unwrap_err();
        assert!(
            matches!(err, S3Error::MaxPostPreDataLengthExceeded),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_open_gate_lets_a_large_file_through_and_rearming_limits_what_follows() {
        let mut body = part("key", "k").into_bytes();
        body.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n");
        body.extend(std::iter::repeat_n(b'f', 1 << 20));
        body.extend_from_slice(b"\r\n");
        body.extend(
            "--B\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n\r\n"
                .repeat(20_000)
                .into_bytes(),
        );
        body.extend_from_slice(b"--B--\r\n");
        let (mut form, mut reader) = form_of(body, 32 * 1024);
        let mut budget = FieldBudget::new();
        let mut key = reader.next_part(&mut form).await.unwrap().unwrap();
        assert_eq!(reader.read_field(&mut key, &mut budget).await.unwrap(), "k");
        drop(key);
        let mut file = reader.next_part(&mut form).await.unwrap().unwrap();
        assert_eq!(file.name(), Some("file"));
        reader.begin_file();
        let mut size = 0;
        while let Some(chunk) = reader.next_chunk(&mut file).await.unwrap() {
            size += chunk.len();
        }
        drop(file);
        assert_eq!(size, 1 << 20);
        reader.end_file();
        let err = read_fields(&mut form, &mut reader).await.unwrap_err();
        assert!(
            matches!(err, S3Error::MaxPostPreDataLengthExceeded),
            "{err:?}"
        );
    }
}
