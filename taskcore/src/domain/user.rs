//! Users and their credentials.

use super::ids::UserId;
use super::time::Timestamp;
use super::validation::char_len;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest email address, in characters.
pub const EMAIL_MAX: usize = 254;
/// Shortest password, in characters.
pub const PASSWORD_MIN: usize = 8;
/// Longest password, in characters.
pub const PASSWORD_MAX: usize = 128;

/// A user as the API returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Their email; `None` for a user of an external identity provider that gave none.
    pub email: Option<String>,
    /// When the account was created.
    pub created_at: Timestamp,
}

/// Who an external identity provider says a user is: its issuer (`iss`)
/// and its id for the user there (`sub`). Together they key the user, so two
/// providers can never reach each other's users.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExternalIdentity {
    /// The provider's `iss`.
    pub issuer: String,
    /// The provider's `sub` for the user.
    pub subject: String,
}

/// A normalized email address: trimmed, lower-cased, `local@domain`, at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalizes and checks an email address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if char_len(&email) > EMAIL_MAX {
            return Err(format!("must be at most {EMAIL_MAX} characters"));
        }
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !valid {
            return Err("must be an email address like name@example.com".into());
        }
        Ok(Self(email))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password of 8 to 128 characters. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks a password's length.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = char_len(raw);
        if len < PASSWORD_MIN {
            return Err(format!("must be at least {PASSWORD_MIN} characters"));
        }
        if len > PASSWORD_MAX {
            return Err(format!("must be at most {PASSWORD_MAX} characters"));
        }
        Ok(Self(raw.to_string()))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What login needs to know of a local account.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The account.
    pub user: User,
    /// Its argon2id PHC string.
    pub password_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").expect("valid").as_str(),
            "ada@example.com"
        );
        for bad in ["", "ada", "@x.org", "ada@", "a b@x.org", "a@b@c", "a@.x"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@x.org", "a".repeat(248));
        assert!(Email::parse(&long).is_ok());
        let too_long = format!("{}@x.org", "a".repeat(249));
        assert!(Email::parse(&too_long).is_err());
    }

    #[test]
    fn password_bounds() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"p".repeat(128)).is_ok());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-123").expect("valid")),
            "Password(***)"
        );
    }
}
