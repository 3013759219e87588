//! Reading a CSV file row by row, with each row's line number (the header
//! is line 1; a value spanning lines counts from where its row starts).
//!
//! - The delimiter is guessed from the header line: whichever of `,`, `;`
//!   and tab occurs most often outside quotes (`,` when none does), so
//!   exports from European Excel (`;`) read as they are.
//! - A row must have as many values as the header has columns: more usually
//!   means an unquoted delimiter inside a value (an amount such as 1,234.56
//!   in a comma-separated file), fewer a row cut short. Such a row is an
//!   error rather than a guess.
//! - Blank lines, and rows whose every value is blank (Excel leaves `;;;`
//!   behind), are not rows.

use csv::StringRecord;

use super::{Progress, RowError, Step};

/// How often, in rows, reading reports progress.
const PROGRESS_EVERY: u64 = 2_000;

/// A CSV file, ready to be read row by row.
#[derive(Debug)]
pub struct Table<'a> {
    text: &'a str,
    delimiter: u8,
    headers: Vec<String>,
}

/// One data row.
#[derive(Debug, Clone)]
pub struct Record {
    /// The line it starts on (the header is line 1).
    pub line: u64,
    values: StringRecord,
}

impl Record {
    /// The value in column `index`, trimmed.
    pub fn get(&self, index: usize) -> Option<&str> {
        self.values.get(index).map(str::trim)
    }
}

impl<'a> Table<'a> {
    /// Reads the header of `text`; fails when there is none.
    pub fn read(text: &'a str) -> Result<Self, Vec<RowError>> {
        // Decoding drops a byte-order mark; text from elsewhere may keep one.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let delimiter = guess_delimiter(text);
        let mut reader = reader(text, delimiter);
        let headers = match reader.headers() {
            Ok(headers) => headers.iter().map(|h| h.trim().to_owned()).collect::<Vec<_>>(),
            Err(error) => return Err(vec![RowError::new(1, None, format!("the header cannot be read: {error}"))]),
        };
        if headers.iter().all(String::is_empty) {
            return Err(vec![RowError::new(1, None, "the file is empty: the first line must name the columns")]);
        }
        Ok(Self { text, delimiter, headers })
    }

    /// The column names, trimmed, in file order.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// How many lines the file has: an upper bound of its rows, to size
    /// buffers once.
    pub fn lines(&self) -> usize {
        self.text.bytes().filter(|b| *b == b'\n').count()
    }

    /// The delimiter in use.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Every data row in file order: a row, or the problem that makes it
    /// unreadable. Reports progress (bytes read) to `progress`.
    pub fn rows<'p>(&self, progress: Progress<'p>) -> impl Iterator<Item = Result<Record, RowError>> + use<'a, 'p> {
        let total = self.text.len() as u64;
        let width = self.headers.len();
        let mut reader = reader(self.text, self.delimiter);
        // The header was read in `read`; skip it here.
        let _ = reader.headers();
        let mut seen = 0_u64;
        let mut lines = LineCounter { text: self.text.as_bytes(), at: 0, line: 1 };
        reader.into_records().filter_map(move |result| {
            seen += 1;
            let record = match result {
                Ok(record) => record,
                Err(error) => {
                    let line = error.position().map_or(0, csv::Position::line);
                    return Some(Err(RowError::new(line, None, format!("cannot be read: {error}"))));
                }
            };
            let byte = record.position().map_or(0, csv::Position::byte);
            let line = lines.line_at(byte);
            if seen.is_multiple_of(PROGRESS_EVERY) {
                progress(Step { phase: "checking", done: byte, total });
            }
            if record.iter().all(|value| value.trim().is_empty()) {
                return None;
            }
            if record.len() != width {
                let reason = format!(
                    "has {} values but the header has {width} columns{}",
                    record.len(),
                    if record.len() > width { " (is a value with the delimiter in it not quoted?)" } else { "" }
                );
                return Some(Err(RowError::new(line, None, reason)));
            }
            Some(Ok(Record { line, values: record }))
        })
    }
}

/// Line numbers from byte offsets. The csv crate's own line count skips
/// blank lines and miscounts `\r\n`, and its record offsets may point at
/// the line break before the record, so both are counted here.
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The line of the record that starts at (or after the line breaks at)
    /// `byte`; offsets must come in order.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(self.text.len());
        while self.text.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        let from = self.at.min(start);
        self.line += self.text[from..start].iter().filter(|b| **b == b'\n').count() as u64;
        self.at = start;
        self.line
    }
}

fn reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(text.as_bytes())
}

/// The delimiter of the header line: the most frequent of `,`, `;` and tab
/// outside quotes.
fn guess_delimiter(text: &str) -> u8 {
    let mut counts = [(b',', 0_usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in text.bytes() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(entry) = counts.iter_mut().find(|(d, _)| *d == byte) {
                    entry.1 += 1;
                }
            }
            _ => {}
        }
    }
    // The first of the most frequent wins ties, so a file without any
    // delimiter reads as comma-separated.
    counts.iter().fold((b',', 0), |best, &(d, n)| if n > best.1 { (d, n) } else { best }).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Result<(u64, Vec<String>), RowError>> {
        let table = Table::read(text).map_err(|e| format!("{e:?}"));
        let Ok(table) = table else { return Vec::new() };
        table.rows(&|_| {}).map(|row| row.map(|r| (r.line, r.values.iter().map(str::to_owned).collect()))).collect()
    }

    #[test]
    fn the_delimiter_comes_from_the_header_line() {
        assert_eq!(guess_delimiter("a;b;c\n1,5;2;3"), b';');
        assert_eq!(guess_delimiter("\"a;x\",b\n"), b',');
        assert_eq!(guess_delimiter("a\tb\n"), b'\t');
        assert_eq!(guess_delimiter("name\n"), b',');
    }

    #[test]
    fn lines_count_the_header_and_values_spanning_lines() {
        let found = rows("id,note\n1,\"two\nlines\"\n\n2,x\n");
        let lines: Vec<u64> = found.iter().filter_map(|r| r.as_ref().ok().map(|(line, _)| *line)).collect();
        assert_eq!(lines, [2, 5]);
    }

    #[test]
    fn lines_count_with_windows_line_breaks_and_blank_lines() {
        let found = rows("id,note\r\n1,\"two\r\nlines\"\r\n\r\n2,x\r\n");
        let lines: Vec<u64> = found.iter().filter_map(|r| r.as_ref().ok().map(|(line, _)| *line)).collect();
        assert_eq!(lines, [2, 5]);
    }

    #[test]
    fn rows_of_the_wrong_width_are_errors_and_blank_rows_are_not_rows() {
        let found = rows("a;b\n1;2;3\n;\n4\n");
        let errors: Vec<u64> = found.iter().filter_map(|r| r.as_ref().err().map(|e| e.line)).collect();
        assert_eq!((found.len(), errors), (2, vec![2, 4]));
    }
}
