//! What each endpoint does, once [`dispatch`](super::dispatch) has checked
//! the request's route, method, limits, token and body.

use super::Request;
use super::body::Object;
use super::problem::{self, ApiError};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH, IF_NONE_MATCH, LINK, LOCATION};
use http::{Response, StatusCode};
use serde::Serialize;
use serde_json::Value;
use taskcore::auth::{AuthError, Credential, Principal};
use taskcore::{
    ApiTokenId, Email, ListQuery, Password, Precondition, ProjectList, Task, TaskDraft, TaskId,
    TaskPatch, TaskRef, UserId, UserTasks, ValidationErrors, char_len, is_control,
};

type Answer = Result<Response<Bytes>, ApiError>;
type Body = Option<Object>;

/// The OpenAPI document, served as written.
static OPENAPI: &[u8] = include_bytes!("../../openapi.json");

pub(super) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Bytes> {
    json_bytes(
        status,
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

/// A response of JSON that is already serialized.
fn json_bytes(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn task_response(status: StatusCode, task: &Task) -> Response<Bytes> {
    with_etag(json(status, task), task.version)
}

/// Adds the `ETag` of a task at `version`.
fn with_etag(mut response: Response<Bytes>, version: u64) -> Response<Bytes> {
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}

fn no_content() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn required(body: Body) -> Result<Object, ApiError> {
    body.ok_or_else(|| ApiError::MalformedJson("the body is empty; send a JSON object".into()))
}

/// The values of the named fields; a repeated key or any other field is a
/// validation error.
fn fields<'b, const N: usize>(
    body: &'b Object,
    names: [&str; N],
) -> Result<[Option<&'b Value>; N], ValidationErrors> {
    let body = body.fields()?;
    let mut errors = ValidationErrors::default();
    for key in body.keys() {
        if !names.contains(&key.as_str()) {
            errors.push(key.as_str(), "is not a field that can be set");
        }
    }
    errors.into_result(|| names.map(|n| body.get(n)))
}

/// A required string field.
fn string_field<'b>(
    value: Option<&'b Value>,
    name: &str,
    errors: &mut ValidationErrors,
) -> Option<&'b str> {
    match value {
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(name, "must be a string");
            None
        }
        None => {
            errors.push(name, "is required");
            None
        }
    }
}

// ----- auth -----

pub(super) async fn register(req: &Request<'_>, body: Body) -> Answer {
    let body = required(body)?;
    let [email, password] = fields(&body, ["email", "password"])?;
    let mut errors = ValidationErrors::default();
    let email = string_field(email, "email", &mut errors)
        .and_then(|e| Email::parse(e).map_err(|m| errors.push("email", m)).ok());
    let password = string_field(password, "password", &mut errors).and_then(|p| {
        Password::parse(p)
            .map_err(|m| errors.push("password", m))
            .ok()
    });
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(errors));
    };
    let session = req.state.accounts.register(email, password).await?;
    tracing::info!(user = %session.user.id, "registered");
    Ok(json(StatusCode::CREATED, &session))
}

pub(super) async fn login(req: &Request<'_>, body: Body) -> Answer {
    let body = required(body)?;
    let [email, password] = fields(&body, ["email", "password"])?;
    let mut errors = ValidationErrors::default();
    let email = string_field(email, "email", &mut errors);
    let password = string_field(password, "password", &mut errors);
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(errors));
    };
    // Limits are per normalized email, whether or not it is well-formed.
    let limit_key = email.trim().to_lowercase();
    let accounts = &req.state.accounts;
    let session = limited_password_check(req, &limit_key, async {
        let password = Password::parse(password).map_err(|_| AuthError::InvalidCredentials)?;
        accounts.login(Email::parse(email).ok(), password).await
    })
    .await?;
    Ok(json(StatusCode::OK, &session))
}

/// A password check under the failed-login limits (login, and deleting an
/// account): refused with 429 while `email` is blocked for this client,
/// even for the right password, and a wrong password counts as a failure.
async fn limited_password_check<T>(
    req: &Request<'_>,
    email: &str,
    check: impl Future<Output = Result<T, AuthError>>,
) -> Result<T, ApiError> {
    let limits = &req.state.limits;
    let client = req.client();
    limits
        .login_allowed(email, client)
        .map_err(ApiError::RateLimited)?;
    match check.await {
        Err(AuthError::InvalidCredentials) => {
            limits.login_failed(email, client);
            Err(ApiError::InvalidCredentials)
        }
        other => Ok(other?),
    }
}

pub(super) async fn refresh(req: &Request<'_>, body: Body) -> Answer {
    let body = required(body)?;
    let [token] = fields(&body, ["refresh_token"])?;
    let mut errors = ValidationErrors::default();
    let Some(token) = string_field(token, "refresh_token", &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let session = req.state.accounts.refresh(token).await?;
    Ok(json(StatusCode::OK, &session))
}

pub(super) async fn logout(req: &Request<'_>, principal: Option<&Principal>, body: Body) -> Answer {
    let mut refresh_token = None;
    if let Some(body) = &body {
        let [token] = fields(body, ["refresh_token"])?;
        let mut errors = ValidationErrors::default();
        refresh_token = string_field(token, "refresh_token", &mut errors);
        if token.is_some() && refresh_token.is_none() {
            return Err(ApiError::Validation(errors));
        }
    }
    if let Some(Principal {
        via: Credential::Session(sid),
        ..
    }) = principal
    {
        req.state.accounts.logout(*sid, refresh_token).await?;
    }
    Ok(no_content())
}

pub(super) async fn me(req: &Request<'_>, user: UserId) -> Answer {
    let user = req.state.accounts.user(user).await?;
    Ok(json(StatusCode::OK, &user))
}

/// `DELETE /api/auth/me`: a local account sends `{"password"}`; an
/// external user's token is enough (a body may still name only `password`).
pub(super) async fn delete_account(req: &Request<'_>, principal: &Principal, body: Body) -> Answer {
    let accounts = &req.state.accounts;
    if !matches!(principal.via, Credential::Session(_)) {
        if let Some(body) = &body {
            fields(body, ["password"])?;
        }
        accounts.delete_account(principal, None).await?;
    } else {
        let body = required(body)?;
        let [password] = fields(&body, ["password"])?;
        let mut errors = ValidationErrors::default();
        let Some(password) = string_field(password, "password", &mut errors) else {
            return Err(ApiError::Validation(errors));
        };
        // Limited as a login of the account's email: a stolen access token
        // must not become a way to guess the password.
        let email = accounts.user(principal.user).await?.email;
        let limit_key = email.unwrap_or_default();
        limited_password_check(req, &limit_key, async {
            // A password no account can have is simply wrong.
            let password = Password::parse(password).map_err(|_| AuthError::InvalidCredentials)?;
            accounts.delete_account(principal, Some(password)).await
        })
        .await?;
    }
    tracing::info!(user = %principal.user, "deleted the account");
    Ok(no_content())
}

// ----- API tokens -----

pub(super) async fn create_api_token(req: &Request<'_>, user: UserId, body: Body) -> Answer {
    let body = required(body)?;
    let [name, days] = fields(&body, ["name", "expires_in_days"])?;
    let mut errors = ValidationErrors::default();
    let name = string_field(name, "name", &mut errors).and_then(|n| {
        let len = char_len(n);
        if len == 0 || len > 100 {
            errors.push("name", "must be 1 to 100 characters");
            None
        } else if n.chars().any(is_control) {
            errors.push("name", "must not contain control characters");
            None
        } else {
            Some(n.to_string())
        }
    });
    let days = match days {
        None => Some(90),
        Some(v) => match v.as_u64().filter(|d| (1..=365).contains(d)) {
            Some(d) => u32::try_from(d).ok(),
            None => {
                errors.push("expires_in_days", "must be a whole number from 1 to 365");
                None
            }
        },
    };
    let (Some(name), Some(days)) = (name, days) else {
        return Err(ApiError::Validation(errors));
    };
    let created = req
        .state
        .accounts
        .create_api_token(user, name, days)
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

pub(super) async fn list_api_tokens(req: &Request<'_>, user: UserId) -> Answer {
    #[derive(Serialize)]
    struct Tokens {
        tokens: Vec<taskcore::store::ApiTokenInfo>,
    }
    let tokens = req.state.accounts.api_tokens(user).await?;
    Ok(json(StatusCode::OK, &Tokens { tokens }))
}

pub(super) async fn revoke_api_token(req: &Request<'_>, user: UserId, id: &str) -> Answer {
    let id = ApiTokenId::parse(id).ok_or(ApiError::NotFound)?;
    req.state.accounts.revoke_api_token(user, id).await?;
    Ok(no_content())
}

// ----- tasks -----

fn task_ref(segment: &str) -> Result<TaskRef, ApiError> {
    TaskRef::parse(segment).ok_or(ApiError::NotFound)
}

fn precondition(req: &Request<'_>) -> Precondition {
    Precondition::from_if_match(req.header(IF_MATCH))
}

pub(super) async fn list_tasks(req: &Request<'_>, user: UserId) -> Answer {
    let query = ListQuery::parse(req.query).map_err(|e| ApiError::InvalidQuery(e.0))?;
    // A cursor is bound to the query's filters and sort; most pages need none.
    let fingerprint = || query.fingerprint();
    let cursors = &req.state.cursors;
    let after = match &query.cursor {
        Some(cursor) => Some(cursors.open(user, &fingerprint(), cursor).ok_or_else(|| {
            ApiError::InvalidQuery("the cursor is not valid for this query".into())
        })?),
        None => None,
    };
    let page = req
        .state
        .store
        .tasks_of(user)
        .list_json(&query, after.as_ref())
        .await?;
    // {"tasks":[...],"next_cursor":...}: the tasks arrive as JSON already, and
    // a cursor is base64url, which needs no escaping.
    let cursor = page
        .next
        .map(|position| cursors.seal(user, &fingerprint(), &position));
    let mut body =
        Vec::with_capacity(page.tasks.len() + 64 + cursor.as_ref().map_or(0, String::len));
    body.extend_from_slice(b"{\"tasks\":");
    body.extend_from_slice(&page.tasks);
    body.extend_from_slice(b",\"next_cursor\":");
    match cursor {
        Some(cursor) => {
            body.push(b'"');
            body.extend_from_slice(cursor.as_bytes());
            body.push(b'"');
        }
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    Ok(json_bytes(StatusCode::OK, Bytes::from(body)))
}

pub(super) async fn create_task(req: &Request<'_>, user: UserId, body: Body) -> Answer {
    let body = required(body)?;
    let tasks = req.state.store.tasks_of(user);
    let max = req.state.config.max_tasks_per_user;
    let draft = match body.fields().and_then(TaskDraft::from_json) {
        Ok(draft) => draft,
        // The limit answers before validation (repeated keys included) does.
        Err(_) if tasks.count().await? >= max => return Err(ApiError::TaskLimitReached),
        Err(errors) => return Err(errors.into()),
    };
    let task = tasks.create(draft, max).await?;
    Ok(created(&task))
}

/// 201 with the task, its `ETag` and its `Location` (`POST`, and `PUT`
/// with `If-None-Match: *`).
fn created(task: &Task) -> Response<Bytes> {
    let mut response = task_response(StatusCode::CREATED, task);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/tasks/{}", task.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// A single-task response for a task that may have a successor: with
/// `Link: </api/tasks/{id}>; rel="next"` when the task is a completed
/// occurrence of a series and its successor exists among the same user's
/// tasks. Only such tasks cost the extra read.
///
/// The read comes after the write: should it fail, the answer is still
/// the task, without the header (the write was applied, and a 503 would
/// say it may not have been).
async fn task_response_with_next(
    tasks: UserTasks<'_>,
    status: StatusCode,
    task: &Task,
) -> Response<Bytes> {
    with_next_link(tasks, task_response(status, task), task.linked_successor()).await
}

/// Adds the `Link` of [`task_response_with_next`] to a task's response,
/// when `successor` (the task's [`Task::linked_successor`]) exists.
async fn with_next_link(
    tasks: UserTasks<'_>,
    mut response: Response<Bytes>,
    successor: Option<TaskId>,
) -> Response<Bytes> {
    let Some(id) = successor else {
        return response;
    };
    let successor = tasks.get(TaskRef::Id(id)).await.unwrap_or_else(|e| {
        tracing::warn!(error = %problem::Chain(&e), "the successor could not be read; no Link");
        None
    });
    if let Some(next) = successor
        && let Ok(link) = HeaderValue::from_str(&format!("</api/tasks/{}>; rel=\"next\"", next.id))
    {
        response.headers_mut().insert(LINK, link);
    }
    response
}

/// Sends the task's JSON as the store holds it: no decoding and encoding
/// again (a fifth of a get's CPU).
pub(super) async fn get_task(req: &Request<'_>, user: UserId, id: &str) -> Answer {
    let tasks = req.state.store.tasks_of(user);
    let found = tasks
        .get_json(task_ref(id)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    let response = with_etag(json_bytes(StatusCode::OK, found.task), found.version);
    Ok(with_next_link(tasks, response, found.successor).await)
}

/// `PUT`: a replace, or with `If-None-Match: *` a create at the id in the path.
pub(super) async fn replace_task(req: &Request<'_>, user: UserId, id: &str, body: Body) -> Answer {
    let create_only = create_only(req)?;
    let body = required(body)?;
    let draft = body.fields().and_then(TaskDraft::from_json);
    if create_only {
        return create_task_at(req, user, id, draft).await;
    }
    change_task(req, user, id, draft.map(TaskDraft::into_patch)).await
}

/// Whether a `PUT` asks to create (`If-None-Match: *`). `*` is the only
/// value it takes: a list of entity tags would make the PUT a replace
/// conditional on the task's version *not* matching, which no client of
/// this API needs and which reads too easily as the opposite; and with
/// `If-Match` as well the two conditions contradict each other (one needs
/// the task, the other its absence), so the request could only fail. Both
/// are 400 `invalid_precondition`, answered before anything is read.
fn create_only(req: &Request<'_>) -> Result<bool, ApiError> {
    let mut values = req.headers.get_all(IF_NONE_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(false);
    }
    // Several header lines are one comma list (RFC 9110, section 5.3).
    let mut members = Vec::new();
    for value in values {
        let value = value
            .to_str()
            .map_err(|_| ApiError::InvalidPrecondition("If-None-Match must be `*` on PUT."))?;
        members.extend(value.split(',').map(str::trim).filter(|m| !m.is_empty()));
    }
    if members != ["*"] {
        return Err(ApiError::InvalidPrecondition(
            "If-None-Match must be `*` on PUT (create only if the id is new).",
        ));
    }
    if req.headers.contains_key(IF_MATCH) {
        return Err(ApiError::InvalidPrecondition(
            "If-None-Match: * and If-Match cannot both hold; send one of them.",
        ));
    }
    Ok(true)
}

/// `PUT` with `If-None-Match: *`: creates the task with the id in the path.
///
/// The checks answer in the documented order, 404, 403, 422, 412: a path
/// that is not a UUID is 404 (a number is the server's to give, so it
/// never names a task to create) unless the caller has a task with that
/// number, which fails the condition like its UUID would; an invalid body
/// is 403 at the task limit (as for `POST`), else 422; a valid one is 412
/// `already_exists`
/// when the caller has or had a task with that id, even at the limit (such
/// a create would make nothing, and a client retrying a create that got
/// through must learn that it did), then 403 at the limit, else 201.
async fn create_task_at(
    req: &Request<'_>,
    user: UserId,
    id: &str,
    draft: Result<TaskDraft, ValidationErrors>,
) -> Answer {
    let tasks = req.state.store.tasks_of(user);
    let max = req.state.config.max_tasks_per_user;
    let id = match task_ref(id)? {
        TaskRef::Id(id) => Some(id),
        number @ TaskRef::Number(_) => {
            tasks.get(number).await?.ok_or(ApiError::NotFound)?;
            None
        }
    };
    let draft = match draft {
        Ok(draft) => draft,
        // The limit answers before validation (repeated keys included)
        // does, as for POST.
        Err(_) if tasks.count().await? >= max => return Err(ApiError::TaskLimitReached),
        Err(errors) => return Err(errors.into()),
    };
    let Some(id) = id else {
        return Err(ApiError::AlreadyExists);
    };
    let task = tasks.create_with_id(id, draft, max).await?;
    Ok(created(&task))
}

pub(super) async fn update_task(req: &Request<'_>, user: UserId, id: &str, body: Body) -> Answer {
    let body = required(body)?;
    let patch = body.fields().and_then(TaskPatch::from_json);
    change_task(req, user, id, patch).await
}

/// PUT and PATCH: 404 before 422 before 412.
async fn change_task(
    req: &Request<'_>,
    user: UserId,
    id: &str,
    patch: Result<TaskPatch, ValidationErrors>,
) -> Answer {
    let tasks = req.state.store.tasks_of(user);
    let task = task_ref(id)?;
    let patch = match patch {
        Ok(patch) => patch,
        Err(errors) => {
            tasks.get(task).await?.ok_or(ApiError::NotFound)?;
            return Err(errors.into());
        }
    };
    let task = tasks.update(task, patch, &precondition(req)).await?;
    Ok(task_response_with_next(tasks, StatusCode::OK, &task).await)
}

pub(super) async fn delete_task(req: &Request<'_>, user: UserId, id: &str) -> Answer {
    req.state
        .store
        .tasks_of(user)
        .delete(task_ref(id)?, &precondition(req))
        .await?;
    Ok(no_content())
}

// ----- projects -----

pub(super) async fn list_projects(req: &Request<'_>, user: UserId) -> Answer {
    let projects = req.state.store.tasks_of(user).projects().await?;
    Ok(json(StatusCode::OK, &ProjectList { projects }))
}

// ----- operations -----

pub(super) fn health() -> Response<Bytes> {
    json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

pub(super) async fn ready(req: &Request<'_>) -> Answer {
    req.state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %problem::Chain(&e), "not ready");
        ApiError::NotReady("The store is not answering.")
    })?;
    if let Some(external) = req.state.accounts.external()
        && !external.ready()
    {
        return Err(ApiError::NotReady(
            "The external identity provider's JWK set is not loaded yet.",
        ));
    }
    Ok(json(StatusCode::OK, &serde_json::json!({"status": "ok"})))
}

pub(super) async fn metrics(req: &Request<'_>) -> Response<Bytes> {
    let text = super::metrics::exposition(&req.state.metrics, req.state.store().as_ref()).await;
    let mut response = Response::new(Bytes::from(text));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

pub(super) fn openapi() -> Response<Bytes> {
    json_bytes(StatusCode::OK, Bytes::from_static(OPENAPI))
}
