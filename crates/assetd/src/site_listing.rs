//! How `assetd site list` shows sites: an aligned table for people, JSON lines for scripts.

use serde_json::json;

use crate::meta::SiteSummary;
use crate::timestamp;

/// The lines to print: a header and one row per site, or one JSON object per site
/// (`{"id","displayName","createdOn","assets","deletingSince"}`).
pub fn lines(sites: &[SiteSummary], as_json: bool) -> Vec<String> {
    if as_json {
        return sites
            .iter()
            .map(|s| {
                json!({
                    "id": s.site.id,
                    "displayName": s.site.name,
                    "createdOn": timestamp::format(s.site.created_on),
                    "assets": s.assets,
                    "deletingSince": s.deleting_since.map(timestamp::format),
                })
                .to_string()
            })
            .collect();
    }
    let mut rows = vec![[
        "ID".to_owned(),
        "NAME".to_owned(),
        "CREATED".to_owned(),
        "ASSETS".to_owned(),
        "STATE".to_owned(),
    ]];
    for s in sites {
        rows.push([
            s.site.id.to_string(),
            s.site.name.clone(),
            timestamp::format(s.site.created_on),
            s.assets.to_string(),
            s.deleting_since.map_or("active".to_owned(), |at| {
                format!("deleting since {}", timestamp::format(at))
            }),
        ]);
    }
    crate::text_table::render(&rows)
}
