//! What goes to stdout: tables and details for people, JSON for scripts.

use crate::dates::{Urgency, compact_due, local_datetime, machine_time, relative_due};
use chrono::{DateTime, TimeZone};
pub use comfy_table::Color;
use comfy_table::{
    Attribute, Cell, CellAlignment, ContentArrangement, ContentLineStyle, LineStyle, Table,
    TableStyle,
};
use serde::Serialize;
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use taskcore::{Priority, ProjectCount, Task};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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

/// One cell of a boxed table: its text and the colour it has when colours are on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field {
    /// The text; control characters are shown as spaces.
    pub text: String,
    /// Its colour, if any.
    pub color: Option<Color>,
}

impl Field {
    /// A field without colour.
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            color: None,
        }
    }

    /// A field with a colour.
    pub fn colored(text: impl Into<String>, color: Option<Color>) -> Self {
        Self {
            text: text.into(),
            color,
        }
    }
}

/// One column of a boxed table.
#[derive(Clone, Debug)]
pub struct Column {
    /// The header (never cut).
    pub header: &'static str,
    /// Right-aligned, as numbers are.
    pub right: bool,
    /// May be left out on a narrow terminal ([`boxed_table`]).
    pub optional: bool,
    /// The cells, one per row.
    pub cells: Vec<Field>,
}

impl Column {
    /// A left-aligned column that is always shown.
    pub fn new(header: &'static str, cells: Vec<Field>) -> Self {
        Self {
            header,
            right: false,
            optional: false,
            cells,
        }
    }

    /// The same column, left out when the terminal is too narrow for it.
    pub fn optional(self) -> Self {
        Self {
            optional: true,
            ..self
        }
    }

    /// The width it takes uncut: its widest cell or its header, at least
    /// one column (comfy-table draws an empty column one wide).
    fn natural_width(&self) -> usize {
        self.cells
            .iter()
            .map(|cell| display_width(&one_line(&cell.text)))
            .chain([display_width(self.header), 1])
            .max()
            .unwrap_or(1)
    }
}

/// A title (or other free text) cut to this many columns still reads: the
/// other columns give way until it has at least this much, even when that
/// shows no more titles whole.
const ROOM_ENOUGH: usize = 20;

/// How many terminal columns `text` takes (a CJK character takes two).
pub fn display_width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// The terminal's width when stdout is one and its size is known.
fn terminal_width() -> Option<usize> {
    Table::new()
        .width()
        .map(usize::from)
        .filter(|&width| width > 0)
}

/// Columns a box adds around `count` columns: a border on each side, a
/// separator between columns, and a space of padding on each side of a cell.
fn box_overhead(count: usize) -> usize {
    3 * count + 1
}

/// A boxed table for a terminal, fitted to `mode.width` or the terminal's.
/// The column `flexible` (free text, such as a name) keeps the room: when a
/// row is too wide, optional columns are left out, the last one first, as
/// far as that shows more of its cells whole or until it has 20 columns;
/// then its cells are cut with `…`, never below its header. For output that is not a terminal use
/// [`plain_table`] instead.
pub fn boxed_table(columns: &[Column], flexible: usize, mode: TableMode) -> String {
    let Some(total) = mode.width.map(usize::from).or_else(terminal_width) else {
        let widths: Vec<usize> = columns.iter().map(Column::natural_width).collect();
        return draw(columns, &widths, mode);
    };
    let optional: Vec<usize> = (0..columns.len())
        .filter(|&i| i != flexible && columns[i].optional)
        .collect();
    // The columns shown when the last `dropped` optional ones are left out.
    let shown = |dropped: usize| -> Vec<usize> {
        let gone = &optional[optional.len() - dropped..];
        (0..columns.len()).filter(|i| !gone.contains(i)).collect()
    };
    let room = |shown: &[usize]| {
        let others: usize = shown
            .iter()
            .filter(|&&i| i != flexible)
            .map(|&i| columns[i].natural_width())
            .sum();
        total.saturating_sub(others + box_overhead(shown.len()))
    };
    let cut_cells = |dropped: usize| {
        let room = room(&shown(dropped));
        columns.get(flexible).map_or(0, |column| {
            column
                .cells
                .iter()
                .filter(|cell| display_width(&one_line(&cell.text)) > room)
                .count()
        })
    };
    let wanted = columns
        .get(flexible)
        .map_or(0, |column| column.natural_width().min(ROOM_ENOUGH));
    let steps: Vec<usize> = (0..=optional.len()).collect();
    let dropped = give_way(&steps, cut_cells, |d| room(&shown(d)), wanted).unwrap_or(0);
    let shown = shown(dropped);
    let room = room(&shown);
    let kept: Vec<Column> = shown.iter().map(|&i| columns[i].clone()).collect();
    let widths: Vec<usize> = shown
        .iter()
        .map(|&i| {
            let natural = columns[i].natural_width();
            if i == flexible {
                natural.min(room.max(display_width(columns[i].header)))
            } else {
                natural
            }
        })
        .collect();
    draw(&kept, &widths, mode)
}

/// How far a table gives way to its free-text column: the first of `steps`
/// (from the fullest layout to the tightest) that cuts no more of that
/// column's cells than the tightest would (`cut`) and leaves it `wanted`
/// columns (`room`). A text too long for the line even alone is cut at
/// every step, and need not take the other columns with it. `None` only
/// for no steps.
fn give_way<S: Copy>(
    steps: &[S],
    cut: impl Fn(S) -> usize,
    room: impl Fn(S) -> usize,
    wanted: usize,
) -> Option<S> {
    let tightest = *steps.last()?;
    let least = cut(tightest);
    Some(
        steps
            .iter()
            .copied()
            .find(|&step| cut(step) <= least && room(step) >= wanted)
            .unwrap_or(tightest),
    )
}

/// Draws `columns` with each cell cut to its column's width.
fn draw(columns: &[Column], widths: &[usize], mode: TableMode) -> String {
    let mut table = Table::new();
    table.load_style(TERMINAL_STYLE);
    // The widths are ours: comfy-table only draws.
    table.set_content_arrangement(ContentArrangement::Disabled);
    if mode.color {
        table.enforce_styling();
    }
    let align = |cell: Cell, column: &Column| {
        if column.right {
            cell.set_alignment(CellAlignment::Right)
        } else {
            cell
        }
    };
    table.set_header(columns.iter().map(|column| {
        let cell = align(Cell::new(column.header), column);
        if mode.color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    let rows = columns.iter().map(|c| c.cells.len()).max().unwrap_or(0);
    for row in 0..rows {
        table.add_row(columns.iter().zip(widths).map(|(column, &width)| {
            let field = column.cells.get(row).cloned().unwrap_or_default();
            let cell = align(Cell::new(cut(&one_line(&field.text), width)), column);
            match (mode.color, field.color) {
                (true, Some(color)) => cell.fg(color),
                _ => cell,
            }
        }));
    }
    table
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table for a pipe: one line per row, fields separated by a tab, no
/// header, no padding. Control characters (tabs and newlines included)
/// become spaces, so a field never splits a line or a row. Put a field that
/// is never empty last: it is what keeps a line free of trailing white space.
pub fn plain_table<R, F>(rows: R) -> String
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    rows.into_iter()
        .map(|fields| {
            let line = fields
                .iter()
                .map(|field| one_line(field.as_ref()))
                .collect::<Vec<_>>()
                .join("\t");
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` cut to `width` display columns, ending in `…` when it was cut.
fn cut(text: &str, width: usize) -> String {
    if display_width(text) <= width {
        return text.to_string();
    }
    let mut kept = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let ch_width = UnicodeWidthChar::width(ch).unwrap_or(0);
        // Keep one column for the `…`.
        if used + ch_width + 1 > width {
            break;
        }
        used += ch_width;
        kept.push(ch);
    }
    if width > 0 {
        kept.push('…');
    }
    kept
}

/// Control characters (tab, newline, escape, the C1 set the server lets
/// through) and the Unicode line and paragraph separators as spaces: a cell
/// stays on one line and cannot move the cursor or change colours.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|ch| match ch {
            '\u{2028}' | '\u{2029}' => ' ',
            ch if ch.is_control() => ' ',
            ch => ch,
        })
        .collect()
}

/// How far a task table gives way on a narrow terminal; each step keeps the
/// ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Squeeze {
    /// Everything, due dates in words.
    Full,
    /// Due dates in their compact form (`-705d`, `tmrw`, `+3d`).
    CompactDue,
    /// Tags cut to a few columns.
    ShortTags,
    /// No tags column.
    NoTags,
    /// Priority as a mark (`!` to `!!!`) beside the done mark.
    PriorityMark,
    /// Projects cut to a few columns.
    ShortProject,
    /// No project column.
    NoProject,
    /// No due column.
    NoDue,
}

const SQUEEZES: [Squeeze; 8] = [
    Squeeze::Full,
    Squeeze::CompactDue,
    Squeeze::ShortTags,
    Squeeze::NoTags,
    Squeeze::PriorityMark,
    Squeeze::ShortProject,
    Squeeze::NoProject,
    Squeeze::NoDue,
];

/// The most the tags column keeps before the title has what it needs.
const TAGS_WIDE: usize = 30;
/// What a cut tags column keeps.
const TAGS_NARROW: usize = 12;
/// The most the project column keeps before the title has what it needs.
const PROJECT_WIDE: usize = 30;
/// What a cut project column keeps.
const PROJECT_NARROW: usize = 12;

/// The mark of a completed task.
const DONE_MARK: &str = "✓";
/// The mark of a task that repeats.
const RECUR_MARK: &str = "↻";

/// A task's cells, in every form a table may show them.
struct TaskCells {
    number: String,
    /// The done and recurring marks (`✓`, `↻`, `✓↻`, or nothing).
    marks: String,
    completed: bool,
    priority: &'static str,
    mark: &'static str,
    priority_color: Option<Color>,
    due: String,
    compact_due: String,
    due_color: Option<Color>,
    title: String,
    title_color: Option<Color>,
    tags: String,
    project: String,
}

/// A task as a table or `show` names it: by its number, or, for one added
/// offline and not synced yet, by its local handle (`~1`).
pub trait Labelled {
    /// The task.
    fn task(&self) -> &Task;
    /// How the user names it: `12`, or `~1`.
    fn label(&self) -> String;
}

impl Labelled for Task {
    fn task(&self) -> &Task {
        self
    }

    fn label(&self) -> String {
        self.number.to_string()
    }
}

impl Labelled for taskclient::LocalTask {
    fn task(&self) -> &Task {
        &self.task
    }

    fn label(&self) -> String {
        taskclient::LocalTask::label(self)
    }
}

impl TaskCells {
    fn new<Tz: TimeZone>(labelled: &impl Labelled, now: &DateTime<Tz>) -> Self {
        let task = labelled.task();
        let (priority, mark, priority_color) = match task.priority {
            Priority::High => ("high", "!!!", Some(Color::Red)),
            Priority::Medium => ("medium", "!!", Some(Color::Yellow)),
            Priority::Low => ("low", "!", Some(Color::Blue)),
            Priority::None => ("", "", None),
        };
        let (due, compact, due_color) = match task.due {
            Some(due) => {
                let (text, urgency) = relative_due(due, now);
                let color = match urgency {
                    _ if task.completed => None,
                    Urgency::Overdue => Some(Color::Red),
                    Urgency::Soon => Some(Color::Yellow),
                    Urgency::Later => None,
                };
                (text, compact_due(due, now).0, color)
            }
            None => (String::new(), String::new(), None),
        };
        let mut marks = String::new();
        if task.completed {
            marks.push_str(DONE_MARK);
        }
        if task.recur.is_some() {
            marks.push_str(RECUR_MARK);
        }
        Self {
            number: labelled.label(),
            marks,
            completed: task.completed,
            priority,
            mark,
            priority_color,
            due,
            compact_due: compact,
            due_color,
            title: one_line(&task.title),
            title_color: task.completed.then_some(Color::DarkGrey),
            tags: one_line(&task.tags.join(" ")),
            project: task
                .project
                .as_ref()
                .map(|p| one_line(p.as_str()))
                .unwrap_or_default(),
        }
    }

    /// The marks with the priority's after them, for a narrow table.
    fn marks_and_priority(&self) -> String {
        format!("{}{}", self.marks, self.mark)
    }

    /// The marks' colour: green for a completed task, cyan for a pending
    /// recurring one.
    fn marks_color(&self) -> Option<Color> {
        if self.completed {
            Some(Color::Green)
        } else {
            Some(Color::Cyan)
        }
    }
}

/// A table of tasks. On a terminal: number, marks (done `✓`, recurring
/// `↻`), priority, due, project (when any task has one), title and tags in
/// a box as wide as the terminal, the other columns giving way to the title
/// ([`Squeeze`]). Piped: number, `done` or `pending`, priority, due (RFC
/// 3339, local time; empty when none), tags (space-separated), project,
/// rule (the RRULE) and the title last, tab-separated.
pub fn task_table<T: Labelled, Tz: TimeZone>(
    tasks: &[T],
    now: &DateTime<Tz>,
    mode: TableMode,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    if !mode.terminal {
        return plain_table(tasks.iter().map(|labelled| {
            let task = labelled.task();
            vec![
                labelled.label(),
                if task.completed { "done" } else { "pending" }.to_string(),
                task.priority.as_str().to_string(),
                task.due
                    .map(|due| machine_time(due, &now.timezone()))
                    .unwrap_or_default(),
                task.tags.join(" "),
                task.project
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                task.recur
                    .as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
                task.title.trim().to_string(),
            ]
        }));
    }
    let cells: Vec<TaskCells> = tasks.iter().map(|t| TaskCells::new(t, now)).collect();
    let widest = |text: fn(&TaskCells) -> &str, header: &str| {
        cells
            .iter()
            .map(|c| display_width(text(c)))
            .chain([display_width(header), 1])
            .max()
            .unwrap_or(1)
    };
    let title_width = widest(|c| &c.title, "Title");
    let tags_width = widest(|c| &c.tags, "Tags");
    let has_project = tasks.iter().any(|t| t.task().project.is_some());
    let project_width = if has_project {
        widest(|c| &c.project, "Project")
    } else {
        0
    };
    let Some(total) = mode.width.map(usize::from).or_else(terminal_width) else {
        let columns = task_columns(&cells, Squeeze::Full, has_project);
        let widths: Vec<usize> = columns.iter().map(Column::natural_width).collect();
        return draw(&columns, &widths, mode);
    };
    // Per step: the columns other than the title, with the tags at their least.
    let fixed = |squeeze: Squeeze| -> usize {
        let mut widths = vec![widest(|c| &c.number, "#")];
        widths.push(if squeeze >= Squeeze::PriorityMark {
            cells
                .iter()
                .map(|c| display_width(&c.marks_and_priority()))
                .chain([1])
                .max()
                .unwrap_or(1)
        } else {
            widest(|c| &c.marks, "")
        });
        if squeeze < Squeeze::PriorityMark {
            widths.push(widest(|c| c.priority, "Priority"));
        }
        if squeeze < Squeeze::CompactDue {
            widths.push(widest(|c| &c.due, "Due"));
        } else if squeeze < Squeeze::NoDue {
            widths.push(widest(|c| &c.compact_due, "Due"));
        }
        if has_project && squeeze < Squeeze::ShortProject {
            widths.push(project_width.min(PROJECT_WIDE));
        } else if has_project && squeeze < Squeeze::NoProject {
            widths.push(project_width.min(PROJECT_NARROW));
        }
        if squeeze < Squeeze::ShortTags {
            widths.push(tags_width.min(TAGS_WIDE));
        } else if squeeze < Squeeze::NoTags {
            widths.push(tags_width.min(TAGS_NARROW));
        }
        // The title is one more column.
        widths.iter().sum::<usize>() + box_overhead(widths.len() + 1)
    };
    let room = |squeeze: Squeeze| total.saturating_sub(fixed(squeeze)).max(5);
    let cut_titles = |squeeze: Squeeze| {
        let room = room(squeeze);
        cells
            .iter()
            .filter(|c| display_width(&c.title) > room)
            .count()
    };
    let wanted = title_width.min(ROOM_ENOUGH);
    let squeeze = give_way(&SQUEEZES, cut_titles, room, wanted).unwrap_or(Squeeze::Full);
    let columns = task_columns(&cells, squeeze, has_project);
    let room = room(squeeze);
    let title = title_width.min(room);
    let mut widths: Vec<usize> = columns.iter().map(Column::natural_width).collect();
    let index = |header: &str| columns.iter().position(|c| c.header == header);
    if let Some(width) = index("Title").and_then(|i| widths.get_mut(i)) {
        *width = title;
    }
    // The title has what it needs: the project, then the tags, take what is left.
    let mut left = room - title;
    if let Some(width) = index("Project").and_then(|i| widths.get_mut(i)) {
        let reserved = project_width.min(if squeeze < Squeeze::ShortProject {
            PROJECT_WIDE
        } else {
            PROJECT_NARROW
        });
        *width = project_width.min(reserved + left);
        left -= *width - reserved;
    }
    if let Some(width) = index("Tags").and_then(|i| widths.get_mut(i)) {
        let reserved = tags_width.min(if squeeze < Squeeze::ShortTags {
            TAGS_WIDE
        } else {
            TAGS_NARROW
        });
        *width = tags_width.min(reserved + left);
    }
    draw(&columns, &widths, mode)
}

/// The columns a task table shows at `squeeze`; a Project column only when
/// `has_project`.
fn task_columns(cells: &[TaskCells], squeeze: Squeeze, has_project: bool) -> Vec<Column> {
    let column = |header: &'static str, cell: &dyn Fn(&TaskCells) -> Field| {
        Column::new(header, cells.iter().map(cell).collect())
    };
    let mut columns = vec![Column {
        right: true,
        ..column("#", &|c| Field::plain(c.number.clone()))
    }];
    if squeeze < Squeeze::PriorityMark {
        columns.push(column("", &|c| {
            Field::colored(c.marks.clone(), c.marks_color())
        }));
        columns.push(column("Priority", &|c| {
            Field::colored(c.priority, c.priority_color)
        }));
    } else {
        columns.push(column("", &|c| {
            let color = if c.mark.is_empty() {
                c.marks_color()
            } else {
                c.priority_color
            };
            Field::colored(c.marks_and_priority(), color)
        }));
    }
    if squeeze < Squeeze::CompactDue {
        columns.push(column("Due", &|c| {
            Field::colored(c.due.clone(), c.due_color)
        }));
    } else if squeeze < Squeeze::NoDue {
        columns.push(column("Due", &|c| {
            Field::colored(c.compact_due.clone(), c.due_color)
        }));
    }
    if has_project && squeeze < Squeeze::NoProject {
        columns.push(column("Project", &|c| Field::plain(c.project.clone())));
    }
    columns.push(column("Title", &|c| {
        Field::colored(c.title.clone(), c.title_color)
    }));
    if squeeze < Squeeze::NoTags {
        columns.push(column("Tags", &|c| Field::plain(c.tags.clone())));
    }
    columns
}

/// The projects as a tree, for `projects`. On a terminal: a box with the
/// name indented two columns per level under its parent (showing only the
/// part after the parent's name), and the pending and completed counts; on
/// a narrow terminal the completed counts give way to the names.
/// Piped: the full name, pending and completed, tab-separated.
///
/// The tree is ordered level by level (`Home`, `Home.Garden`, `Home-x`),
/// not by the names' byte order, where `Home-x` would come between `Home`
/// and `Home.Garden`. A project whose parent is not listed stands at the
/// level of its nearest listed ancestor, with the rest of its name.
pub fn project_tree(projects: &[ProjectCount], mode: TableMode) -> String {
    let mut sorted: Vec<&ProjectCount> = projects.iter().collect();
    sorted.sort_by(|a, b| a.name.segments().cmp(b.name.segments()));
    if !mode.terminal {
        return plain_table(sorted.iter().map(|p| {
            vec![
                p.name.to_string(),
                p.pending.to_string(),
                p.completed.to_string(),
            ]
        }));
    }
    let listed: HashSet<&str> = projects.iter().map(|p| p.name.as_str()).collect();
    let label = |project: &ProjectCount| {
        let name = project.name.as_str();
        let ancestors: Vec<_> = project
            .name
            .parents()
            .filter(|parent| listed.contains(parent.as_str()))
            .collect();
        let own = ancestors
            .last()
            .and_then(|parent| name.get(parent.as_str().len() + 1..))
            .unwrap_or(name);
        format!("{}{}", "  ".repeat(ancestors.len()), own)
    };
    let count = |n: u64| Field::plain(n.to_string());
    let columns = [
        Column::new(
            "Project",
            sorted.iter().map(|p| Field::plain(label(p))).collect(),
        ),
        Column {
            right: true,
            ..Column::new("Pending", sorted.iter().map(|p| count(p.pending)).collect())
        },
        Column {
            right: true,
            ..Column::new(
                "Completed",
                sorted.iter().map(|p| count(p.completed)).collect(),
            )
            .optional()
        },
    ];
    boxed_table(&columns, 0, mode)
}

/// One task in full, for `show`.
pub fn task_details<Tz: TimeZone>(labelled: &impl Labelled, now: &DateTime<Tz>) -> String {
    let task = labelled.task();
    let label = labelled.label();
    let mut lines = vec![if label.starts_with('~') {
        format!("Task {label} (not synced yet): {}", task.title)
    } else {
        format!("Task #{label}: {}", task.title)
    }];
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
    field(
        "Project",
        task.project
            .as_ref()
            .map_or_else(|| "-".to_string(), |p| p.to_string()),
    );
    field(
        "Repeats",
        match &task.recur {
            Some(rule) => {
                let (words, rrule) = (rule.describe(), rule.to_string());
                if words == rrule {
                    rrule
                } else {
                    format!("{words} ({rrule})")
                }
            }
            None => "-".to_string(),
        },
    );
    if let Some(series) = task.series {
        field(
            "Series",
            if series == task.id {
                format!("{series} (this task is the first)")
            } else {
                series.to_string()
            },
        );
    }
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

    fn terminal(width: u16) -> TableMode {
        TableMode {
            terminal: true,
            color: false,
            width: Some(width),
        }
    }

    #[test]
    fn plain_tables_are_tab_separated_rows_with_the_title_last() {
        let mut done = task(2, "Water the plants");
        done.completed = true;
        done.priority = Priority::High;
        done.due = Timestamp::parse_rfc3339("2026-03-02T12:00:00Z");
        done.tags = vec!["home".into(), "garden".into()];
        done.project = Project::parse("Home.Garden").ok();
        done.recur = Recur::parse("FREQ=WEEKLY;BYDAY=MO").ok();
        let text = task_table(
            &[task(1, "Buy oat milk"), done],
            &now(),
            TableMode {
                terminal: false,
                color: false,
                width: None,
            },
        );
        assert_eq!(
            text,
            "1\tpending\tnone\t\t\t\t\tBuy oat milk\n\
             2\tdone\thigh\t2026-03-02T12:00:00+00:00\thome garden\tHome.Garden\tFREQ=WEEKLY;BYDAY=MO\tWater the plants"
        );
    }

    #[test]
    fn plain_fields_never_split_a_row() {
        let text = plain_table([vec!["a\tb", "c\nd\u{1b}[31m  "], vec!["e", "f"]]);
        assert_eq!(text, "a b\tc d [31m\ne\tf");
    }

    #[test]
    fn cutting_counts_display_columns() {
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdef", 4), "abc…");
        // Each of these takes two columns: three fit with the mark in seven.
        assert_eq!(cut("買い物リスト", 7), "買い物…");
        assert_eq!(cut("買い物リスト", 8), "買い物…");
        assert_eq!(display_width(&cut("買い物リスト", 8)), 7);
    }

    fn busy() -> Vec<Task> {
        let mut first = task(1, "Write the quarterly report for the board");
        first.priority = Priority::High;
        first.due = Timestamp::parse_rfc3339("2024-03-29T12:00:00Z");
        first.tags = ["work", "reports", "q1", "board", "finance"]
            .map(String::from)
            .to_vec();
        let mut second = task(12, "牛乳と卵を買う");
        second.priority = Priority::Low;
        second.due = Timestamp::parse_rfc3339("2026-03-05T12:00:00Z");
        second.tags = vec!["shopping".into()];
        vec![first, second]
    }

    fn headers(text: &str) -> String {
        text.lines().nth(1).unwrap_or_default().to_string()
    }

    #[test]
    fn terminal_tables_give_way_to_the_title() {
        let tasks = busy();
        for width in [40u16, 60, 80, 120] {
            let text = task_table(&tasks, &now(), terminal(width));
            for line in text.lines() {
                assert!(
                    display_width(line) <= usize::from(width),
                    "{line:?} is wider than {width}:\n{text}"
                );
            }
            assert!(text.contains("牛乳と卵を買う"), "{text}");
            // 40 columns leave the title 24 at most: too few for this one.
            if width > 40 {
                assert!(
                    text.contains("Write the quarterly report for the board"),
                    "{text}"
                );
            } else {
                assert!(text.contains("│ Write the quarterly repo… │"), "{text}");
            }
        }
        let at = |width| {
            let text = task_table(&tasks, &now(), terminal(width));
            (headers(&text), text)
        };
        let (header, text) = at(120);
        assert!(
            header.contains("Priority") && header.contains("Tags"),
            "{text}"
        );
        assert!(
            text.contains("705d overdue") && text.contains("tomorrow"),
            "{text}"
        );
        assert!(text.contains("work reports q1 board finance"), "{text}");
        // Compact due dates alone leave the title too little: the tags go.
        let (header, text) = at(80);
        assert!(
            !header.contains("Tags") && header.contains("Priority"),
            "{text}"
        );
        assert!(text.contains("-705d") && text.contains("tmrw"), "{text}");
        // Then the priority becomes a mark and the due date goes.
        let (header, text) = at(60);
        assert!(
            !header.contains("Priority") && !header.contains("Due"),
            "{text}"
        );
        assert!(text.contains("│ !!! │ Write"), "{text}");
        // The report cannot fit anyway, but the due date still goes: with it
        // the title column would have fewer than ROOM_ENOUGH columns.
        let (header, text) = at(40);
        assert!(
            !header.contains("Due") && text.contains("│ !   │ 牛乳"),
            "{text}"
        );
    }

    #[test]
    fn titles_too_long_for_any_layout_are_cut_and_take_nothing_from_the_rest() {
        let mut tasks = busy();
        tasks.push(task(3, &"A very long title that goes on and on ".repeat(5)));
        let text = task_table(&tasks, &now(), terminal(120));
        for line in text.lines() {
            assert!(display_width(line) <= 120, "{line:?}:\n{text}");
        }
        assert!(
            text.contains("A very long title that goes") && text.contains('…'),
            "{text}"
        );
        assert_eq!(text.lines().filter(|l| l.contains("A very")).count(), 1);
        // The other titles still fit with every column, so none gives way.
        assert!(
            headers(&text).contains("Tags") && text.contains("705d overdue"),
            "{text}"
        );
        let colored = task_table(
            &tasks,
            &now(),
            TableMode {
                color: true,
                ..terminal(120)
            },
        );
        assert!(colored.contains('\u{1b}'), "colours on a terminal");
    }

    #[test]
    fn other_tables_leave_out_optional_columns_then_cut_the_flexible_one() {
        let name = "deploy ".repeat(10).trim().to_string();
        let columns = [
            Column::new("ID", vec![Field::plain("0193b1c2-aaaa")]),
            Column::new("Name", vec![Field::plain(&name)]),
            Column::new("Made", vec![Field::plain("2026-12-24")]).optional(),
            Column::new("Used", vec![Field::plain("never")]).optional(),
        ];
        let at = |width| boxed_table(&columns, 1, terminal(width));
        let wide = at(120);
        assert!(wide.contains(&name) && wide.contains("never"), "{wide}");
        // Leaving out the last optional column is enough for the name.
        let narrower = at(105);
        assert!(
            narrower.lines().all(|l| display_width(l) <= 105),
            "{narrower}"
        );
        assert!(narrower.contains(&name), "{narrower}");
        assert!(
            narrower.contains("2026-12-24") && !narrower.contains("never"),
            "{narrower}"
        );
        // Too narrow for the name anyway: the dates go only until it has 20 columns.
        let narrow = at(56);
        assert!(narrow.lines().all(|l| display_width(l) <= 56), "{narrow}");
        assert!(
            narrow.contains("2026-12-24") && !narrow.contains("never"),
            "{narrow}"
        );
        assert!(
            narrow.contains("deploy deploy deploy") && narrow.contains('…'),
            "{narrow}"
        );
        let narrowest = at(40);
        assert!(
            narrowest.lines().all(|l| display_width(l) <= 40),
            "{narrowest}"
        );
        assert!(!narrowest.contains("2026-12-24"), "{narrowest}");
        assert!(
            narrowest.contains("│ deploy deploy deplo… │"),
            "{narrowest}"
        );
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

    use taskcore::{Description, Project, ProjectCount, Recur};

    fn in_projects() -> Vec<Task> {
        let mut tasks = busy();
        tasks[0].project = Project::parse("Work.Reports.Quarterly").ok();
        tasks[0].recur = Recur::parse("FREQ=MONTHLY;BYDAY=-1FR").ok();
        tasks[1].completed = true;
        tasks[1].recur = Recur::parse("FREQ=WEEKLY").ok();
        tasks
    }

    #[test]
    fn a_project_column_only_when_a_task_has_a_project() {
        let text = task_table(&busy(), &now(), terminal(120));
        assert!(!headers(&text).contains("Project"), "{text}");
        let text = task_table(&in_projects(), &now(), terminal(140));
        assert!(
            headers(&text).contains("│ Due          │ Project                │ Title"),
            "{text}"
        );
        assert!(text.contains("│ Work.Reports.Quarterly │"), "{text}");
    }

    #[test]
    fn recurring_tasks_are_marked_beside_the_done_mark() {
        let text = task_table(&in_projects(), &now(), terminal(140));
        assert!(text.contains("│  1 │ ↻  │ high"), "{text}");
        assert!(text.contains("│ 12 │ ✓↻ │ low"), "{text}");
        // Narrow: the priority joins the marks.
        let text = task_table(&in_projects(), &now(), terminal(60));
        assert!(text.contains("│ ↻!!! │"), "{text}");
        assert!(text.contains("│ ✓↻!  │"), "{text}");
    }

    #[test]
    fn the_project_gives_way_after_the_priority_and_before_the_due_date() {
        let tasks = in_projects();
        let at = |width: u16| {
            let text = task_table(&tasks, &now(), terminal(width));
            for line in text.lines() {
                assert!(
                    display_width(line) <= usize::from(width),
                    "{line:?}:\n{text}"
                );
            }
            (headers(&text), text)
        };
        // Wide: every column.
        let (header, text) = at(180);
        assert!(
            header.contains("Priority") && header.contains("Project") && header.contains("Tags"),
            "{text}"
        );
        // The tags go first, then the priority becomes a mark, while the
        // project stays whole.
        let (header, text) = at(98);
        assert!(
            header.contains("Priority") && header.contains("Project") && !header.contains("Tags"),
            "{text}"
        );
        let (header, text) = at(89);
        assert!(!header.contains("Priority"), "{text}");
        assert!(text.contains("│ Work.Reports.Quarterly │"), "{text}");
        // Then the project is cut (to 12 columns at least), then it goes;
        // the due date stays longest.
        let (header, text) = at(79);
        assert!(header.contains("Due"), "{text}");
        assert!(text.contains("│ Work.Report… │"), "{text}");
        let (header, text) = at(78);
        assert!(
            !header.contains("Project") && header.contains("Due"),
            "{text}"
        );
        assert!(
            text.contains("Write the quarterly report for the board"),
            "{text}"
        );
        let (header, text) = at(63);
        assert!(!header.contains("Due"), "{text}");
        assert!(
            text.contains("Write the quarterly report for the board"),
            "{text}"
        );
    }

    fn counts(rows: &[(&str, u64, u64)]) -> Vec<ProjectCount> {
        rows.iter()
            .map(|&(name, pending, completed)| ProjectCount {
                name: Project::parse(name).expect("valid"),
                pending,
                completed,
            })
            .collect()
    }

    #[test]
    fn projects_are_a_tree_by_level() {
        // Byte order, as the server sends them: `-` sorts before `.`.
        let projects = counts(&[
            ("Home", 3, 5),
            ("Home-x", 1, 0),
            ("Home.Garden", 2, 3),
            ("Home.Garden.Beds", 1, 1),
            ("Work", 0, 2),
        ]);
        let text = project_tree(&projects, terminal(60));
        let rows: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            rows,
            [
                "│ Home     │       3 │         5 │",
                "│   Garden │       2 │         3 │",
                "│     Beds │       1 │         1 │",
                "│ Home-x   │       1 │         0 │",
                "│ Work     │       0 │         2 │",
                "╰──────────┴─────────┴───────────╯",
            ],
            "{text}"
        );
        let piped = project_tree(
            &projects,
            TableMode {
                terminal: false,
                color: false,
                width: None,
            },
        );
        assert_eq!(
            piped,
            "Home\t3\t5\nHome.Garden\t2\t3\nHome.Garden.Beds\t1\t1\nHome-x\t1\t0\nWork\t0\t2"
        );
        // A parent that is not listed: the rest of the name, one level in.
        let text = project_tree(&counts(&[("A", 1, 0), ("A.B.C", 1, 0)]), terminal(60));
        assert!(text.contains("│   B.C   │"), "{text}");
    }

    #[test]
    fn details_show_the_project_rule_and_series() {
        let mut t = task(4, "Water plants");
        let text = task_details(&t, &now());
        assert!(text.contains("  Project:   -\n  Repeats:   -\n"), "{text}");
        assert!(!text.contains("Series"), "{text}");
        t.project = Project::parse("Home.Garden").ok();
        t.recur = Recur::parse("FREQ=WEEKLY;BYDAY=MO,TH").ok();
        t.series = Some(t.id);
        let text = task_details(&t, &now());
        assert!(text.contains("  Project:   Home.Garden\n"), "{text}");
        assert!(
            text.contains("  Repeats:   every Mon, Thu (FREQ=WEEKLY;BYDAY=MO,TH)\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("  Series:    {} (this task is the first)", t.id)),
            "{text}"
        );
        t.recur = Recur::parse("FREQ=MONTHLY;BYDAY=-1FR").ok();
        let text = task_details(&t, &now());
        assert!(
            text.contains("  Repeats:   FREQ=MONTHLY;BYDAY=-1FR\n"),
            "{text}"
        );
    }
}
