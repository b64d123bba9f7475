//! One method per endpoint of the API.

use crate::client::{Call, Client, error_from};
use crate::error::{Error, Result};
use crate::model::{
    ApiTokenInfo, ApiTokenList, CreatedApiToken, CredentialsBody, Health, NewApiTokenBody,
    PasswordBody, RefreshBody, Session,
};
use reqwest::{Method, StatusCode};
use taskcore::{
    ApiTokenId, ListQuery, Page, ProjectCount, ProjectList, Sort, StatusFilter, Task, TaskDraft,
    TaskId, TaskPatch, TaskRef, User,
};

/// Authentication: accounts, sessions and API tokens.
impl Client {
    /// Creates an account (`POST /api/auth/register`) and logs in: the
    /// client keeps the new session's tokens and hands them to the callback.
    ///
    /// Fails with [`Error::Conflict`] when the email is taken,
    /// [`Error::Validation`] for a malformed email or a password that is not
    /// 8 to 128 characters, and [`Error::Forbidden`] (`registration_closed`)
    /// when the server does not take new accounts.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), taskclient::Error> {
    /// let client = taskclient::Client::new("http://127.0.0.1:8080")?;
    /// let session = client.register("ada@example.com", "correct horse battery").await?;
    /// println!("welcome, {}", session.user.email.unwrap_or_default());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn register(&self, email: &str, password: &str) -> Result<Session> {
        let call = Call::new(Method::POST, "/api/auth/register")
            .anonymous()
            .json(&CredentialsBody { email, password })?;
        let session: Session = self.json(call).await?;
        self.install(&session);
        Ok(session)
    }

    /// Logs in (`POST /api/auth/login`); the client keeps the tokens and
    /// hands them to the callback.
    ///
    /// A wrong password and an unknown email are the same
    /// [`Error::Unauthorized`] with code `invalid_credentials`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), taskclient::Error> {
    /// let client = taskclient::Client::new("http://127.0.0.1:8080")?;
    /// match client.login("ada@example.com", "wrong password").await {
    ///     Err(taskclient::Error::Unauthorized { .. }) => eprintln!("wrong email or password"),
    ///     Err(other) => return Err(other),
    ///     Ok(session) => println!("logged in as {}", session.user.id),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn login(&self, email: &str, password: &str) -> Result<Session> {
        let call = Call::new(Method::POST, "/api/auth/login")
            .anonymous()
            .json(&CredentialsBody { email, password })?;
        let session: Session = self.json(call).await?;
        self.install(&session);
        Ok(session)
    }

    /// Exchanges the held refresh token for a new pair
    /// (`POST /api/auth/refresh`), which the client keeps and hands to the
    /// callback. There is rarely a need to call it: the client refreshes by
    /// itself when the access token expires or is rejected.
    ///
    /// [`Error::Unauthorized`] when the client holds no refresh token or the
    /// server no longer accepts it.
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let session = client.refresh().await?;
    /// assert_eq!(session.token_type, "Bearer");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn refresh(&self) -> Result<Session> {
        let Some(refresh_token) = self.tokens().and_then(|t| t.refresh_token) else {
            return Err(Error::Unauthorized { problem: None });
        };
        self.refresh_with(&refresh_token).await
    }

    /// Exchanges the given refresh token for a new pair, which the client
    /// then holds (and hands to the callback).
    ///
    /// ```no_run
    /// # async fn run(stored_refresh_token: &str) -> Result<(), taskclient::Error> {
    /// let client = taskclient::Client::new("http://127.0.0.1:8080")?;
    /// client.refresh_with(stored_refresh_token).await?;
    /// let me = client.me().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn refresh_with(&self, refresh_token: &str) -> Result<Session> {
        let session = self.post_refresh(refresh_token).await?;
        self.install(&session);
        Ok(session)
    }

    /// Logs out (`POST /api/auth/logout`): revokes the session of the access
    /// token (and that of the held refresh token), then forgets the tokens.
    /// An API token cannot log out ([`Error::Forbidden`], `api_token_not_allowed`).
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// client.logout().await?;
    /// assert!(client.tokens().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn logout(&self) -> Result<()> {
        let refresh_token = self.tokens().and_then(|t| t.refresh_token);
        self.logout_with(refresh_token.as_deref()).await
    }

    /// Logs out, naming the refresh token whose session should end as well
    /// (`None` sends no body: only the access token's session ends). The
    /// client forgets its tokens afterwards.
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// client.logout_with(None).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn logout_with(&self, refresh_token: Option<&str>) -> Result<()> {
        let mut call = Call::new(Method::POST, "/api/auth/logout");
        if let Some(refresh_token) = refresh_token {
            call = call.json(&RefreshBody { refresh_token })?;
        }
        self.no_content(call).await?;
        self.set_tokens(None);
        Ok(())
    }

    /// The user the token belongs to (`GET /api/auth/me`).
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let me = client.me().await?;
    /// println!("{} ({})", me.email.as_deref().unwrap_or("no email"), me.id);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn me(&self) -> Result<User> {
        self.json(Call::new(Method::GET, "/api/auth/me")).await
    }

    /// Deletes the account (`DELETE /api/auth/me`) with all its tasks and
    /// tokens, then forgets the tokens. A local account must give its
    /// `password` (a wrong or missing one is [`Error::Unauthorized`] with
    /// code `invalid_credentials`, and counts as a failed login: past the
    /// limit it is [`Error::RateLimited`]); a user of an external identity
    /// provider passes `None`. An API token cannot ([`Error::Forbidden`],
    /// `api_token_not_allowed`).
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// client.delete_account(Some("correct horse battery")).await?;
    /// assert!(client.tokens().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_account(&self, password: Option<&str>) -> Result<()> {
        let mut call = Call::new(Method::DELETE, "/api/auth/me");
        if let Some(password) = password {
            call = call.json(&PasswordBody { password })?;
        }
        self.no_content(call).await?;
        self.set_tokens(None);
        Ok(())
    }

    /// Creates an API token for scripts and CI (`POST /api/auth/tokens`);
    /// `expires_in_days` is 1 to 365 (the server's default is 90). The
    /// value in [`CreatedApiToken::token`] is shown this once. A user has at
    /// most 100 live tokens: the 101st is [`Error::Forbidden`] with code
    /// `api_token_limit_reached`.
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let created = client.create_api_token("nightly backup", Some(30)).await?;
    /// let script_client = taskclient::Client::builder().access_token(created.token).build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_api_token(
        &self,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedApiToken> {
        let call = Call::new(Method::POST, "/api/auth/tokens").json(&NewApiTokenBody {
            name,
            expires_in_days,
        })?;
        self.json(call).await
    }

    /// The user's live API tokens, without their values (`GET /api/auth/tokens`).
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// for token in client.list_api_tokens().await? {
    ///     println!("{} {} expires {}", token.id, token.name, token.expires_at);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>> {
        let list: ApiTokenList = self
            .json(Call::new(Method::GET, "/api/auth/tokens"))
            .await?;
        Ok(list.tokens)
    }

    /// Revokes an API token (`DELETE /api/auth/tokens/{id}`); an unknown or
    /// already revoked one is [`Error::NotFound`].
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client, id: taskcore::ApiTokenId) -> Result<(), taskclient::Error> {
    /// client.revoke_api_token(id).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn revoke_api_token(&self, id: ApiTokenId) -> Result<()> {
        self.no_content(Call::new(Method::DELETE, format!("/api/auth/tokens/{id}")))
            .await
    }
}

/// Tasks.
impl Client {
    /// One page of the user's tasks (`GET /api/tasks`). Pass the page's
    /// `next_cursor` as `cursor` (with the same filters) for the next one, or
    /// let [`Client::all_tasks`] do it.
    ///
    /// ```no_run
    /// use taskcore::{ListQuery, Priority, Sort, SortField, StatusFilter};
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let query = ListQuery {
    ///     status: StatusFilter::Pending,
    ///     priority: Some(Priority::High),
    ///     sort: Sort { field: SortField::Due, descending: false },
    ///     limit: 20,
    ///     ..ListQuery::default()
    /// };
    /// let page = client.list_tasks(&query).await?;
    /// if let Some(cursor) = page.next_cursor {
    ///     let next = client.list_tasks(&ListQuery { cursor: Some(cursor), ..query }).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_tasks(&self, query: &ListQuery) -> Result<Page> {
        let mut call = Call::new(Method::GET, "/api/tasks");
        call.query = list_params(query);
        self.json(call).await
    }

    /// Creates a task (`POST /api/tasks`); the answer has its `number` and `version`.
    ///
    /// ```no_run
    /// use taskcore::{Priority, Tags, TaskDraft};
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut draft = TaskDraft::new("Buy oat milk")?;
    /// draft.priority = Priority::High;
    /// draft.tags = Tags::parse(["shopping"])?;
    /// let task = client.create_task(&draft).await?;
    /// println!("added #{}", task.number);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_task(&self, draft: &TaskDraft) -> Result<Task> {
        self.json(Call::new(Method::POST, "/api/tasks").json(draft)?)
            .await
    }

    /// Creates a task with an id the caller chose (`PUT /api/tasks/{id}`
    /// with `If-None-Match: *`), so a create can be retried safely: if the
    /// user has or ever had a task with that id, nothing changes and the
    /// answer is [`Error::AlreadyExists`], which after a retry means an
    /// earlier try got through. Choose a UUIDv7 (`TaskId::generate`), as
    /// lists in creation order sort by id. The number is the server's.
    ///
    /// ```no_run
    /// use taskcore::{TaskDraft, TaskId};
    /// use taskclient::Error;
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let id = TaskId::generate();
    /// let draft = TaskDraft::new("Buy oat milk")?;
    /// match client.create_task_with_id(id, &draft).await {
    ///     Ok(task) => println!("added #{}", task.number),
    ///     Err(Error::AlreadyExists) => println!("added by an earlier try"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_task_with_id(&self, id: TaskId, draft: &TaskDraft) -> Result<Task> {
        let call = Call::new(Method::PUT, format!("/api/tasks/{id}"))
            .json(draft)?
            .create_only();
        self.json(call).await
    }

    /// One task by UUID or number (`GET /api/tasks/{id}`); its `version` is the `ETag`.
    ///
    /// ```no_run
    /// use taskcore::TaskRef;
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let task = client.get_task(TaskRef::Number(7)).await?;
    /// println!("{} is at version {}", task.title, task.version);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_task(&self, task: TaskRef) -> Result<Task> {
        self.json(Call::new(Method::GET, format!("/api/tasks/{task}")))
            .await
    }

    /// Replaces every editable field (`PUT /api/tasks/{id}`). With
    /// `if_match: Some(version)` the write happens only if the task is still
    /// at that version, else [`Error::VersionMismatch`].
    ///
    /// ```no_run
    /// use taskcore::{TaskDraft, TaskRef};
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let task = client.get_task(TaskRef::Number(7)).await?;
    /// let draft = TaskDraft::new("Buy oat milk and bread")?;
    /// client.replace_task(TaskRef::Id(task.id), &draft, Some(task.version)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn replace_task(
        &self,
        task: TaskRef,
        draft: &TaskDraft,
        if_match: Option<u64>,
    ) -> Result<Task> {
        let call = Call::new(Method::PUT, format!("/api/tasks/{task}"))
            .json(draft)?
            .if_match(if_match);
        self.json(call).await
    }

    /// Changes only the fields set in `patch` (`PATCH /api/tasks/{id}`);
    /// `due: Some(None)` clears the due date. `if_match` as for
    /// [`Client::replace_task`].
    ///
    /// This answers the task alone. To learn the successor that completing
    /// a recurring task creates, use [`Client::update`], whose
    /// [`Updated`](crate::Updated) also has the `Link: rel="next"` task.
    ///
    /// ```no_run
    /// use taskcore::{TaskPatch, TaskRef};
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let done = TaskPatch { completed: Some(true), ..TaskPatch::default() };
    /// let task = client.update_task(TaskRef::Number(7), &done, None).await?;
    /// assert!(task.completed);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update_task(
        &self,
        task: TaskRef,
        patch: &TaskPatch,
        if_match: Option<u64>,
    ) -> Result<Task> {
        let mut update = self.update(task).patch(patch.clone());
        if let Some(version) = if_match {
            update = update.if_match(version);
        }
        Ok(update.send().await?.task)
    }

    /// Deletes a task (`DELETE /api/tasks/{id}`), if still at `if_match` when given.
    ///
    /// ```no_run
    /// use taskcore::TaskRef;
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// match client.delete_task(TaskRef::Number(7), None).await {
    ///     Ok(()) | Err(taskclient::Error::NotFound) => {}
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_task(&self, task: TaskRef, if_match: Option<u64>) -> Result<()> {
        self.no_content(Call::new(Method::DELETE, format!("/api/tasks/{task}")).if_match(if_match))
            .await
    }
}

/// Projects.
impl Client {
    /// Every project the user's live tasks name, and every parent of one,
    /// sorted by name, with how many pending and completed tasks are in it
    /// or inside it (`GET /api/projects`): a parent's counts include its
    /// children's.
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// for project in client.projects().await? {
    ///     let indent = "  ".repeat(project.name.depth() - 1);
    ///     let name = project.name.segments().last().unwrap_or_default();
    ///     println!("{indent}{name}: {} pending, {} completed", project.pending, project.completed);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn projects(&self) -> Result<Vec<ProjectCount>> {
        let list: ProjectList = self.json(Call::new(Method::GET, "/api/projects")).await?;
        Ok(list.projects)
    }
}

/// Operations.
impl Client {
    /// Whether the server process is up (`GET /healthz`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), taskclient::Error> {
    /// let client = taskclient::Client::new("http://127.0.0.1:8080")?;
    /// assert_eq!(client.health().await?.status, "ok");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn health(&self) -> Result<Health> {
        self.json(Call::new(Method::GET, "/healthz").anonymous())
            .await
    }

    /// Whether the server is ready to serve (`GET /readyz`): `true` on 200,
    /// `false` on 503; any other answer is an error. Not retried on 503.
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// while !client.ready().await? {
    ///     tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ready(&self) -> Result<bool> {
        let call = Call::new(Method::GET, "/readyz").anonymous();
        let response = self.send_once(&call, None).await?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::SERVICE_UNAVAILABLE => Ok(false),
            _ => Err(error_from(response).await),
        }
    }
}

/// The query string of a list request; defaults are left out.
pub(crate) fn list_params(query: &ListQuery) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    if query.status != StatusFilter::All {
        params.push(("status", query.status.as_str().to_string()));
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        params.push(("q", q.to_string()));
    }
    if let Some(tag) = query.tag.as_deref().filter(|t| !t.is_empty()) {
        params.push(("tag", tag.to_string()));
    }
    if let Some(priority) = query.priority {
        params.push(("priority", priority.as_str().to_string()));
    }
    if let Some(project) = &query.project {
        params.push(("project", project.as_str().to_string()));
    }
    if query.sort != Sort::default() {
        params.push(("sort", query.sort.to_string()));
    }
    params.push(("limit", query.limit.to_string()));
    if let Some(cursor) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        params.push(("cursor", cursor.to_string()));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskcore::{Priority, Project, ProjectFilter, SortField};

    #[test]
    fn list_params_leave_defaults_out() {
        assert_eq!(
            list_params(&ListQuery::default()),
            vec![("limit", "50".to_string())]
        );
        let query = ListQuery {
            status: StatusFilter::Completed,
            q: Some("milk".into()),
            tag: Some(String::new()),
            priority: Some(Priority::Low),
            project: Project::parse("Home.Garden")
                .ok()
                .map(ProjectFilter::Within),
            sort: Sort {
                field: SortField::Title,
                descending: true,
            },
            limit: 7,
            cursor: Some("abc".into()),
        };
        let params = list_params(&query);
        let text: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "status=completed",
                "q=milk",
                "priority=low",
                "project=Home.Garden",
                "sort=-title",
                "limit=7",
                "cursor=abc"
            ]
        );
    }

    #[test]
    fn no_project_and_the_project_sort_have_their_values() {
        let query = ListQuery {
            project: Some(ProjectFilter::None),
            sort: Sort {
                field: SortField::Project,
                descending: false,
            },
            ..ListQuery::default()
        };
        assert_eq!(
            list_params(&query),
            vec![
                ("project", "-".to_string()),
                ("sort", "project".to_string()),
                ("limit", "50".to_string())
            ]
        );
    }
}
