//! Fluent task writes: [`CreateTask`] and [`UpdateTask`], started from
//! [`Client::create`] and [`Client::update`], and what an update answers,
//! [`Updated`] (the task, and the next task of its recurring series when the
//! write created or named one).

use crate::client::{Call, Client, read_json};
use crate::error::Result;
use reqwest::Method;
use reqwest::header::{HeaderMap, LINK};
use taskcore::{
    Description, Priority, Project, Recur, Tags, Task, TaskDraft, TaskId, TaskPatch, TaskRef,
    Timestamp, Title,
};

/// What [`UpdateTask::send`] answers: the task as the write left it, and the
/// successor the server named.
///
/// When a write completes a recurring task whose rule has a later date, the
/// server creates the next task of the series in the same atomic write and
/// names it in the response's `Link: </api/tasks/{id}>; rel="next"` header:
/// that id is [`Updated::next`]. It is `None` for a task that does not recur,
/// when the rule has no later date (`COUNT` or `UNTIL` reached), and for any
/// write that does not complete the task.
///
/// ```no_run
/// use taskcore::TaskRef;
///
/// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
/// let updated = client.update(TaskRef::Number(4)).completed(true).send().await?;
/// assert!(updated.task.completed);
/// if let Some(next) = updated.next {
///     let successor = client.get_task(TaskRef::Id(next)).await?;
///     println!("next: task {}, due {:?}", successor.number, successor.due);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// The task as the write left it.
    pub task: Task,
    /// The id of the next task of its recurring series, from the `Link`
    /// header with `rel="next"`; `None` when the response had none.
    pub next: Option<TaskId>,
}

/// A task to create (`POST /api/tasks`), built field by field; nothing is
/// sent until [`CreateTask::send`]. Started by [`Client::create`].
///
/// Every setter takes an already valid value (`Project`, `Recur`, `Tags`,
/// ...): what can be wrong with a value is found where it is parsed, before
/// any request. A recurring task needs a due date (the first date of its
/// series); the server refuses a rule without one (422 on `recur`).
///
/// ```no_run
/// use taskcore::{Project, Recur, Timestamp, Title};
///
/// # async fn run(client: taskclient::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let due = Timestamp::parse_rfc3339("2026-12-07T18:00:00Z").ok_or("a date")?;
/// let task = client
///     .create(Title::parse("Water plants")?)
///     .project(Project::parse("Home.Garden")?)
///     .due(due)
///     .recur(Recur::from_friendly("every mon,thu")?)
///     .send()
///     .await?;
/// assert_eq!(task.recur.map(|r| r.to_string()).as_deref(), Some("FREQ=WEEKLY;BYDAY=MO,TH"));
/// assert_eq!(task.series, Some(task.id));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "nothing is sent until `.send().await`"]
pub struct CreateTask {
    client: Client,
    draft: TaskDraft,
    id: Option<TaskId>,
}

impl CreateTask {
    /// The description (default: empty).
    pub fn description(mut self, description: Description) -> Self {
        self.draft.description = description;
        self
    }

    /// Whether it is created already completed (default: `false`).
    pub fn completed(mut self, completed: bool) -> Self {
        self.draft.completed = completed;
        self
    }

    /// The priority (default: none).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.draft.priority = priority;
        self
    }

    /// When it is due (default: never). `None` takes back an earlier call.
    pub fn due(mut self, due: impl Into<Option<Timestamp>>) -> Self {
        self.draft.due = due.into();
        self
    }

    /// Its tags (default: none).
    pub fn tags(mut self, tags: Tags) -> Self {
        self.draft.tags = tags;
        self
    }

    /// The project it belongs to (default: none); dots make a hierarchy,
    /// `Home.Garden` is inside `Home`.
    pub fn project(mut self, project: impl Into<Option<Project>>) -> Self {
        self.draft.project = project.into();
        self
    }

    /// How it repeats (default: it does not). Needs [`CreateTask::due`]: the
    /// due date is the first date of the series.
    pub fn recur(mut self, recur: impl Into<Option<Recur>>) -> Self {
        self.draft.recur = recur.into();
        self
    }

    /// Creates it with this id, so that sending it again is safe: see
    /// [`Client::create_task_with_id`] (a second send is
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists)).
    pub fn with_id(mut self, id: TaskId) -> Self {
        self.id = Some(id);
        self
    }

    /// The draft as built so far.
    ///
    /// ```
    /// use taskcore::{Priority, Title};
    ///
    /// let client = taskclient::Client::new("http://127.0.0.1:8080")?;
    /// let create = client.create(Title::parse("Buy oat milk")?).priority(Priority::High);
    /// assert_eq!(create.draft().priority, Priority::High);
    /// assert_eq!(create.draft().project, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn draft(&self) -> &TaskDraft {
        &self.draft
    }

    /// Sends it: the created task, with its `number`, `version` and (for a
    /// recurring task) `series`, which is its own id.
    pub async fn send(self) -> Result<Task> {
        match self.id {
            Some(id) => self.client.create_task_with_id(id, &self.draft).await,
            None => self.client.create_task(&self.draft).await,
        }
    }
}

/// A change to a task (`PATCH /api/tasks/{id}`), built field by field: only
/// the fields set are sent. Nothing is sent until [`UpdateTask::send`], which
/// answers [`Updated`]: the task and, when the write completed a recurring
/// task, its successor. Started by [`Client::update`].
///
/// Tags have two ways: [`UpdateTask::tags`] replaces the whole set, while
/// [`UpdateTask::add_tags`] and [`UpdateTask::remove_tags`] change just the
/// tags named, so two clients that change different tags of one task at the
/// same time both keep their change. The server refuses `tags` together with
/// either of the others (422).
///
/// ```no_run
/// use taskcore::{Project, Recur, Tags, TaskRef};
///
/// # async fn run(client: taskclient::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let updated = client
///     .update(TaskRef::Number(7))
///     .add_tags(Tags::parse(["garden"])?)
///     .remove_tags(Tags::parse(["someday"])?)
///     .project(Project::parse("Home.Garden")?)
///     .recur(Recur::from_friendly("weekly")?)
///     .if_match(3)
///     .send()
///     .await?;
/// println!("now at version {}", updated.task.version);
///
/// // `None` clears a field: out of its project, no longer repeating.
/// client.update(TaskRef::Number(7)).project(None).recur(None).send().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "nothing is sent until `.send().await`"]
pub struct UpdateTask {
    client: Client,
    task: TaskRef,
    patch: TaskPatch,
    if_match: Option<u64>,
}

impl UpdateTask {
    /// Starts from `patch`, replacing whatever was set so far; later calls
    /// change it further.
    pub fn patch(mut self, patch: TaskPatch) -> Self {
        self.patch = patch;
        self
    }

    /// A new title.
    pub fn title(mut self, title: Title) -> Self {
        self.patch.title = Some(title);
        self
    }

    /// A new description.
    pub fn description(mut self, description: Description) -> Self {
        self.patch.description = Some(description);
        self
    }

    /// Marks it completed (`true`) or pending (`false`). Completing a
    /// recurring task creates its successor: see [`Updated::next`].
    pub fn completed(mut self, completed: bool) -> Self {
        self.patch.completed = Some(completed);
        self
    }

    /// A new priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.patch.priority = Some(priority);
        self
    }

    /// A new due date; `None` removes it (refused for a recurring task).
    pub fn due(mut self, due: impl Into<Option<Timestamp>>) -> Self {
        self.patch.due = Some(due.into());
        self
    }

    /// Replaces the whole tag set (not with [`UpdateTask::add_tags`] or
    /// [`UpdateTask::remove_tags`]).
    pub fn tags(mut self, tags: Tags) -> Self {
        self.patch.tags = Some(tags);
        self
    }

    /// Adds these tags, leaving the others; a tag the task has stays where
    /// it is. Replaces what an earlier call to this method gave.
    pub fn add_tags(mut self, tags: Tags) -> Self {
        self.patch.add_tags = Some(tags);
        self
    }

    /// Removes these tags, leaving the others; a tag the task does not have
    /// is no error. Replaces what an earlier call to this method gave.
    pub fn remove_tags(mut self, tags: Tags) -> Self {
        self.patch.remove_tags = Some(tags);
        self
    }

    /// Moves it into a project; `None` takes it out of its project.
    pub fn project(mut self, project: impl Into<Option<Project>>) -> Self {
        self.patch.project = Some(project.into());
        self
    }

    /// A new rule; `None` stops it recurring (it keeps its `series`). The
    /// task must have a due date, or get one in the same change.
    pub fn recur(mut self, recur: impl Into<Option<Recur>>) -> Self {
        self.patch.recur = Some(recur.into());
        self
    }

    /// Writes only if the task is still at `version` (`If-Match`), else
    /// [`Error::VersionMismatch`](crate::Error::VersionMismatch).
    pub fn if_match(mut self, version: u64) -> Self {
        self.if_match = Some(version);
        self
    }

    /// The change as built so far.
    ///
    /// ```
    /// use taskcore::{Tags, TaskRef};
    ///
    /// let client = taskclient::Client::new("http://127.0.0.1:8080")?;
    /// let update = client.update(TaskRef::Number(7)).add_tags(Tags::parse(["home"])?).project(None);
    /// assert_eq!(update.patch_so_far().project, Some(None));
    /// assert!(update.patch_so_far().tags.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn patch_so_far(&self) -> &TaskPatch {
        &self.patch
    }

    /// Sends the change: the task as the write left it, and the next task
    /// of its series when the write completed a recurring task.
    pub async fn send(self) -> Result<Updated> {
        let call = Call::new(Method::PATCH, format!("/api/tasks/{}", self.task))
            .json(&self.patch)?
            .if_match(self.if_match);
        let response = self.client.execute(&call).await?;
        let next = next_link(response.headers());
        let task = read_json(response).await?;
        Ok(Updated { task, next })
    }
}

/// Fluent writes.
impl Client {
    /// Starts a task to create with this title; set other fields on the
    /// [`CreateTask`] and `.send().await` it.
    ///
    /// ```no_run
    /// use taskcore::{Priority, Title};
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let task = client.create(Title::parse("Buy oat milk")?).priority(Priority::High).send().await?;
    /// println!("added #{}", task.number);
    /// # Ok(())
    /// # }
    /// ```
    pub fn create(&self, title: Title) -> CreateTask {
        CreateTask {
            client: self.clone(),
            draft: TaskDraft::with_title(title),
            id: None,
        }
    }

    /// Starts a change to a task, by UUID or number; set the fields to
    /// change on the [`UpdateTask`] and `.send().await` it.
    ///
    /// ```no_run
    /// use taskcore::TaskRef;
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let done = client.update(TaskRef::Number(4)).completed(true).send().await?;
    /// match done.next {
    ///     Some(next) => println!("the series goes on with {next}"),
    ///     None => println!("nothing follows it"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn update(&self, task: TaskRef) -> UpdateTask {
        UpdateTask {
            client: self.clone(),
            task,
            patch: TaskPatch::default(),
            if_match: None,
        }
    }
}

/// The task named by a `Link` header with `rel="next"`: a URI whose path
/// ends in `tasks/{uuid}`. Other links, and a next link to anything else,
/// are not ours and are passed over.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<TaskId> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(links)
        .filter(|(_, params)| {
            params.iter().any(|(name, value)| {
                name.eq_ignore_ascii_case("rel")
                    && value
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        })
        .find_map(|(target, _)| task_of(target))
}

/// The links of one `Link` header value (RFC 8288): each target with its
/// parameters, values unquoted. Reading stops at the first thing that is not
/// a link.
fn links(value: &str) -> Vec<(&str, Vec<(&str, &str)>)> {
    let mut found = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(after_open) = rest.strip_prefix('<') else {
            break;
        };
        let Some((target, after)) = after_open.split_once('>') else {
            break;
        };
        // The parameters run to the first comma outside quotes.
        let mut quoted = false;
        let end = after
            .char_indices()
            .find(|&(_, ch)| {
                if ch == '"' {
                    quoted = !quoted;
                }
                ch == ',' && !quoted
            })
            .map_or(after.len(), |(at, _)| at);
        let params = after[..end]
            .split(';')
            .filter_map(|param| {
                let (name, value) = param.split_once('=')?;
                Some((name.trim(), value.trim().trim_matches('"')))
            })
            .collect();
        found.push((target.trim(), params));
        rest = &after[end..];
    }
    found
}

/// The task id at the end of a link target such as `/api/tasks/{uuid}` or
/// `https://host/prefix/api/tasks/{uuid}`.
fn task_of(target: &str) -> Option<TaskId> {
    let path = target.split(['?', '#']).next()?;
    let (before, last) = path.rsplit_once('/')?;
    let parent = before.rsplit('/').next()?;
    if parent != "tasks" {
        return None;
    }
    TaskId::parse(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const ID: &str = "0193b3a4-7a40-7cc0-8000-000000000009";

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(LINK, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_next_link_names_the_successor() {
        let id = TaskId::parse(ID);
        assert!(id.is_some());
        for value in [
            "</api/tasks/0193b3a4-7a40-7cc0-8000-000000000009>; rel=\"next\"",
            "</api/tasks/0193b3a4-7a40-7cc0-8000-000000000009>;rel=next",
            "<https://h/x/api/tasks/0193b3a4-7a40-7cc0-8000-000000000009?a=1>; REL=\"prefetch Next\"",
            "</api/tasks/1>; rel=\"prev\", </api/tasks/0193b3a4-7a40-7cc0-8000-000000000009>; title=\"a, b\"; rel=\"next\"",
        ] {
            assert_eq!(next_link(&headers(&[value])), id, "{value}");
        }
        assert_eq!(
            next_link(&headers(&[
                "</docs>; rel=\"help\"",
                "</api/tasks/0193b3a4-7a40-7cc0-8000-000000000009>; rel=\"next\""
            ])),
            id
        );
    }

    #[test]
    fn other_links_are_passed_over() {
        for value in [
            "</api/tasks/0193b3a4-7a40-7cc0-8000-000000000009>; rel=\"prev\"",
            "</api/tasks/0193b3a4-7a40-7cc0-8000-000000000009>",
            "</api/tasks/7>; rel=\"next\"",
            "</api/users/0193b3a4-7a40-7cc0-8000-000000000009>; rel=\"next\"",
            "</api/tasks?cursor=abc>; rel=\"next\"",
            "garbage",
            "<unclosed; rel=next",
            "",
        ] {
            assert_eq!(next_link(&headers(&[value])), None, "{value}");
        }
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
