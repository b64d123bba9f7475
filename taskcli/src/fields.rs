//! The project and recurrence values of the command line, checked before
//! any request: a usage error (exit 2) says what was not understood.

use crate::error::CliError;
use taskcore::{Project, ProjectFilter, Recur, RecurError};

/// The forms `--recur` takes, for messages and help.
pub const RULE_FORMS: &str = "daily, weekly, monthly, yearly, weekdays, every N days|weeks|months|years, every monday (or several: every mon,thu), or an RRULE such as FREQ=WEEKLY;BYDAY=MO";

/// A project name as typed: `Home`, `Home.Garden`.
pub fn project(raw: &str) -> Result<Project, CliError> {
    Project::parse(raw).map_err(|reason| {
        CliError::usage(format!(
            "Invalid project `{raw}`: it {reason}; a project is a name such as Home, with dots between levels (Home.Garden)."
        ))
    })
}

/// The `list --project` filter: a project (itself and every project inside
/// it), or `-` for tasks without a project.
pub fn project_filter(raw: &str) -> Result<ProjectFilter, CliError> {
    match raw {
        "-" => Ok(ProjectFilter::None),
        _ => project(raw).map(ProjectFilter::Within),
    }
}

/// A rule as typed: a friendly form ([`RULE_FORMS`]) or an RRULE.
pub fn rule(raw: &str) -> Result<Recur, CliError> {
    Recur::from_friendly(raw).map_err(|error| CliError::usage(rule_message(raw, &error)))
}

/// What to say about a rule that is not one.
fn rule_message(raw: &str, error: &RecurError) -> String {
    let shown = raw.trim();
    match error {
        RecurError::Empty => format!("The rule is empty; write {RULE_FORMS}."),
        RecurError::NotUnderstood(_) if shown.eq_ignore_ascii_case("every") => format!(
            "The rule `every` needs what follows it, in the same argument: quote the whole rule, e.g. --recur 'every 2 weeks'; a rule is {RULE_FORMS}."
        ),
        RecurError::NotUnderstood(_) => {
            let unknown = Recur::unknown_friendly_words(shown);
            match unknown.as_slice() {
                [one] if one.as_str() == shown.to_lowercase() => {
                    format!("Did not understand the rule `{shown}`; write {RULE_FORMS}.")
                }
                [] => format!("Did not understand the rule `{shown}`; write {RULE_FORMS}."),
                words => {
                    let words: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                    format!(
                        "Did not understand {} in the rule `{shown}`; write {RULE_FORMS}.",
                        words.join(", ")
                    )
                }
            }
        }
        // `every 1000 days`: the number, not INTERVAL, is what was typed.
        RecurError::Interval if !shown.contains('=') => format!(
            "Invalid rule `{shown}`: the number of days, weeks, months or years must be 1 to 999."
        ),
        other => format!("Invalid rule `{shown}`: {other}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> String {
        match rule(raw) {
            Err(e) => {
                assert_eq!(e.exit, crate::error::Exit::Usage, "{raw}");
                e.message
            }
            Ok(rule) => panic!("{raw} accepted as {rule}"),
        }
    }

    #[test]
    fn friendly_forms_and_rrules_are_rules() {
        for (typed, canonical) in [
            ("weekly", "FREQ=WEEKLY"),
            ("Weekdays", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
            ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
            ("every mon,thu", "FREQ=WEEKLY;BYDAY=MO,TH"),
            ("freq=monthly;byday=-1fr", "FREQ=MONTHLY;BYDAY=-1FR"),
        ] {
            assert_eq!(
                rule(typed).map(|r| r.to_string()).ok().as_deref(),
                Some(canonical),
                "{typed}"
            );
        }
    }

    #[test]
    fn what_was_not_understood_is_named_with_the_forms() {
        let forms = format!("write {RULE_FORMS}.");
        assert_eq!(
            refused("fortnightly"),
            format!("Did not understand the rule `fortnightly`; {forms}")
        );
        assert_eq!(
            refused("every mon,thurs"),
            format!("Did not understand `thurs` in the rule `every mon,thurs`; {forms}")
        );
        assert_eq!(
            refused("weekly every"),
            format!("Did not understand the rule `weekly every`; {forms}")
        );
        assert!(refused("every").contains("quote the whole rule, e.g. --recur 'every 2 weeks'"));
        assert_eq!(
            refused("every 1000 days"),
            "Invalid rule `every 1000 days`: the number of days, weeks, months or years must be 1 to 999."
        );
        assert_eq!(
            refused("FREQ=WEEKLY;BYHOUR=9"),
            "Invalid rule `FREQ=WEEKLY;BYHOUR=9`: BYHOUR is not supported."
        );
        assert!(refused(" ").starts_with("The rule is empty; write daily, weekly"));
    }

    #[test]
    fn projects_are_checked_as_the_server_does() {
        assert_eq!(
            project("Home.Garden")
                .map(|p| p.to_string())
                .ok()
                .as_deref(),
            Some("Home.Garden")
        );
        let message = project("Home..x").map(|_| ()).unwrap_err().message;
        assert!(
            message.starts_with("Invalid project `Home..x`: it must not have an empty segment"),
            "{message}"
        );
        assert_eq!(project_filter("-").ok(), Some(ProjectFilter::None));
        assert!(project_filter(" Home").is_err());
    }
}
