//! The command line: every command, flag and help text.

use crate::dates::When;
use crate::ids::TaskArg;
use clap::{Args, Parser, Subcommand, ValueEnum};
use taskcore::{Priority, Sort};

const AFTER_HELP: &str = "\
Tasks are named by their number (7 or #7), their full UUID, or, until a task
added offline is synced, its local handle (~1).
Taskwarrior habits work too: taskcli add Buy bread +home due:friday pri:H
project:Home recur:weekly, taskcli list +home project:Home, taskcli 3 done.

Environment:
  TASKCLI_SERVER   server URL (like --server)
  TASKCLI_TOKEN    an access or API token to use instead of any stored login;
                   no keyring or file is touched
  TASKCLI_KEYRING  `none` keeps taskcli away from the OS keyring
  TASKCLI_KEYRING_TIMEOUT
                   seconds to wait for the OS keyring (default 5)
  NO_COLOR         no colours in tables
  TASKCLI_REPLICA  `0` keeps no local copy: every command asks the server
                   (like --no-replica)
  TASKCLI_SYNC_MAX_AGE
                   seconds the local copy is read without syncing first
                   (default 300)

With a stored login, taskcli keeps a copy of your tasks on this machine
($XDG_DATA_HOME/taskcli, usually ~/.local/share/taskcli): list, show and
projects read it, and add, edit, done, undone and rm work offline, their
changes synced within 2 s or by the next command that reaches the server.

Exit codes: 0 ok, 1 error, 2 usage, 3 not logged in or wrong credentials, 4 not found.";

/// Manage your tasks on a task server from the terminal.
#[derive(Debug, Parser)]
#[command(name = "taskcli", version, about, after_help = AFTER_HELP, propagate_version = true)]
#[command(arg_required_else_help = true)]
pub struct Cli {
    /// Options that every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that work before or after any subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Server URL [default: $TASKCLI_SERVER, else the server of the last login, else http://127.0.0.1:8080]
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,

    /// Print the API's JSON objects instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Keep tokens in a file readable only by you (~/.config/taskcli) when no OS keyring is available
    #[arg(long, global = true)]
    pub insecure_storage: bool,

    /// Keep no local copy: every command asks the server (also TASKCLI_REPLICA=0)
    #[arg(long, global = true)]
    pub no_replica: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in, log out, and manage tokens
    #[command(subcommand)]
    Auth(AuthCommand),

    /// Add a task; the title is every remaining word, `+tag` words are tags
    #[command(after_help = "\
Examples:
  taskcli add Buy oat milk -p high --due friday -t shopping
  taskcli add Buy oat milk +shopping pri:H due:friday   (Taskwarrior style)
  taskcli add Water plants --project Home.Garden --due monday --recur weekly
  taskcli add Team sync --due thu --recur 'every mon,thu'   (quote a rule of several words)
  taskcli add -- Email +1 to Bob                        (words after -- are the title as typed)")]
    Add(AddArgs),

    /// List tasks (pending ones, unless --all or --done)
    #[command(visible_alias = "ls")]
    List(ListArgs),

    /// Show one task in full
    #[command(alias = "info")]
    Show {
        /// The task: 7, #7, ~1 or a UUID
        #[arg(value_name = "ID")]
        id: TaskArg,
    },

    /// Change a task's fields
    #[command(
        alias = "modify",
        after_help = "Taskwarrior style: taskcli edit 7 +home due:friday pri:H (or taskcli 7 modify ...)"
    )]
    Edit(EditArgs),

    /// Mark tasks as completed; a recurring task's next one is created and named
    Done {
        /// One or more tasks: 7, #7, ~1 or a UUID
        #[arg(value_name = "ID", required = true)]
        ids: Vec<TaskArg>,
    },

    /// Mark tasks as not completed
    Undone {
        /// One or more tasks: 7, #7, ~1 or a UUID
        #[arg(value_name = "ID", required = true)]
        ids: Vec<TaskArg>,
    },

    /// Delete tasks
    #[command(visible_alias = "delete")]
    Rm {
        /// One or more tasks: 7, #7, ~1 or a UUID
        #[arg(value_name = "ID", required = true)]
        ids: Vec<TaskArg>,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(short, long)]
        yes: bool,
    },

    /// List your projects as a tree, with their pending and completed tasks
    #[command(after_help = "\
A project's counts include the projects inside it (Home counts Home.Garden's tasks).
Piped: one line per project, its full name, pending and completed separated by tabs.")]
    Projects,

    /// Send the changes made here to the server and fetch the server's now
    #[command(after_help = "\
Prints one line of counts: changes sent, changes received, changes dropped
(a change the server refused, or an edit of a task deleted elsewhere, each
named on stderr). Exit 1 when the server cannot be reached.")]
    Sync,

    /// Print a shell completion script
    #[command(
        after_help = "Example: taskcli completions bash > ~/.local/share/bash-completion/completions/taskcli"
    )]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `taskcli auth ...`
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Create an account and log in
    Register(CredentialsArgs),
    /// Log in; the password comes from a hidden prompt, or stdin with --password-stdin
    Login(CredentialsArgs),
    /// Revoke the session on the server and delete the stored tokens
    Logout,
    /// Show the server, the user, where the tokens are kept and when they expire
    Status,
    /// Print the access token (for scripts)
    Token,
    /// Delete your account with all its tasks and tokens, then the stored tokens
    #[command(
        after_help = "Asks for the password and for the email typed again. In scripts: \
                      printf %s \"$PASSWORD\" | taskcli auth delete-account --password-stdin --yes"
    )]
    DeleteAccount(DeleteAccountArgs),
    /// Manage API tokens for scripts and CI
    #[command(subcommand, name = "api-token")]
    ApiToken(ApiTokenCommand),
}

/// Email and where the password comes from.
#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// Your email address
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// Read the password from the first line of stdin instead of a prompt
    #[arg(long)]
    pub password_stdin: bool,
}

/// How `auth delete-account` gets the password and the go-ahead.
#[derive(Debug, Args)]
pub struct DeleteAccountArgs {
    /// Read the password from the first line of stdin instead of a prompt (needs --yes)
    #[arg(long)]
    pub password_stdin: bool,
    /// Do not ask to type the email as confirmation (required when stdin is not a terminal)
    #[arg(short, long)]
    pub yes: bool,
}

/// `taskcli auth api-token ...`
#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create an API token; its value is shown only this once
    Create {
        /// A name to recognize it by (1 to 100 characters)
        name: String,
        /// Days until it expires, 1 to 365 [default: 90]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=365))]
        expires_in_days: Option<u32>,
    },
    /// List your API tokens (never their values)
    #[command(visible_alias = "ls")]
    List,
    /// Revoke an API token
    Revoke {
        /// The token's id, as `list` shows it, or its name when no other token has that name
        #[arg(value_name = "ID|NAME")]
        token: String,
    },
}

/// A priority on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PriorityArg {
    // Plain comments: doc comments would turn the one-line list of
    // possible values in --help into a long one.
    #[value(alias = "n")]
    None,
    #[value(alias = "l")]
    Low,
    #[value(alias = "m", alias = "med")]
    Medium,
    #[value(alias = "h")]
    High,
}

impl From<PriorityArg> for Priority {
    fn from(value: PriorityArg) -> Self {
        match value {
            PriorityArg::None => Priority::None,
            PriorityArg::Low => Priority::Low,
            PriorityArg::Medium => Priority::Medium,
            PriorityArg::High => Priority::High,
        }
    }
}

/// `taskcli add`
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The title: every word that is not an option. Words `+tag` are tags,
    /// `due:WHEN` and `priority:P` (or `pri:P`) set those fields
    #[arg(value_name = "TITLE", required_unless_present = "literal", num_args = 1..)]
    pub title: Vec<String>,
    /// Words after `--`: part of the title, as typed
    #[arg(value_name = "WORDS", last = true)]
    pub literal: Vec<String>,
    /// A longer description
    #[arg(short, long, value_name = "TEXT")]
    pub description: Option<String>,
    /// When it is due: 2026-12-24, today, tomorrow, friday, fri, +3d, +2w, or RFC 3339
    #[arg(long, value_name = "WHEN")]
    pub due: Option<When>,
    /// Priority
    #[arg(short, long, value_enum, value_name = "PRIORITY")]
    pub priority: Option<PriorityArg>,
    /// A tag (repeatable)
    #[arg(short, long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// The project: a name such as Home, dots between levels (Home.Garden)
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// Repeat it (needs --due): daily, weekly, monthly, yearly, weekdays,
    /// 'every 2 weeks', 'every mon,thu', or an RRULE (FREQ=MONTHLY;BYDAY=-1FR)
    #[arg(long, value_name = "RULE")]
    pub recur: Option<String>,
}

/// `taskcli list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show completed tasks too
    #[arg(short, long, conflicts_with = "done")]
    pub all: bool,
    /// Show only completed tasks
    #[arg(long)]
    pub done: bool,
    /// Only tasks with this tag
    #[arg(short, long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Only tasks with this priority
    #[arg(short, long, value_enum, value_name = "PRIORITY")]
    pub priority: Option<PriorityArg>,
    /// Only tasks whose title or description contains this text (any case)
    #[arg(short = 's', long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only tasks in this project or a project inside it; `-` for tasks without a project
    #[arg(long, value_name = "PROJECT", allow_hyphen_values = true)]
    pub project: Option<String>,
    /// Order: created, due, priority, project, title or updated; a leading - reverses
    #[arg(long, value_name = "KEY", allow_hyphen_values = true, value_parser = parse_sort)]
    pub sort: Option<Sort>,
    /// Show at most N tasks [default: all]
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Taskwarrior-style filters: `+tag` (like --tag), `priority:P` (like --priority),
    /// `project:P` (like --project; `project:` for none)
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
}

fn parse_sort(text: &str) -> Result<Sort, String> {
    Sort::parse(text.trim()).ok_or_else(|| {
        "must be one of created, due, priority, project, title, updated, each optionally prefixed with -"
            .to_string()
    })
}

/// `taskcli edit`
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The task: 7, #7, ~1 or a UUID
    #[arg(value_name = "ID")]
    pub id: TaskArg,
    /// New title
    #[arg(long, value_name = "TITLE")]
    pub title: Option<String>,
    /// New description
    #[arg(short, long, value_name = "TEXT")]
    pub description: Option<String>,
    /// New due date (see `add --help`)
    #[arg(long, value_name = "WHEN", conflicts_with = "no_due")]
    pub due: Option<When>,
    /// Remove the due date
    #[arg(long)]
    pub no_due: bool,
    /// New priority
    #[arg(short, long, value_enum, value_name = "PRIORITY")]
    pub priority: Option<PriorityArg>,
    /// Replace all tags with these (repeatable)
    #[arg(short, long = "tag", value_name = "TAG", conflicts_with_all = ["add_tags", "remove_tags"])]
    pub tags: Vec<String>,
    /// Add a tag (repeatable)
    #[arg(long = "add-tag", value_name = "TAG")]
    pub add_tags: Vec<String>,
    /// Remove a tag (repeatable)
    #[arg(long = "remove-tag", value_name = "TAG")]
    pub remove_tags: Vec<String>,
    /// Move it into this project (dots between levels: Home.Garden)
    #[arg(long, value_name = "PROJECT", conflicts_with = "no_project")]
    pub project: Option<String>,
    /// Take it out of its project
    #[arg(long)]
    pub no_project: bool,
    /// Repeat it (the task needs a due date): a rule as for `add --recur`
    #[arg(long, value_name = "RULE", conflicts_with_all = ["no_recur", "no_due"])]
    pub recur: Option<String>,
    /// Stop repeating it (it keeps its place in its series)
    #[arg(long)]
    pub no_recur: bool,
    /// Taskwarrior-style changes: `+tag` (like --add-tag), `due:WHEN` (`due:` removes it),
    /// `priority:P`, `project:P` (`project:` removes it), `recur:RULE` (`recur:` stops it)
    #[arg(value_name = "CHANGE")]
    pub changes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "taskcli",
            "list",
            "--json",
            "--server",
            "http://h:1",
            "--sort",
            "-due",
        ])
        .expect("parses");
        assert!(cli.global.json);
        assert_eq!(cli.global.server.as_deref(), Some("http://h:1"));
        match cli.command {
            Command::List(args) => {
                assert_eq!(args.sort.map(|s| s.to_string()).as_deref(), Some("-due"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn add_takes_every_remaining_word() {
        let cli = Cli::try_parse_from([
            "taskcli", "add", "Buy", "oat", "milk", "-p", "high", "-t", "a", "-t", "b",
        ])
        .expect("parses");
        match cli.command {
            Command::Add(args) => {
                assert_eq!(args.title.join(" "), "Buy oat milk");
                assert_eq!(args.priority, Some(PriorityArg::High));
                assert_eq!(args.tags, ["a", "b"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_ids_are_usage_errors() {
        let error = Cli::try_parse_from(["taskcli", "done", "1", "x7"]).expect_err("bad id");
        assert_eq!(error.exit_code(), 2);
        assert!(Cli::try_parse_from(["taskcli", "list", "--all", "--done"]).is_err());
    }
}
