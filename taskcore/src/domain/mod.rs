//! The domain: what a task, a user, a project, a recurrence rule and a list
//! query are, and the rules that make them valid. Parsing is validation: a
//! value of these types is valid.

mod change;
mod ids;
mod project;
mod query;
mod recur;
mod task;
mod time;
mod user;
mod validation;

pub use change::{
    CHANGES_LIMIT_DEFAULT, CHANGES_LIMIT_MAX, Change, ChangePage, ChangesResponse, FeedPosition,
};
pub use ids::{ApiTokenId, SessionId, TaskId, TaskRef, UserId, parse_decimal};
pub use project::{
    PROJECT_MAX, PROJECT_SEPARATOR, Project, ProjectCount, ProjectError, ProjectList,
    project_counts,
};
pub use query::{
    LIMIT_DEFAULT, LIMIT_MAX, ListQuery, Page, Position, Precondition, ProjectFilter, QueryError,
    Sort, SortField, SortKey, StatusFilter, TaskPage,
};
pub use recur::{
    ByDay, Frequency, RECUR_HORIZON_YEARS, RECUR_MAX, RECUR_NUMBER_MAX, Recur, RecurError,
    successor_id,
};
pub use task::{
    Applied, DESCRIPTION_MAX, Description, Priority, TAG_MAX, TAGS_MAX, TITLE_MAX, Tags, Task,
    TaskDraft, TaskPatch, Title, linked_successor,
};
pub use time::{TimeError, Timestamp};
pub use user::{
    Credentials, EMAIL_MAX, Email, ExternalIdentity, PASSWORD_MAX, PASSWORD_MIN, Password, User,
};
pub use validation::{FieldError, ValidationErrors, char_len, is_control};
