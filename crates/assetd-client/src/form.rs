//! A multipart/form-data body streamed from disk: the form fields, then `file` last, with the
//! total length known up front (S3 services want a Content-Length on POST Object).

use std::path::Path;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use tokio_util::io::ReaderStream;

/// The body and what to send with it.
pub struct StreamingForm {
    /// `multipart/form-data; boundary=…`.
    pub content_type: String,
    /// Bytes in the whole body.
    pub content_length: u64,
    /// The body.
    pub body: reqwest::Body,
}

fn escape(name: &str) -> String {
    // RFC 7578 §4.2: quote the name; a quote or line break inside it is percent-encoded.
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The form's text before the file's bytes (every field in order, then the file part's
/// headers) and after them.
fn frame(
    fields: &[(String, String)],
    file_name: &str,
    content_type: &str,
    boundary: &str,
) -> (String, String) {
    let mut head = String::new();
    for (name, value) in fields {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
            escape(name)
        ));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
        escape(file_name)
    ));
    (head, format!("\r\n--{boundary}--\r\n"))
}

fn content_type_of(boundary: &str) -> String {
    format!("multipart/form-data; boundary={boundary}")
}

/// Builds the form for `fields` (in order) and the file at `path` of `size` bytes. `on_bytes`
/// is told about every chunk of the file as it is sent.
pub async fn build(
    fields: &[(String, String)],
    path: &Path,
    size: u64,
    file_name: &str,
    content_type: &str,
    boundary: &str,
    on_bytes: impl Fn(u64) + Send + Sync + 'static,
) -> std::io::Result<StreamingForm> {
    let (head, tail) = frame(fields, file_name, content_type, boundary);
    let content_length = head.len() as u64 + size + tail.len() as u64;
    let file = tokio::fs::File::open(path).await?;
    let file_stream = ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            on_bytes(bytes.len() as u64);
        }
        chunk
    });
    let body: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>> = Box::pin(
        stream::once(async move { Ok(Bytes::from(head)) })
            .chain(file_stream)
            .chain(stream::once(async move { Ok(Bytes::from(tail)) })),
    );
    Ok(StreamingForm {
        content_type: content_type_of(boundary),
        content_length,
        body: reqwest::Body::wrap_stream(body),
    })
}

/// The same form with the file's bytes already in memory: one contiguous body, which the
/// connection writes in one go instead of a stream's chunk at a time (for small files, whose
/// bytes a caller holds anyway).
pub fn in_memory(
    fields: &[(String, String)],
    file: &[u8],
    file_name: &str,
    content_type: &str,
    boundary: &str,
) -> StreamingForm {
    let (head, tail) = frame(fields, file_name, content_type, boundary);
    let mut body = Vec::with_capacity(head.len() + file.len() + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(file);
    body.extend_from_slice(tail.as_bytes());
    StreamingForm {
        content_type: content_type_of(boundary),
        content_length: body.len() as u64,
        body: reqwest::Body::from(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_safely() {
        assert_eq!(escape("a\"b\r\nc.png"), "a%22b%0D%0Ac.png");
    }

    /// Both builders send the same bytes, and the announced length is theirs.
    #[tokio::test]
    async fn a_form_in_memory_is_the_streamed_form() {
        use http_body_util::BodyExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let file: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &file).expect("write");
        let fields = vec![
            ("key".to_owned(), "s/a b.png".to_owned()),
            ("policy".to_owned(), "eyJ9".to_owned()),
        ];
        let streamed = build(
            &fields,
            &path,
            file.len() as u64,
            "a\"b.png",
            "image/png",
            "B0",
            |_| {},
        )
        .await
        .expect("build");
        let held = in_memory(&fields, &file, "a\"b.png", "image/png", "B0");
        assert_eq!(streamed.content_type, held.content_type);
        assert_eq!(streamed.content_length, held.content_length);
        let streamed_bytes = streamed.body.collect().await.expect("body").to_bytes();
        let held_bytes = held.body.collect().await.expect("body").to_bytes();
        assert_eq!(streamed_bytes.len() as u64, streamed.content_length);
        assert!(streamed_bytes == held_bytes, "the two forms differ");
        let text = String::from_utf8_lossy(&held_bytes[..200]);
        assert!(
            text.starts_with(
                "--B0\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\ns/a b.png\r\n"
            ),
            "{text}"
        );
        assert!(held_bytes.ends_with(b"\r\n--B0--\r\n"));
    }
}
