//! How `assetd token list` shows tokens: an aligned table for people, JSON lines for scripts.
//! Never the token itself, which assetd does not keep.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::meta::TokenInfo;
use crate::timestamp;

/// One JSON object: `{"id","scopes","sites","createdOn","lastUsed","expiresOn"}` (null when
/// never used or never expiring).
pub fn json_line(token: &TokenInfo) -> String {
    json!({
        "id": token.id,
        "scopes": token.scopes.to_string(),
        "sites": token.sites,
        "createdOn": timestamp::format(token.created_on),
        "lastUsed": token.last_used.map(timestamp::format),
        "expiresOn": token.expires_at.map(timestamp::format),
    })
    .to_string()
}

/// A table with a header row; an expired token says so.
pub fn table(tokens: &[TokenInfo], now: DateTime<Utc>) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "SCOPES".to_owned(),
        "SITES".to_owned(),
        "CREATED".to_owned(),
        "LAST USED".to_owned(),
        "EXPIRES".to_owned(),
    ]];
    for token in tokens {
        let sites: Vec<String> = token.sites.iter().map(ToString::to_string).collect();
        rows.push([
            token.id.to_string(),
            token.scopes.to_string(),
            sites.join(","),
            timestamp::format(token.created_on),
            token
                .last_used
                .map_or("never".to_owned(), timestamp::format),
            match token.expires_at {
                None => "never".to_owned(),
                Some(at) if at <= now => format!("{} (expired)", timestamp::format(at)),
                Some(at) => timestamp::format(at),
            },
        ]);
    }
    let mut out = String::new();
    for line in crate::text_table::render(&rows) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
