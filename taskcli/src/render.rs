//! What goes to stdout: tables and details for people, JSON for scripts.

use crate::dates::{Urgency, local_datetime, relative_due};
use chrono::{DateTime, TimeZone};
use comfy_table::{
    Attribute, Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, ContentLineStyle,
    LineStyle, Row, Table, TableStyle, Width, presets,
};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use taskcore::{Priority, Task};

/// How output is shaped, decided once from the flags and the environment.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// `--json`.
    pub json: bool,
    /// How tables look.
    pub table: TableMode,
}

/// How a table looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableMode {
    /// Borders, truncation to the terminal's width, nicer marks.
    pub terminal: bool,
    /// Colours (never without a terminal, never with `NO_COLOR`).
    pub color: bool,
    /// A fixed width instead of the terminal's.
    pub width: Option<u16>,
}

impl Output {
    /// From `--json`, whether stdout is a terminal, and `NO_COLOR`.
    pub fn detect(json: bool, no_color: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        Self {
            json,
            table: TableMode {
                terminal,
                color: terminal && !no_color,
                width: None,
            },
        }
    }

    /// Prints text and a newline. A closed pipe (`taskcli list | head`) ends
    /// the process quietly, as it would end `cat`.
    pub fn line(&self, text: impl AsRef<str>) {
        let mut stdout = std::io::stdout().lock();
        let result = stdout
            .write_all(text.as_ref().as_bytes())
            .and_then(|()| stdout.write_all(b"\n"));
        if result.and_then(|()| stdout.flush()).is_err() {
            std::process::exit(0);
        }
    }

    /// Prints a value as pretty JSON.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) {
        // Our own types always serialize; fall back to `null` rather than panic.
        self.line(serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into()));
    }
}

/// Rounded box, a line under the header, none between rows.
const TERMINAL_STYLE: TableStyle = TableStyle::new()
    .top_border(LineStyle::new('╭', '─', '┬', '╮'))
    .header_lines(ContentLineStyle::new('│', '│', '│'))
    .header_separator(LineStyle::new('├', '─', '┼', '┤'))
    .content_lines(ContentLineStyle::new('│', '│', '│'))
    .bottom_border(LineStyle::new('╰', '─', '┴', '╯'));

/// A table of tasks: number, done mark, priority, due, title, tags.
pub fn task_table<Tz: TimeZone>(tasks: &[Task], now: &DateTime<Tz>, mode: TableMode) -> String {
    let mut table = Table::new();
    if mode.terminal {
        table.load_style(TERMINAL_STYLE);
        table.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        table.force_no_tty();
        table.load_style(presets::NOTHING);
        table.set_content_arrangement(ContentArrangement::Disabled);
    }
    if mode.color {
        table.enforce_styling();
    }
    if let Some(width) = mode.width {
        table.set_width(width);
    }
    let header = ["#", "", "Priority", "Due", "Title", "Tags"].map(|h| {
        let cell = Cell::new(h);
        let cell = if h == "#" {
            cell.set_alignment(CellAlignment::Right)
        } else {
            cell
        };
        if mode.color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    });
    table.set_header(header.to_vec());
    let paint = |cell: Cell, color: Option<Color>| match (mode.color, color) {
        (true, Some(color)) => cell.fg(color),
        _ => cell,
    };
    for task in tasks {
        let done = match (task.completed, mode.terminal) {
            (true, true) => "✓",
            (true, false) => "x",
            (false, _) => "",
        };
        let priority_color = match task.priority {
            Priority::High => Some(Color::Red),
            Priority::Medium => Some(Color::Yellow),
            Priority::Low => Some(Color::Blue),
            Priority::None => None,
        };
        let priority = if task.priority == Priority::None {
            ""
        } else {
            task.priority.as_str()
        };
        let (due, due_color) = match task.due {
            Some(due) => {
                let (text, urgency) = relative_due(due, now);
                let color = match urgency {
                    _ if task.completed => None,
                    Urgency::Overdue => Some(Color::Red),
                    Urgency::Soon => Some(Color::Yellow),
                    Urgency::Later => None,
                };
                (text, color)
            }
            None => (String::new(), None),
        };
        let title_color = task.completed.then_some(Color::DarkGrey);
        let mut row = Row::from(vec![
            Cell::new(task.number).set_alignment(CellAlignment::Right),
            paint(Cell::new(done), Some(Color::Green)),
            paint(Cell::new(priority), priority_color),
            paint(Cell::new(due), due_color),
            paint(Cell::new(one_line(&task.title)), title_color),
            Cell::new(task.tags.join(" ")),
        ]);
        if mode.terminal {
            // Long titles are cut to the width left for them, not wrapped.
            row.max_height(1);
        }
        table.add_row(row);
    }
    if mode.terminal {
        for (index, column) in table.column_iter_mut().enumerate() {
            column.set_constraint(match index {
                4 => ColumnConstraint::LowerBoundary(Width::Fixed(10)),
                5 => ColumnConstraint::UpperBoundary(Width::Fixed(30)),
                _ => ColumnConstraint::ContentWidth,
            });
        }
    }
    table
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r', '\t'], " ")
}

/// One task in full, for `show`.
pub fn task_details<Tz: TimeZone>(task: &Task, now: &DateTime<Tz>) -> String {
    let mut lines = vec![format!("Task #{}: {}", task.number, task.title)];
    let mut field =
        |name: &str, value: String| lines.push(format!("  {:<10} {value}", format!("{name}:")));
    field(
        "Status",
        match task.completed_at {
            Some(at) if task.completed => format!("done ({})", local_datetime(at)),
            _ if task.completed => "done".to_string(),
            _ => "pending".to_string(),
        },
    );
    field("Priority", task.priority.as_str().to_string());
    field(
        "Due",
        match task.due {
            Some(due) => match relative_due(due, now) {
                (relative, urgency) if urgency != Urgency::Later || relative.starts_with("in ") => {
                    format!("{}, {relative}", local_datetime(due))
                }
                _ => local_datetime(due),
            },
            None => "-".to_string(),
        },
    );
    field(
        "Tags",
        if task.tags.is_empty() {
            "-".to_string()
        } else {
            task.tags.join(" ")
        },
    );
    field("Created", local_datetime(task.created_at));
    field("Updated", local_datetime(task.updated_at));
    field("Version", task.version.to_string());
    field("ID", task.id.to_string());
    if !task.description.is_empty() {
        lines.push(String::new());
        lines.extend(task.description.lines().map(|line| format!("  {line}")));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;
    use taskcore::{TaskDraft, TaskId, Timestamp};

    fn task(number: u64, title: &str) -> Task {
        let created = Timestamp::parse_rfc3339("2026-03-01T10:00:00Z").expect("valid");
        Task::new(
            TaskId::generate(),
            number,
            TaskDraft::new(title).expect("valid"),
            created,
        )
    }

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-03-04T10:00:00+00:00").expect("valid")
    }

    #[test]
    fn plain_tables_have_no_borders_or_colours() {
        let mut done = task(2, "Water the plants");
        done.completed = true;
        done.priority = Priority::High;
        done.due = Timestamp::parse_rfc3339("2026-03-02T12:00:00Z");
        done.tags = vec!["home".into(), "garden".into()];
        let text = task_table(
            &[task(1, "Buy oat milk"), done],
            &now(),
            TableMode {
                terminal: false,
                color: false,
                width: None,
            },
        );
        assert!(!text.contains('\u{1b}'), "no escape codes: {text:?}");
        assert!(
            !text.contains('─') && !text.contains('|'),
            "no borders: {text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("Priority") && lines[0].contains("Title"));
        assert!(lines[1].contains("Buy oat milk"));
        assert!(
            lines[2].contains(" x ")
                && lines[2].contains("high")
                && lines[2].contains("2d overdue")
        );
        assert!(lines[2].contains("home garden"));
    }

    #[test]
    fn terminal_tables_fit_the_width_and_cut_long_titles() {
        let long = task(3, &"A very long title that goes on and on ".repeat(5));
        let mode = TableMode {
            terminal: true,
            color: false,
            width: Some(60),
        };
        let text = task_table(std::slice::from_ref(&long), &now(), mode);
        for line in text.lines() {
            assert!(line.chars().count() <= 60, "{line:?} is wider than 60");
        }
        assert!(text.contains('…'), "the title is cut: {text}");
        assert_eq!(
            text.lines().filter(|l| l.contains("A very")).count(),
            1,
            "one line per task: {text}"
        );
        let colored = task_table(
            &[long],
            &now(),
            TableMode {
                color: true,
                ..mode
            },
        );
        assert!(colored.contains('\u{1b}'), "colours on a terminal");
    }

    #[test]
    fn details_show_everything() {
        let mut t = task(7, "Buy oat milk");
        t.tags = vec!["shopping".into()];
        t.description = Description::parse("two litres\nunsweetened")
            .map(|d| d.as_str().to_string())
            .expect("valid");
        let text = task_details(&t, &now());
        assert!(text.starts_with("Task #7: Buy oat milk"));
        assert!(
            text.contains("pending") && text.contains("shopping") && text.contains("  unsweetened")
        );
        assert!(text.contains(&t.id.to_string()));
    }

    use taskcore::Description;
}
