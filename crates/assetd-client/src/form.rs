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
    let tail = format!("\r\n--{boundary}--\r\n");
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
        content_type: format!("multipart/form-data; boundary={boundary}"),
        content_length,
        body: reqwest::Body::wrap_stream(body),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_quoted_safely() {
        assert_eq!(super::escape("a\"b\r\nc.png"), "a%22b%0D%0Ac.png");
    }
}
