//! `taskcli auth ...`: accounts, sessions, tokens.

use crate::cli::{ApiTokenCommand, AuthCommand, CredentialsArgs, DeleteAccountArgs};
use crate::credentials::StoredLogin;
use crate::dates::{local_datetime, machine_time, relative_time};
use crate::error::{CliError, CliResult, Doing};
use crate::local::{CopyStatus, LocalCopy, waiting};
use crate::render::{Column, Field, boxed_table, plain_table};
use crate::session::{Context, Origin};
use chrono::Local;
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use taskclient::Error as ApiError;
use taskclient::TokenPair;
use taskcore::{ApiTokenId, Email, Password, Timestamp};

/// Runs one `auth` subcommand.
pub async fn run(ctx: &Context, command: AuthCommand) -> CliResult {
    match command {
        AuthCommand::Register(args) => log_in(ctx, args, true).await,
        AuthCommand::Login(args) => log_in(ctx, args, false).await,
        AuthCommand::Logout => logout(ctx).await,
        AuthCommand::Status => status(ctx).await,
        AuthCommand::Token => token(ctx).await,
        AuthCommand::DeleteAccount(args) => delete_account(ctx, args).await,
        AuthCommand::ApiToken(command) => api_token(ctx, command).await,
    }
}

/// `auth status --json` (and `login`, `register`). `U` is the API's user,
/// or, when the server did not answer, what was stored at login.
#[derive(Serialize)]
struct Status<'a, U: Serialize> {
    server: &'a str,
    user: U,
    storage: &'a str,
    storage_description: String,
    access_token_expires_at: Option<Timestamp>,
    /// False when the server did not answer and the rest is what is stored.
    server_reachable: bool,
    /// The copy of the tasks on this machine: where, when it last synced,
    /// how many changes wait. `null` when commands work online.
    local_copy: Option<CopyStatus>,
}

/// The user as the stored login knows them.
#[derive(Serialize)]
struct StoredUser {
    email: Option<String>,
}

async fn log_in(ctx: &Context, args: CredentialsArgs, register: bool) -> CliResult {
    let email = args.email.trim().to_string();
    if register {
        Email::parse(&email).map_err(|m| CliError::usage(format!("The email {m}.")))?;
    }
    // Find out where the tokens will go before asking for a password.
    let store = ctx.store_for_login()?;
    // Whose login this one replaces, to say so once it has (best effort:
    // a store that cannot be read only costs the message).
    let previous: Vec<String> = ctx
        .all_stored_logins()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, login)| login.email)
        .collect();
    let password = read_password(args.password_stdin, register)?;
    if register {
        Password::parse(&password).map_err(|m| CliError::usage(format!("The password {m}.")))?;
    }
    let client = ctx.anonymous_client()?;
    let session = if register {
        client.register(&email, &password).await
    } else {
        client.login(&email, &password).await
    }
    .map_err(|e| ctx.api_error(e, Doing::Credentials))?;
    store.save(&ctx.server, &StoredLogin::from_session(&session))?;
    ctx.remember_login(&store)?;
    ctx.delete_other_logins(&store)?;
    let mut replaced: Vec<&String> = previous
        .iter()
        .filter(|old| {
            !session
                .user
                .email
                .as_ref()
                .is_some_and(|new| new.eq_ignore_ascii_case(old))
        })
        .collect();
    replaced.sort();
    replaced.dedup();
    for email in replaced {
        eprintln!("Replaced the stored login of {email}.");
    }
    let who = session
        .user
        .email
        .clone()
        .unwrap_or_else(|| session.user.id.to_string());
    if ctx.out.json {
        ctx.out.json(&Status {
            server: &ctx.server,
            user: &session.user,
            storage: store.id(),
            storage_description: store.describe(),
            access_token_expires_at: TokenPair::from_session(&session).expires_at,
            server_reachable: true,
            local_copy: None,
        });
    } else if register {
        ctx.out.line(format!(
            "Registered {who} on {} and logged in; the tokens are kept in {}.",
            ctx.server,
            store.describe()
        ));
    } else {
        ctx.out.line(format!(
            "Logged in to {} as {who}; the tokens are kept in {}.",
            ctx.server,
            store.describe()
        ));
    }
    Ok(())
}

/// The password: from stdin's first line with `--password-stdin`, else from
/// a prompt that does not echo. Never from a flag. To `register`, it is
/// asked twice.
fn read_password(from_stdin: bool, register: bool) -> CliResult<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            CliError::usage(format!("Could not read the password from stdin: {e}."))
        })?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(CliError::usage(
                "No password on stdin; pipe it in, e.g. `printf %s \"$PASSWORD\" | taskcli auth login --email E --password-stdin`.",
            ));
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "stdin is not a terminal, so there is nobody to ask for the password; use --password-stdin.",
        ));
    }
    ask_password(|prompt| rpassword::prompt_password(prompt), register)
}

/// Asks with `prompt`; to `register`, checks the password's length (as the
/// server does) before asking for it again, so a short one is not typed twice.
fn ask_password(
    mut prompt: impl FnMut(&str) -> std::io::Result<String>,
    register: bool,
) -> CliResult<String> {
    let prompt_failed =
        |e: std::io::Error| CliError::usage(format!("Could not read the password: {e}."));
    let password = prompt("Password: ").map_err(prompt_failed)?;
    if register {
        Password::parse(&password).map_err(|m| CliError::usage(format!("The password {m}.")))?;
        let again = prompt("Repeat the password: ").map_err(prompt_failed)?;
        if again != password {
            return Err(CliError::usage(
                "The two passwords differ; nothing was done.",
            ));
        }
    }
    Ok(password)
}

async fn logout(ctx: &Context) -> CliResult {
    if ctx.env_token().is_some() {
        let (client, _) = ctx.client().await?;
        client
            .logout_with(None)
            .await
            .map_err(|e| ctx.api_error(e, Doing::General))?;
        ctx.out.line(format!(
            "Revoked the session of the token in {}.",
            crate::session::TOKEN_ENV
        ));
        return Ok(());
    }
    // Every store, not just the recorded one: a login left anywhere would
    // make the next command run as whoever it belongs to.
    let logins = ctx.all_stored_logins()?;
    if logins.is_empty() {
        return Err(ctx.not_logged_in());
    }
    // The copy goes with the login, after a last try to send what waits.
    let copy_lost = match LocalCopy::open(ctx).await {
        Ok(Some(copy)) => Some(copy.discard().await?),
        _ => None,
    };
    if let Some(lost) = copy_lost.filter(|&n| n > 0) {
        eprintln!(
            "warning: {} made on this machine could not be synced and {} lost by logging out.",
            if lost == 1 {
                "1 change".to_string()
            } else {
                format!("{lost} changes")
            },
            if lost == 1 { "was" } else { "were" }
        );
    }
    let copy_note = if copy_lost.is_some() {
        " and the copy of your tasks on this machine"
    } else {
        ""
    };
    let mut failure = None;
    for (_, login) in &logins {
        let client = taskclient::Client::builder()
            .base_url(&ctx.server)
            .tokens(login.pair())
            .build()
            .map_err(|e| ctx.api_error(e, Doing::General))?;
        match client.logout().await {
            Ok(()) | Err(ApiError::Unauthorized { .. }) => {}
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    // The local tokens go whatever the server said: the user asked to log out.
    ctx.delete_logins(&logins)?;
    match failure {
        None => {
            ctx.out.line(if logins.len() == 1 {
                format!(
                    "Logged out of {}; the stored tokens{copy_note} were deleted.",
                    ctx.server
                )
            } else {
                let places: Vec<String> =
                    logins.iter().map(|(store, _)| store.describe()).collect();
                format!(
                    "Logged out of {}; the stored tokens{copy_note} were deleted from {}.",
                    ctx.server,
                    places.join(" and ")
                )
            });
            Ok(())
        }
        Some(e) => Err(CliError::failure(format!(
            "The stored tokens were deleted, but the session could not be revoked on the server. {}",
            ctx.api_error(e, Doing::General)
        ))),
    }
}

/// `auth delete-account`: the typed confirmation, the password, the
/// deletion, then the stored tokens go as on logout.
async fn delete_account(ctx: &Context, args: DeleteAccountArgs) -> CliResult {
    if args.password_stdin && !args.yes {
        return Err(CliError::usage(
            "With --password-stdin there is no way to ask for confirmation; add --yes.",
        ));
    }
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "Refusing to delete the account without --yes, because stdin is not a terminal to ask for confirmation.",
        ));
    }
    let (client, origin) = ctx.client().await?;
    let user = client
        .me()
        .await
        .map_err(|e| ctx.api_error(e, Doing::General))?;
    let who = user.email.clone().unwrap_or_else(|| user.id.to_string());
    let copy = ctx.replica_enabled().then(|| {
        ctx.data_dir().map(|dir| {
            crate::local::path_of(
                &dir,
                &taskclient::Identity::new(ctx.server.clone(), user.id),
            )
        })
    });
    if !args.yes && !confirm_deletion(&ctx.server, &who)? {
        return Err(CliError::failure(
            "That is not the account's email; nothing was deleted.",
        ));
    }
    // A stored login is always a local account; a token from the
    // environment may be an external provider's, which needs no password.
    let password = match (&origin, args.password_stdin) {
        (Origin::Env, false) => None,
        _ => Some(read_password(args.password_stdin, false)?),
    };
    client
        .delete_account(password.as_deref())
        .await
        .map_err(|e| ctx.api_error(e, Doing::Credentials))?;
    if let Some(Ok(path)) = copy {
        crate::local::delete_copy(&path)?;
    }
    if let Origin::Stored(_) = &origin {
        // Every login to this server belonged to sessions that are gone now.
        ctx.delete_logins(&ctx.all_stored_logins()?)?;
        ctx.out.line(format!(
            "Deleted the account {who} on {} with all its tasks and tokens; the stored tokens were deleted.",
            ctx.server
        ));
    } else {
        ctx.out.line(format!(
            "Deleted the account {who} on {} with all its tasks and tokens.",
            ctx.server
        ));
    }
    Ok(())
}

/// Asks for the account's email (or id) typed again.
fn confirm_deletion(server: &str, who: &str) -> CliResult<bool> {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "This deletes the account {who} on {server} with all its tasks and API tokens; it cannot be undone."
    );
    let _ = write!(stderr, "Type {who} to confirm: ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::failure(format!("Could not read the answer: {e}.")))?;
    Ok(answer.trim().eq_ignore_ascii_case(who))
}

/// `auth status`. When the server does not answer, what is stored is shown
/// all the same (the user's email, where the tokens are, their expiry), and
/// the exit code is 1 so that scripts notice.
async fn status(ctx: &Context) -> CliResult {
    let online = async {
        let (client, origin) = ctx.client().await?;
        let user = client
            .me()
            .await
            .map_err(|e| ctx.api_error(e, Doing::General))?;
        Ok::<_, CliError>((client, origin, user))
    }
    .await;
    let (client, origin, user) = match online {
        Ok(online) => online,
        Err(error) if error.unreachable => return offline_status(ctx).await,
        Err(error) => return Err(error),
    };
    let expires_at = client.tokens().and_then(|t| t.expires_at);
    let who = user.email.as_deref().unwrap_or("(no email)");
    let user_line = format!("{who} ({})", user.id);
    let copy = CopyStatus::of(ctx).await;
    print_status(ctx, &user, user_line, &origin, expires_at, true, copy);
    Ok(())
}

/// Prints `auth status`: the JSON object, or one line each for the server,
/// the user (`user_line`), where the tokens are kept and their expiry.
fn print_status<U: Serialize>(
    ctx: &Context,
    user: U,
    user_line: String,
    origin: &Origin,
    expires_at: Option<Timestamp>,
    server_reachable: bool,
    copy: Option<CopyStatus>,
) {
    if ctx.out.json {
        ctx.out.json(&Status {
            server: &ctx.server,
            user,
            storage: origin.id(),
            storage_description: origin.describe(),
            access_token_expires_at: expires_at,
            server_reachable,
            local_copy: copy,
        });
        return;
    }
    let unanswered = if server_reachable {
        ""
    } else {
        " (did not answer)"
    };
    ctx.out.line(format!("Server:  {}{unanswered}", ctx.server));
    ctx.out.line(format!("User:    {user_line}"));
    ctx.out
        .line(format!("Tokens:  kept in {}", origin.describe()));
    ctx.out.line(expiry_line(expires_at, origin));
    if let Some(copy) = copy {
        let synced = match copy.last_sync {
            Some(at) => format!(
                "{}, {}",
                local_datetime(at),
                relative_time(at, Timestamp::now())
            ),
            None => "never".to_string(),
        };
        let queue = match copy.queued {
            0 => "nothing waits to be synced".to_string(),
            n => format!("{} to be synced", waiting(n)),
        };
        ctx.out.line(format!("Synced:  {synced}; {queue}"));
        ctx.out
            .line(format!("Copy:    {}", ctx.shown_path(&copy.path)));
    }
}

/// `auth status` without the server: the stored login, never the network.
async fn offline_status(ctx: &Context) -> CliResult {
    // A token from the environment says nothing about its user here.
    let (origin, user, expires_at) = match ctx.env_token() {
        Some(_) => (Origin::Env, None, None),
        None => {
            let (store, login) = ctx.stored_login()?.ok_or_else(|| ctx.not_logged_in())?;
            let user = StoredUser { email: login.email };
            (Origin::Stored(store), Some(user), login.expires_at)
        }
    };
    let user_line = user
        .as_ref()
        .and_then(|u| u.email.clone())
        .unwrap_or_else(|| "unknown".to_string());
    let copy = CopyStatus::of(ctx).await;
    print_status(ctx, &user, user_line, &origin, expires_at, false, copy);
    Err(CliError::failure(format!(
        "The server at {} did not answer; the details above are what taskcli knows without it.",
        ctx.server
    )))
}

/// `Expires: ...` for `auth status`.
fn expiry_line(expires_at: Option<Timestamp>, origin: &Origin) -> String {
    match (expires_at, origin) {
        (Some(at), Origin::Stored(_)) => format!(
            "Expires: {}, {}; refreshed automatically",
            local_datetime(at),
            relative_time(at, Timestamp::now())
        ),
        (Some(at), Origin::Env) => format!(
            "Expires: {}, {}",
            local_datetime(at),
            relative_time(at, Timestamp::now())
        ),
        (None, Origin::Env) => {
            "Expires: unknown (an API token or a token from elsewhere)".to_string()
        }
        (None, _) => "Expires: unknown".to_string(),
    }
}

async fn token(ctx: &Context) -> CliResult {
    let (client, _) = ctx.client().await?;
    match client.tokens() {
        Some(pair) => {
            ctx.out.line(pair.access_token);
            Ok(())
        }
        None => Err(ctx.not_logged_in()),
    }
}

async fn api_token(ctx: &Context, command: ApiTokenCommand) -> CliResult {
    let (client, _) = ctx.client().await?;
    match command {
        ApiTokenCommand::Create {
            name,
            expires_in_days,
        } => {
            let created = client
                .create_api_token(&name, expires_in_days)
                .await
                .map_err(|e| ctx.api_error(e, Doing::General))?;
            if ctx.out.json {
                ctx.out.json(&created);
            } else {
                ctx.out.line(format!(
                    "Created API token \"{}\" ({}), valid until {}.",
                    created.name,
                    created.id,
                    local_datetime(created.expires_at)
                ));
                ctx.out.line("Copy it now: it is not shown again.");
                ctx.out.line(&created.token);
            }
        }
        ApiTokenCommand::List => {
            let tokens = client
                .list_api_tokens()
                .await
                .map_err(|e| ctx.api_error(e, Doing::General))?;
            if ctx.out.json {
                ctx.out.json(&tokens);
            } else if tokens.is_empty() {
                ctx.out.line("No API tokens.");
            } else if ctx.out.table.terminal {
                let column = |header, cell: &dyn Fn(&taskclient::ApiTokenInfo) -> String| {
                    Column::new(
                        header,
                        tokens.iter().map(|t| Field::plain(cell(t))).collect(),
                    )
                };
                // The id is what `revoke` needs: the dates give way first.
                let columns = [
                    column("ID", &|t| t.id.to_string()),
                    column("Name", &|t| t.name.clone()),
                    column("Expires", &|t| local_datetime(t.expires_at)).optional(),
                    column("Last used", &|t| {
                        t.last_used_at
                            .map(local_datetime)
                            .unwrap_or_else(|| "never".to_string())
                    })
                    .optional(),
                ];
                ctx.out.line(boxed_table(&columns, 1, ctx.out.table));
            } else {
                // The name last: it is never empty, where the last use may be.
                ctx.out.line(plain_table(tokens.iter().map(|t| {
                    vec![
                        t.id.to_string(),
                        machine_time(t.expires_at, &Local),
                        t.last_used_at
                            .map(|at| machine_time(at, &Local))
                            .unwrap_or_default(),
                        t.name.clone(),
                    ]
                })));
            }
        }
        ApiTokenCommand::Revoke { token } => {
            let (id, shown) = match ApiTokenId::parse(token.trim()) {
                Some(id) => (id, id.to_string()),
                None => {
                    let id = token_named(ctx, &client, &token).await?;
                    (id, format!("\"{token}\" ({id})"))
                }
            };
            client
                .revoke_api_token(id)
                .await
                .map_err(|e| ctx.api_error(e, Doing::ApiToken(&shown)))?;
            if !ctx.out.json {
                ctx.out.line(format!("Revoked API token {shown}."));
            }
        }
    }
    Ok(())
}

/// The id of the one API token called `name`: none is exit 4, several exit
/// 2 (naming their ids, for `revoke ID`).
async fn token_named(
    ctx: &Context,
    client: &taskclient::Client,
    name: &str,
) -> CliResult<ApiTokenId> {
    let tokens = client
        .list_api_tokens()
        .await
        .map_err(|e| ctx.api_error(e, Doing::General))?;
    let matching: Vec<_> = tokens.iter().filter(|token| token.name == name).collect();
    match matching.as_slice() {
        [one] => Ok(one.id),
        [] => Err(CliError::not_found(format!(
            "No API token is named \"{name}\"; `taskcli auth api-token list` shows them."
        ))),
        several => {
            let ids: Vec<String> = several.iter().map(|token| token.id.to_string()).collect();
            Err(CliError::usage(format!(
                "{} API tokens are named \"{name}\" ({}); revoke one by its id: `taskcli auth api-token revoke ID`.",
                ids.len(),
                ids.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_password_is_refused_before_it_is_asked_again() {
        let mut asked = Vec::new();
        let result = ask_password(
            |prompt| {
                asked.push(prompt.to_string());
                Ok("short".to_string())
            },
            true,
        );
        let error = result.expect_err("too short");
        assert_eq!(error.exit, crate::error::Exit::Usage);
        assert_eq!(error.message, "The password must be at least 8 characters.");
        assert_eq!(asked, ["Password: "]);
        let mut answers = vec!["correct horse", "correct horse"].into_iter();
        let password = ask_password(|_| Ok(answers.next().unwrap_or_default().into()), true);
        assert_eq!(password.ok().as_deref(), Some("correct horse"));
    }
}
