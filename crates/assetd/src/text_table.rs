//! Aligned plain-text tables for the CLI's listings.

/// Each row's cells padded to their column's width, two spaces apart, without trailing blanks.
pub fn render<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = [
            ["ID".to_owned(), "NAME".to_owned()],
            ["1234".to_owned(), "x".to_owned()],
        ];
        assert_eq!(render(&rows), ["ID    NAME", "1234  x"]);
    }
}
