//! The one row model of every report table, and its two renderers (HTML and Markdown).
//!
//! A table is built once from the aggregated records: columns, and rows of cells that say what
//! they hold (a number, a verdict, an identifier) rather than how they look. The HTML renderer
//! escapes, right-aligns numbers and draws verdict badges; the Markdown renderer writes plain
//! text (escaped for GitHub tables). Tables that both documents show use one builder, with a
//! column absent from (or named differently in) one of them saying so in its [`Column`].

use super::{html::escape, Level};
use std::fmt::Write as _;

/// One column: its heading in each document, `None` where that document leaves it out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column<'a> {
    pub html: Option<&'a str>,
    pub markdown: Option<&'a str>,
}

impl<'a> Column<'a> {
    /// A column both documents show under the same heading.
    pub const fn both(name: &'a str) -> Column<'a> {
        Column {
            html: Some(name),
            markdown: Some(name),
        }
    }

    /// A column only the HTML report shows.
    pub const fn html(name: &'a str) -> Column<'a> {
        Column {
            html: Some(name),
            markdown: None,
        }
    }

    /// A column only the Markdown report shows.
    pub const fn markdown(name: &'a str) -> Column<'a> {
        Column {
            html: None,
            markdown: Some(name),
        }
    }
}

/// What a cell holds; each renderer decides how it looks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    /// The row's subject (an attack name): bold in HTML.
    Strong(String),
    /// An identifier (taxonomy ids, mitigation ids): monospace in HTML.
    Code(String),
    /// A number: right-aligned in HTML.
    Number(String),
    /// A verdict word with an optional value: a coloured badge in HTML.
    Badge {
        level: Option<Level>,
        word: &'static str,
        value: String,
    },
    /// Several short entries: one per line in HTML, `; `-separated in Markdown.
    Lines(Vec<String>),
    /// The label of a family summary row (see [`Row::summary`]).
    Family(String),
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    pub fn empty() -> Cell {
        Cell::Text(String::new())
    }

    pub fn number(text: impl Into<String>) -> Cell {
        Cell::Number(text.into())
    }

    pub fn badge(level: Option<Level>, word: &'static str, value: impl Into<String>) -> Cell {
        Cell::Badge {
            level,
            word,
            value: value.into(),
        }
    }
}

/// One row; a summary row (a family's cheapest attack above its attacks) is shaded in HTML.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub summary: bool,
    pub cells: Vec<Cell>,
}

/// Columns and rows; every row has one cell per column.
#[derive(Debug, Clone)]
pub(crate) struct Table<'a> {
    pub columns: Vec<Column<'a>>,
    pub rows: Vec<Row>,
}

impl<'a> Table<'a> {
    pub fn new(columns: Vec<Column<'a>>) -> Table<'a> {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// A table whose columns both documents show under the same headings.
    pub fn shared(headers: &[&'a str]) -> Table<'a> {
        Table::new(headers.iter().map(|&h| Column::both(h)).collect())
    }

    pub fn push(&mut self, cells: Vec<Cell>) {
        self.push_row(false, cells);
    }

    pub fn push_row(&mut self, summary: bool, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        self.rows.push(Row { summary, cells });
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Appends the HTML table (inside a horizontally scrolling wrapper).
    pub fn write_html(&self, out: &mut String) {
        let shown: Vec<usize> = (0..self.columns.len())
            .filter(|&c| self.columns[c].html.is_some())
            .collect();
        out.push_str("<div class=\"table-wrap\"><table><thead><tr>");
        for heading in self.columns.iter().filter_map(|c| c.html) {
            let _ = write!(out, "<th>{}</th>", escape(heading));
        }
        out.push_str("</tr></thead><tbody>");
        for row in &self.rows {
            out.push_str(if row.summary {
                "<tr class=\"family\">"
            } else {
                "<tr>"
            });
            for &c in &shown {
                write_html_cell(out, &row.cells[c]);
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }

    /// Appends the GitHub-flavoured Markdown table and a blank line.
    pub fn write_markdown(&self, out: &mut String) {
        let shown: Vec<usize> = (0..self.columns.len())
            .filter(|&c| self.columns[c].markdown.is_some())
            .collect();
        let headings: Vec<&str> = self.columns.iter().filter_map(|c| c.markdown).collect();
        let _ = writeln!(out, "| {} |", headings.join(" | "));
        let _ = writeln!(out, "|{}|", vec!["---"; headings.len()].join("|"));
        for row in &self.rows {
            let cells: Vec<String> = shown
                .iter()
                .map(|&c| markdown_escape(&markdown_text(&row.cells[c])))
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out.push('\n');
    }
}

fn level_class(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Succeeds) => "succeeds",
        Some(Level::Partial) => "partial",
        Some(Level::Fails) => "fails",
        None => "unknown",
    }
}

/// A verdict badge followed by its value (the space stays when the value is empty).
pub(crate) fn badge_html(level: Option<Level>, word: &str, value: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span> {}",
        level_class(level),
        escape(word),
        escape(value)
    )
}

fn write_html_cell(out: &mut String, cell: &Cell) {
    let _ = match cell {
        Cell::Number(text) => write!(out, "<td class=\"num\">{}</td>", escape(text)),
        Cell::Text(text) => write!(out, "<td>{}</td>", escape(text)),
        Cell::Strong(text) => write!(out, "<td><strong>{}</strong></td>", escape(text)),
        Cell::Code(text) => write!(out, "<td><span class=\"mono\">{}</span></td>", escape(text)),
        Cell::Badge { level, word, value } => {
            write!(out, "<td>{}</td>", badge_html(*level, word, value))
        }
        Cell::Lines(lines) => {
            let lines: Vec<String> = lines.iter().map(|l| escape(l)).collect();
            write!(out, "<td>{}</td>", lines.join("<br>"))
        }
        Cell::Family(family) => write!(out, "<td>{} (cheapest attack)</td>", escape(family)),
    };
}

fn markdown_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) | Cell::Strong(text) | Cell::Code(text) | Cell::Number(text) => {
            text.clone()
        }
        Cell::Badge { word, value, .. } if value.is_empty() => word.to_string(),
        Cell::Badge { word, value, .. } => format!("{word} {value}"),
        Cell::Lines(lines) => lines.join("; "),
        Cell::Family(family) => format!("**{family}**"),
    }
}

/// Escapes a Markdown table cell: pipes, newlines and HTML (GitHub renders inline HTML).
pub(crate) fn markdown_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}
