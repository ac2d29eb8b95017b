//! Query-string parsing that fails in Webflow's `validation_error` shape: a repeated parameter
//! is refused rather than silently picking one of its values.

use crate::error::Error;
use crate::meta::PageRequest;

/// Default and largest page size (Webflow: "max limit: 100").
pub const MAX_LIMIT: i64 = 100;

/// The decoded parameters of a query string.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Decodes a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The single value of `name`, if given.
    pub fn get(&self, name: &str) -> Result<Option<&str>, Error> {
        let mut values = self
            .0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(Error::invalid(name, "Parameter must be given at most once"));
        }
        Ok(first)
    }

    fn integer(
        &self,
        name: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, Error> {
        match self.get(name)? {
            None => Ok(default),
            // Plain decimal digits only: `parse` would also take `+5`, which no client means.
            Some(text) => Some(text)
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse::<i64>().ok())
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    Error::invalid(
                        name,
                        format!(
                            "Must be an integer from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        }
    }

    /// `offset` (default 0) and `limit` (default and maximum 100).
    pub fn page(&self) -> Result<PageRequest, Error> {
        let offset = self.integer("offset", 0, 0..=i64::from(i32::MAX))?;
        let limit = self.integer("limit", MAX_LIMIT, 1..=MAX_LIMIT)?;
        Ok(PageRequest { offset, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_default_and_validate() {
        assert_eq!(
            QueryParams::parse(None).page().expect("ok"),
            PageRequest {
                offset: 0,
                limit: 100
            }
        );
        assert_eq!(
            QueryParams::parse(Some("offset=5&limit=1"))
                .page()
                .expect("ok"),
            PageRequest {
                offset: 5,
                limit: 1
            }
        );
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "offset=-1",
            "offset=x",
            "limit=1.5",
            "limit=",
            "limit=1&limit=2",
        ] {
            assert!(QueryParams::parse(Some(bad)).page().is_err(), "{bad}");
        }
        assert_eq!(
            QueryParams::parse(Some("folderId=a%20b"))
                .get("folderId")
                .expect("ok"),
            Some("a b")
        );
    }
}
