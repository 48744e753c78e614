//! A report kept whole while it is answered or stored at once (a dry run's,
//! a refusal's, a planned import's): compact lines, so that a file of a
//! million rows costs tens of megabytes, not hundreds
//! (docs/IMPORTS.md#reports).

use uuid::Uuid;

use super::{Counts, Outcome, RowReport};

/// One line of a report, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLine<'a> {
    /// The row in the file (the header is row 1).
    pub row: u64,
    pub outcome: Outcome,
    /// The column concerned, as the file names it.
    pub field: Option<&'a str>,
    pub message: Option<&'a str>,
    /// The account imported, when the line comes from a run.
    pub account_id: Option<Uuid>,
}

/// Report lines one after another, in blocks of [`BLOCK_LINES`] lines (32
/// bytes each) and of [`BLOCK_TEXT`] bytes of the fields' and messages'
/// text: never one allocation that grows with the file, so that what a
/// report held goes back to the allocator's free blocks for the next one
/// (docs/IMPORTS.md#memory).
#[derive(Debug, Default)]
pub struct Report {
    lines: Vec<Vec<Line>>,
    text: Vec<String>,
    len: usize,
    counts: Counts,
}

/// Lines a block holds: 64 KiB.
const BLOCK_LINES: usize = 2_048;
/// Text a block holds (more when one line's is longer).
const BLOCK_TEXT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
struct Line {
    row: u64,
    /// Where the line's text is: its block, where it starts there, how
    /// long it is, and how much of it the field is.
    block: u32,
    start: u32,
    len: u32,
    field_len: u32,
    outcome: Outcome,
    has_field: bool,
    has_message: bool,
}

impl Report {
    pub fn push(&mut self, line: &RowReport) {
        let field = line.field.as_deref();
        let message = line.message.as_deref();
        let len = field.map_or(0, str::len) + message.map_or(0, str::len);
        let fits = self
            .text
            .last()
            .is_some_and(|t| t.capacity() - t.len() >= len);
        if !fits {
            self.text.push(String::with_capacity(BLOCK_TEXT.max(len)));
        }
        let block = self.text.len() - 1;
        let text = &mut self.text[block];
        let start = text.len();
        text.push_str(field.unwrap_or(""));
        text.push_str(message.unwrap_or(""));
        if self.lines.last().is_none_or(|l| l.len() == BLOCK_LINES) {
            self.lines.push(Vec::with_capacity(BLOCK_LINES));
        }
        let lines = self.lines.len() - 1;
        // A block holds at most a few hundred thousand lines and bytes.
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.lines[lines].push(Line {
            row: line.row,
            block: small(block),
            start: small(start),
            len: small(len),
            field_len: small(field.map_or(0, str::len)),
            outcome: line.outcome,
            has_field: field.is_some(),
            has_message: message.is_some(),
        });
        self.len += 1;
        self.counts.add(line.outcome);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The line at `i`, in the order pushed.
    pub fn get(&self, i: usize) -> Option<ReportLine<'_>> {
        let line = self.lines.get(i / BLOCK_LINES)?.get(i % BLOCK_LINES)?;
        let start = line.start as usize;
        let text = self
            .text
            .get(line.block as usize)?
            .get(start..start + line.len as usize)?;
        let (field, message) = text.split_at((line.field_len as usize).min(text.len()));
        Some(ReportLine {
            row: line.row,
            outcome: line.outcome,
            field: line.has_field.then_some(field),
            message: line.has_message.then_some(message),
            account_id: None,
        })
    }

    pub fn iter(&self) -> Lines<'_> {
        Lines {
            report: self,
            at: 0,
        }
    }
}

/// The lines of a [`Report`], in order. (A named iterator: one made of
/// closures, held across an `await`, would keep a future from being `Send`
/// for every lifetime, as a spawned task needs.)
pub struct Lines<'a> {
    report: &'a Report,
    at: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = ReportLine<'a>;

    fn next(&mut self) -> Option<ReportLine<'a>> {
        let line = self.report.get(self.at)?;
        self.at += 1;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_as_pushed() {
        let lines = [
            RowReport {
                row: 2,
                outcome: Outcome::New,
                field: None,
                message: None,
                account_id: None,
            },
            RowReport {
                row: 4,
                outcome: Outcome::Invalid,
                field: Some("E-mail".into()),
                message: Some("a@example.nl is also on row 2".into()),
                account_id: None,
            },
            RowReport {
                row: 5,
                outcome: Outcome::AlreadyMember,
                field: Some("Rol".into()),
                message: Some(String::new()),
                account_id: None,
            },
            RowReport {
                row: 6,
                outcome: Outcome::Reused,
                field: None,
                message: Some("ë".into()),
                account_id: None,
            },
        ];
        let mut report = Report::default();
        for line in &lines {
            report.push(line);
        }
        assert_eq!(report.len(), 4);
        let back: Vec<ReportLine<'_>> = report.iter().collect();
        let expected: Vec<ReportLine<'_>> = lines.iter().map(RowReport::line).collect();
        assert_eq!(back, expected);
        assert_eq!(
            report.counts(),
            Counts {
                new: 1,
                reused: 1,
                already_member: 1,
                invalid: 1
            }
        );
        assert!(report.get(4).is_none());
        // Across blocks of lines and of text.
        let mut long = Report::default();
        let message = "m".repeat(1_000);
        for row in 0..10_000 {
            long.push(&RowReport {
                row,
                outcome: Outcome::Invalid,
                field: Some(format!("f{row}")),
                message: Some(message.clone()),
                account_id: None,
            });
        }
        assert_eq!(long.iter().count(), 10_000);
        let line = long.get(9_999).unwrap();
        assert_eq!(
            (line.row, line.field, line.message),
            (9_999, Some("f9999"), Some(message.as_str()))
        );
    }
}
