//! S3's additional checksums in a POST form: `x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`,
//! `-sha1` and `-sha256` (the base64 of the big-endian digest of the whole object), and
//! `x-amz-checksum-algorithm` naming which one is used
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>).
//!
//! [`ExpectedChecksum::from_fields`] reads what a form asks for; [`Checksummer`] computes it
//! over the bytes as they stream, so the object is hashed once, on its way to the store, and a
//! mismatch refused before anything is committed. Errors carry S3's codes and messages (as S3
//! answers PutObject with the same fields as headers).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::Digest as _;
use thiserror::Error;

/// The prefix of every checksum field.
const FIELD_PREFIX: &str = "x-amz-checksum-";

/// A checksum algorithm S3 verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO HDLC, as zlib).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in S3's order.
    pub const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The name S3 uses in `x-amz-checksum-algorithm` and in messages (`CRC32`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The form field that carries this algorithm's value.
    pub fn field(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    fn from_field(field: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.field().eq_ignore_ascii_case(field))
    }
}

/// Why a form's checksum is refused. [`ChecksumError::code`] gives S3's error code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChecksumError {
    /// The value is not the base64 of a digest of the algorithm's length.
    #[error("Value for {} header is invalid.", .0.field())]
    Malformed(ChecksumAlgorithm),
    /// More than one checksum value was sent.
    #[error("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")]
    Multiple,
    /// `x-amz-checksum-algorithm` names no algorithm S3 knows.
    #[error(
        "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
    )]
    UnsupportedAlgorithm,
    /// A field `x-amz-checksum-…` that names no algorithm.
    #[error("The algorithm type you specified in x-amz-checksum- header is invalid.")]
    UnknownField,
    /// `x-amz-checksum-algorithm` names one algorithm and the value is for another.
    #[error(
        "x-amz-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."
    )]
    AlgorithmWithoutValue,
    /// The bytes received do not have the checksum sent.
    #[error("The {} you specified did not match the calculated checksum.", .0.name())]
    Mismatch(ChecksumAlgorithm),
}

impl ChecksumError {
    /// S3's error code for this failure (every one is a 400).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Mismatch(_) => "BadDigest",
            _ => "InvalidRequest",
        }
    }
}

/// The checksum a form asks S3 to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedChecksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The digest the object must have.
    pub digest: Vec<u8>,
}

impl ExpectedChecksum {
    /// The checksum the form's fields ask for, if any (names case-insensitive, as S3 matches
    /// form fields). `x-amz-checksum-algorithm` alone asks for nothing to be verified; with a
    /// value, it must name the value's algorithm. `x-amz-checksum-type` (full object or
    /// composite) is accepted: for a single POST both mean the whole object.
    pub fn from_fields(fields: &[(String, String)]) -> Result<Option<Self>, ChecksumError> {
        let mut algorithm_named = None;
        let mut value: Option<(ChecksumAlgorithm, &str)> = None;
        for (name, text) in fields {
            let Some(suffix) = strip_prefix_ignore_case(name, FIELD_PREFIX) else {
                continue;
            };
            if suffix.eq_ignore_ascii_case("algorithm") {
                algorithm_named = Some(
                    ChecksumAlgorithm::from_name(text.trim())
                        .ok_or(ChecksumError::UnsupportedAlgorithm)?,
                );
            } else if suffix.eq_ignore_ascii_case("type") {
                continue;
            } else {
                let algorithm =
                    ChecksumAlgorithm::from_field(name).ok_or(ChecksumError::UnknownField)?;
                if value.is_some() {
                    return Err(ChecksumError::Multiple);
                }
                value = Some((algorithm, text));
            }
        }
        let Some((algorithm, text)) = value else {
            return Ok(None);
        };
        let digest = BASE64
            .decode(text.trim())
            .ok()
            .filter(|d| d.len() == algorithm.digest_len())
            .ok_or(ChecksumError::Malformed(algorithm))?;
        if algorithm_named.is_some_and(|named| named != algorithm) {
            return Err(ChecksumError::AlgorithmWithoutValue);
        }
        Ok(Some(Self { algorithm, digest }))
    }

    /// Whether `computed` is the expected digest (a checksum is no secret: a plain comparison).
    pub fn check(&self, computed: &[u8]) -> Result<(), ChecksumError> {
        if computed == self.digest.as_slice() {
            Ok(())
        } else {
            Err(ChecksumError::Mismatch(self.algorithm))
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Computes one algorithm's digest over bytes given piece by piece.
pub enum Checksummer {
    /// CRC-32.
    Crc32(crc32fast::Hasher),
    /// CRC-32C (the running value).
    Crc32c(u32),
    /// CRC-64/NVME.
    Crc64Nvme(crc_fast::Digest),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl std::fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Checksummer")
            .field(&self.algorithm())
            .finish()
    }
}

impl Checksummer {
    /// A checksummer for `algorithm` over no bytes yet.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => {
                Self::Crc64Nvme(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme))
            }
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    /// The algorithm computed.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            Self::Crc32(_) => ChecksumAlgorithm::Crc32,
            Self::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            Self::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            Self::Sha1(_) => ChecksumAlgorithm::Sha1,
            Self::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(bytes),
            Self::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, bytes),
            Self::Crc64Nvme(h) => h.update(bytes),
            Self::Sha1(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
        }
    }

    /// The digest of every byte added, big-endian as S3 encodes it.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Self::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            Self::Crc64Nvme(h) => h.finalize().to_be_bytes().to_vec(),
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Checksums S3 itself returned for the object `test data..` (LocalStack's snapshot tests,
    /// recorded against AWS; SHA-1 from Python's hashlib, an implementation independent of
    /// the `sha1` crate).
    const AWS_VECTORS: [(ChecksumAlgorithm, &str); 5] = [
        (ChecksumAlgorithm::Crc32, "cZWHwQ=="),
        (ChecksumAlgorithm::Crc32c, "Pf4upw=="),
        (ChecksumAlgorithm::Crc64Nvme, "qUVrWYOrIAM="),
        (ChecksumAlgorithm::Sha1, "B++3uSfJMSHWToQMQ1g6lIJY5Eo="),
        (
            ChecksumAlgorithm::Sha256,
            "2l26x0trnT0r2AvakoFk2MB7eKVKzYESLMxSAKAzoik=",
        ),
    ];

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn digests_match_what_s3_computed_in_one_piece_and_in_many() {
        let object = b"test data..";
        for (algorithm, expected) in AWS_VECTORS {
            let mut whole = Checksummer::new(algorithm);
            whole.update(object);
            assert_eq!(BASE64.encode(whole.finish()), expected, "{algorithm:?}");
            let mut pieces = Checksummer::new(algorithm);
            for piece in object.chunks(3) {
                pieces.update(piece);
            }
            assert_eq!(BASE64.encode(pieces.finish()), expected, "{algorithm:?}");
        }
    }

    #[test]
    fn reads_each_algorithm_from_its_field_whatever_the_case() {
        for (algorithm, value) in AWS_VECTORS {
            let upper = algorithm.field().to_ascii_uppercase();
            let form = fields(&[("key", "k"), (&upper, value)]);
            let expected = ExpectedChecksum::from_fields(&form).unwrap().unwrap();
            assert_eq!(expected.algorithm, algorithm);
            assert_eq!(expected.digest, BASE64.decode(value).unwrap());
            let named = fields(&[
                (
                    "x-amz-checksum-algorithm",
                    &algorithm.name().to_ascii_lowercase(),
                ),
                (algorithm.field(), value),
            ]);
            assert!(ExpectedChecksum::from_fields(&named).unwrap().is_some());
        }
        assert_eq!(
            ExpectedChecksum::from_fields(&fields(&[("key", "k")])),
            Ok(None)
        );
        assert_eq!(
            ExpectedChecksum::from_fields(&fields(&[("x-amz-checksum-algorithm", "SHA256")])),
            Ok(None)
        );
    }

    #[test]
    fn refuses_malformed_values_with_s3s_message() {
        for algorithm in ChecksumAlgorithm::ALL {
            for bad in [
                "",
                "not base64!",
                "AAAA",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ] {
                let err = ExpectedChecksum::from_fields(&fields(&[(algorithm.field(), bad)]))
                    .unwrap_err();
                assert_eq!(err, ChecksumError::Malformed(algorithm), "{bad:?}");
                assert_eq!(err.code(), "InvalidRequest");
                assert_eq!(
                    err.to_string(),
                    format!("Value for {} header is invalid.", algorithm.field())
                );
            }
        }
        // The right length for another algorithm is malformed too.
        let crc_for_sha = fields(&[("x-amz-checksum-sha256", "cZWHwQ==")]);
        assert_eq!(
            ExpectedChecksum::from_fields(&crc_for_sha),
            Err(ChecksumError::Malformed(ChecksumAlgorithm::Sha256))
        );
    }

    #[test]
    fn refuses_two_values_unknown_algorithms_and_a_value_for_another_algorithm() {
        let two = fields(&[
            ("x-amz-checksum-crc32", "cZWHwQ=="),
            ("x-amz-checksum-sha256", "garbage"),
        ]);
        assert_eq!(
            ExpectedChecksum::from_fields(&two),
            Err(ChecksumError::Multiple)
        );
        let unknown = fields(&[("x-amz-checksum-algorithm", "MD4")]);
        let err = ExpectedChecksum::from_fields(&unknown).unwrap_err();
        assert_eq!(err, ChecksumError::UnsupportedAlgorithm);
        assert!(
            err.to_string()
                .contains("[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
        );
        let field = fields(&[("x-amz-checksum-md5", "AAAA")]);
        assert_eq!(
            ExpectedChecksum::from_fields(&field),
            Err(ChecksumError::UnknownField)
        );
        let other = fields(&[
            ("x-amz-checksum-algorithm", "SHA1"),
            ("x-amz-checksum-crc32", "cZWHwQ=="),
        ]);
        assert_eq!(
            ExpectedChecksum::from_fields(&other),
            Err(ChecksumError::AlgorithmWithoutValue)
        );
        let typed = fields(&[
            ("x-amz-checksum-type", "FULL_OBJECT"),
            ("x-amz-checksum-crc32", "cZWHwQ=="),
        ]);
        assert!(ExpectedChecksum::from_fields(&typed).unwrap().is_some());
    }

    #[test]
    fn a_mismatch_is_bad_digest_naming_the_algorithm() {
        let expected = ExpectedChecksum {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            digest: vec![0; 8],
        };
        let err = expected.check(&[1; 8]).unwrap_err();
        assert_eq!(err.code(), "BadDigest");
        assert_eq!(
            err.to_string(),
            "The CRC64NVME you specified did not match the calculated checksum."
        );
        assert_eq!(expected.check(&[0; 8]), Ok(()));
    }
}
