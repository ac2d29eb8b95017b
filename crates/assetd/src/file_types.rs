//! Which files may be uploaded, their Content-Type and their size limit.
//!
//! The list is Webflow's (`spec/webflow-assets-notes.md` §3): images, documents and Lottie
//! animations. The Content-Type is derived from the extension, never taken from the client, so
//! the policy can pin it.

/// The class of a file, which decides its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileClass {
    /// PNG, JPEG, GIF, SVG, WebP, AVIF, BMP (Webflow: 4 MB).
    Image,
    /// Office documents, PDF, text, CSV, OpenDocument, Lottie (Webflow: 10 MB).
    Document,
}

/// What an allowed extension maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    /// The Content-Type served and pinned in the upload policy.
    pub content_type: &'static str,
    /// The class, for the size limit.
    pub class: FileClass,
}

const TYPES: &[(&str, &str, FileClass)] = &[
    ("png", "image/png", FileClass::Image),
    ("jpg", "image/jpeg", FileClass::Image),
    ("jpeg", "image/jpeg", FileClass::Image),
    ("gif", "image/gif", FileClass::Image),
    ("svg", "image/svg+xml", FileClass::Image),
    ("webp", "image/webp", FileClass::Image),
    ("avif", "image/avif", FileClass::Image),
    ("bmp", "image/bmp", FileClass::Image),
    ("pdf", "application/pdf", FileClass::Document),
    ("doc", "application/msword", FileClass::Document),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        FileClass::Document,
    ),
    ("xls", "application/vnd.ms-excel", FileClass::Document),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        FileClass::Document,
    ),
    ("ppt", "application/vnd.ms-powerpoint", FileClass::Document),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        FileClass::Document,
    ),
    ("txt", "text/plain", FileClass::Document),
    ("csv", "text/csv", FileClass::Document),
    (
        "odt",
        "application/vnd.oasis.opendocument.text",
        FileClass::Document,
    ),
    (
        "ods",
        "application/vnd.oasis.opendocument.spreadsheet",
        FileClass::Document,
    ),
    (
        "odp",
        "application/vnd.oasis.opendocument.presentation",
        FileClass::Document,
    ),
    // Lottie: Webflow asks for JSON animations as application/json; dotLottie is a zip archive.
    ("json", "application/json", FileClass::Document),
    ("lottie", "application/zip", FileClass::Document),
];

/// The type of a file name by its extension (case-insensitive), if the extension is allowed.
pub fn from_file_name(file_name: &str) -> Option<FileType> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    TYPES
        .iter()
        .find(|(known, _, _)| known.eq_ignore_ascii_case(ext))
        .map(|&(_, content_type, class)| FileType {
            content_type,
            class,
        })
}

/// The extensions accepted, for error messages.
pub fn allowed_extensions() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|(ext, _, _)| *ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_extensions_case_insensitively() {
        assert_eq!(
            from_file_name("a.PNG").map(|t| t.content_type),
            Some("image/png")
        );
        assert_eq!(
            from_file_name("x.y.jpeg").map(|t| t.class),
            Some(FileClass::Image)
        );
        assert_eq!(
            from_file_name("report.pdf").map(|t| t.class),
            Some(FileClass::Document)
        );
    }

    #[test]
    fn refuses_unknown_missing_or_bare_extensions() {
        for name in ["a.exe", "a.html", "noext", ".png", "a.", "a.png.exe"] {
            assert_eq!(from_file_name(name), None, "{name}");
        }
    }
}
