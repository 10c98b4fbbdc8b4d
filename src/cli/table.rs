//! The aligned text tables `peers`, `users` and `status` print: each column as wide as its widest
//! cell (header included), two spaces between columns, no trailing blanks.

/// The widths of a table's columns.
pub struct Columns {
    widths: Vec<usize>,
}

impl Columns {
    /// Fits the columns to `header` and every row (widths in characters, not bytes).
    pub fn fit<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> Columns {
        let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row.as_ref()) {
                *width = (*width).max(cell.chars().count());
            }
        }
        Columns { widths }
    }

    /// Each cell padded to its column's width, for a caller that decorates cells after padding
    /// (so that escape codes never count towards a width).
    pub fn pad<S: AsRef<str>>(&self, row: &[S]) -> Vec<String> {
        row.iter()
            .zip(&self.widths)
            .map(|(cell, width)| format!("{:<width$}", cell.as_ref()))
            .collect()
    }

    /// One line of the table.
    pub fn line<S: AsRef<str>>(&self, row: &[S]) -> String {
        self.pad(row).join("  ").trim_end().to_owned()
    }
}

/// An RTT as the tables print it: `-` for no sample (0), else milliseconds to the microsecond.
pub fn format_rtt(ns: u64) -> String {
    if ns == 0 {
        "-".into()
    } else {
        format!("{:.3}ms", ns as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_widest_cell_in_characters_and_lines_end_without_blanks() {
        let rows = vec![vec!["ä".repeat(5), "x".into()], vec!["a".into(), "".into()]];
        let columns = Columns::fit(&["AB", "C"], &rows);
        assert_eq!(columns.line(&["AB", "C"]), "AB     C");
        assert_eq!(columns.line(&rows[0]), format!("{}  x", "ä".repeat(5)));
        assert_eq!(columns.line(&rows[1]), "a");
        assert_eq!(columns.pad(&rows[1]), vec!["a    ", " "]);
    }
}
