//! `assetd import --rewrite`: source URLs replaced by destination URLs in exported HTML, CSV
//! and JSON files (Webflow's CMS CSV export, a site's HTML, an API dump).
//!
//! Every URL is also looked for as JSON writes it with escaped slashes (`https:\/\/…`) and as
//! HTML writes it with `&amp;`, and replaced in the same spelling. The file is streamed through
//! in 1 MiB pieces with one automaton (leftmost-longest, so a URL that is a prefix of another
//! never cuts the longer one), and the result is written to a new file: the original is never
//! opened for writing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

const CHUNK: usize = 1024 * 1024;

/// Why a file could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// File I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The output would be the input.
    #[error("{0}: the rewritten file would replace the original; choose another --out-dir")]
    SamePath(PathBuf),
    /// The map has too many URLs for one automaton.
    #[error("the map's URLs could not be compiled: {0}")]
    Build(#[from] aho_corasick::BuildError),
}

/// The compiled replacements.
pub struct Rewriter {
    automaton: AhoCorasick,
    replacements: Vec<String>,
    longest: usize,
}

impl Rewriter {
    /// Compiles `(from, to)` pairs, with their JSON- and HTML-escaped spellings. Pairs whose two
    /// sides are equal (ids and hosts kept) are left out.
    pub fn new(pairs: &[(String, String)]) -> Result<Self, RewriteError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut replacements = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (from, to) in pairs {
            if from.is_empty() || from == to {
                continue;
            }
            let spellings = [
                (from.clone(), to.clone()),
                (from.replace('/', "\\/"), to.replace('/', "\\/")),
                (from.replace('&', "&amp;"), to.replace('&', "&amp;")),
            ];
            for (f, t) in spellings {
                if seen.insert(f.clone()) {
                    patterns.push(f);
                    replacements.push(t);
                }
            }
        }
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)?;
        Ok(Self {
            automaton,
            replacements,
            longest,
        })
    }

    /// Copies `input` to `output` with every URL replaced; returns how many were.
    ///
    /// A match starting at least `longest` bytes before the end of what has been read cannot
    /// grow with more input, so it is final; the tail after the last final point waits for the
    /// next piece. Memory stays at two pieces whatever the file's size.
    pub fn stream(&self, mut input: impl Read, mut output: impl Write) -> std::io::Result<u64> {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + self.longest);
        let mut piece = vec![0u8; CHUNK];
        let mut replaced = 0u64;
        loop {
            let n = input.read(&mut piece)?;
            let eof = n == 0;
            buf.extend_from_slice(&piece[..n]);
            let safe = if eof {
                buf.len()
            } else {
                buf.len().saturating_sub(self.longest)
            };
            let mut written = 0;
            for m in self.automaton.find_iter(&buf[..]) {
                if m.start() >= safe {
                    break;
                }
                output.write_all(&buf[written..m.start()])?;
                output.write_all(self.replacements[m.pattern().as_usize()].as_bytes())?;
                written = m.end();
                replaced += 1;
            }
            let keep_from = written.max(safe);
            output.write_all(&buf[written..keep_from])?;
            buf.drain(..keep_from);
            if eof {
                output.flush()?;
                return Ok(replaced);
            }
        }
    }
}

/// Where the rewrite of `input` goes: `NAME.rewritten.EXT` beside it, or `NAME.EXT` in
/// `out_dir`. Never the input itself.
pub fn output_path(input: &Path, out_dir: Option<&Path>) -> Result<PathBuf, RewriteError> {
    let name = input.file_name().map(PathBuf::from).unwrap_or_default();
    let out = match out_dir {
        Some(dir) => dir.join(&name),
        None => {
            let stem = input
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = match input.extension() {
                Some(ext) => format!("{stem}.rewritten.{}", ext.to_string_lossy()),
                None => format!("{stem}.rewritten"),
            };
            input.with_file_name(file)
        }
    };
    let same = match (input.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(RewriteError::SamePath(input.to_path_buf()));
    }
    Ok(out)
}

/// Rewrites `input` into `output` (through a temp file renamed into place).
pub fn rewrite_file(rewriter: &Rewriter, input: &Path, output: &Path) -> Result<u64, RewriteError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RewriteError::Io { path, source }
    };
    let reader = std::fs::File::open(input).map_err(io(input))?;
    let tmp = output.with_extension("rewrite-tmp");
    let writer = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
    let count = rewriter
        .stream(std::io::BufReader::new(reader), writer)
        .map_err(io(input))?;
    std::fs::rename(&tmp, output).map_err(io(output))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(String, String)> {
        vec![
            ("http://src/1_a.png".into(), "http://dst/1_a.png".into()),
            (
                "http://src/1_a-p-500.png".into(),
                "http://dst/1_a-p-500.png".into(),
            ),
            (
                "http://src/2_x.pdf?a&b".into(),
                "http://dst/2_x.pdf?a&b".into(),
            ),
            ("http://src/1_a.png.png".into(), "http://dst/long".into()),
        ]
    }

    fn run(rewriter: &Rewriter, text: &str, piece: usize) -> (String, u64) {
        // A reader that hands out `piece` bytes at a time, to cut URLs across reads.
        struct Drip<'a>(&'a [u8], usize);
        impl Read for Drip<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let n = rewriter
            .stream(Drip(text.as_bytes(), piece), &mut out)
            .expect("rewrite");
        (String::from_utf8(out).expect("utf-8"), n)
    }

    #[test]
    fn replaces_every_spelling_longest_first_across_reads() {
        let rewriter = Rewriter::new(&pairs()).expect("compiles");
        let text = r#"<img src="http://src/1_a.png" srcset="http://src/1_a-p-500.png 500w">
{"u":"http:\/\/src\/1_a.png","v":"http://src/1_a.png.png"}
<a href="http://src/2_x.pdf?a&amp;b">x</a>,"http://src/2_x.pdf?a&b"
untouched: http://src/9_z.png"#;
        let want = r#"<img src="http://dst/1_a.png" srcset="http://dst/1_a-p-500.png 500w">
{"u":"http:\/\/dst\/1_a.png","v":"http://dst/long"}
<a href="http://dst/2_x.pdf?a&amp;b">x</a>,"http://dst/2_x.pdf?a&b"
untouched: http://src/9_z.png"#;
        for piece in [1, 3, 7, 64, 1 << 20] {
            let (out, n) = run(&rewriter, text, piece);
            assert_eq!(out, want, "piece {piece}");
            assert_eq!(n, 6, "piece {piece}");
        }
    }

    #[test]
    fn never_writes_over_the_original() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("export.csv");
        std::fs::write(&input, "a,http://src/1_a.png\n").expect("write");
        let out = output_path(&input, None).expect("beside");
        assert_eq!(out, dir.path().join("export.rewritten.csv"));
        assert!(matches!(
            output_path(&input, Some(dir.path())),
            Err(RewriteError::SamePath(_))
        ));
        let rewriter = Rewriter::new(&pairs()).expect("compiles");
        assert_eq!(rewrite_file(&rewriter, &input, &out).expect("rewrite"), 1);
        assert_eq!(
            std::fs::read_to_string(&input).expect("read"),
            "a,http://src/1_a.png\n"
        );
        assert_eq!(
            std::fs::read_to_string(&out).expect("read"),
            "a,http://dst/1_a.png\n"
        );
    }
}
