//! Statements whose number of rows varies: the batch INSERT of assets, built with sqlx's
//! `QueryBuilder` (each backend's placeholders), and the `VALUES` list of the variants' INSERT.

use super::Asset;
use crate::timestamp::to_millis;

/// The multi-row INSERT of a batch, in any backend's placeholder style (SQLite's; PostgreSQL
/// binds one array per column instead). Not to be cached as a prepared statement: its shape
/// changes with the batch size.
pub fn insert_statement<'a, DB>(batch: &'a [Asset]) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::QueryBuilder::<DB>::new(
        "INSERT INTO assets (id, site_id, folder_id, original_file_name, display_name, alt_text, \
         content_type, file_hash, storage_key, size, state, upload_expires_at, created_on, last_updated) ",
    );
    query.push_values(batch, |mut row, asset| {
        row.push_bind(asset.id.to_string())
            .push_bind(asset.site_id.to_string())
            .push_bind(asset.folder_id.map(|f| f.to_string()))
            .push_bind(asset.original_file_name.as_str())
            .push_bind(asset.display_name.as_str())
            .push_bind(asset.alt_text.clone())
            .push_bind(asset.content_type.as_str())
            .push_bind(asset.file_hash.as_str())
            .push_bind(asset.storage_key.as_str())
            .push_bind(asset.size)
            .push_bind(asset.state.as_str())
            .push_bind(to_millis(asset.upload_expires_at))
            .push_bind(to_millis(asset.created_on))
            .push_bind(to_millis(asset.last_updated));
    });
    query
}

/// The `VALUES` list of a multi-row INSERT of `rows` rows of `columns` values each, with `$n`
/// placeholders numbered row by row: `($1, $2), ($3, $4)`.
pub fn values_list(rows: usize, columns: usize) -> String {
    let mut list = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        list.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                list.push_str(", ");
            }
            list.push('$');
            list.push_str(&(row * columns + column + 1).to_string());
        }
        list.push(')');
    }
    list
}

#[cfg(test)]
mod tests {
    use super::values_list;

    #[test]
    fn values_are_numbered_row_by_row() {
        assert_eq!(values_list(1, 1), "($1)");
        assert_eq!(values_list(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
