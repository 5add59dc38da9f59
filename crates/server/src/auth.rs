//! Turning a `hello` token into a user id.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::AuthMode;

/// Why a token was refused. Either way the client gets `unauthorized` and close 4401.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The server requires a token and none (or an empty one) was sent.
    MissingToken,
    /// The token is malformed, expired, not valid yet, badly signed, or has no `sub`.
    InvalidToken(String),
    /// The `token` field of `hello` is not a string.
    TokenNotAString,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingToken => f.write_str("a token is required"),
            Self::InvalidToken(why) => write!(f, "invalid token: {why}"),
            Self::TokenNotAString => f.write_str("the token must be a string"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Who a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub user_id: String,
    /// Whether the id came from a credential (only authenticated users can resume sessions).
    pub authenticated: bool,
}

/// Validates tokens according to the configured [`AuthMode`].
pub(crate) struct Authenticator {
    mode: AuthMode,
    jwt: Option<(DecodingKey, Validation)>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// JWT leeway for `exp` and `nbf`, in seconds.
const JWT_LEEWAY_SECS: u64 = 30;

impl Authenticator {
    pub(crate) fn new(mode: AuthMode) -> Self {
        let jwt = match &mode {
            AuthMode::Jwt { secret } => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.leeway = JWT_LEEWAY_SECS;
                validation.set_required_spec_claims(&["exp", "sub"]);
                validation.validate_exp = true;
                // A token not valid yet (`nbf` beyond the leeway) is refused too.
                validation.validate_nbf = true;
                Some((DecodingKey::from_secret(secret.as_bytes()), validation))
            }
            _ => None,
        };
        Self { mode, jwt }
    }

    /// Authenticates a hello token for the connection `connection_id`.
    pub(crate) fn authenticate(
        &self,
        token: Option<&str>,
        connection_id: &str,
    ) -> Result<Identity, AuthError> {
        let token = token.filter(|t| !t.is_empty());
        match (&self.mode, token) {
            (AuthMode::Anonymous, _) => Ok(Identity {
                user_id: format!("anon-{connection_id}"),
                authenticated: false,
            }),
            (_, None) => Err(AuthError::MissingToken),
            (AuthMode::InsecureDev, Some(token)) => Ok(Identity {
                user_id: token.to_owned(),
                authenticated: true,
            }),
            (AuthMode::Jwt { .. }, Some(token)) => {
                let (key, validation) = self.jwt.as_ref().expect("a JWT key exists in JWT mode");
                let data = jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
                if data.claims.sub.is_empty() {
                    return Err(AuthError::InvalidToken("`sub` is empty".into()));
                }
                Ok(Identity {
                    user_id: data.claims.sub,
                    authenticated: true,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn jwt(secret: &str, claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn anonymous_ids_follow_the_connection() {
        let auth = Authenticator::new(AuthMode::Anonymous);
        let id = auth.authenticate(Some("ignored"), "c7").unwrap();
        assert_eq!(
            id,
            Identity {
                user_id: "anon-c7".into(),
                authenticated: false
            }
        );
    }

    #[test]
    fn dev_auth_requires_a_non_empty_token() {
        let auth = Authenticator::new(AuthMode::InsecureDev);
        assert_eq!(
            auth.authenticate(Some("alice"), "c1").unwrap().user_id,
            "alice"
        );
        assert_eq!(
            auth.authenticate(Some(""), "c1"),
            Err(AuthError::MissingToken)
        );
        assert_eq!(auth.authenticate(None, "c1"), Err(AuthError::MissingToken));
    }

    #[test]
    fn jwt_rules() {
        let auth = Authenticator::new(AuthMode::Jwt {
            secret: "s3cret".into(),
        });
        let good = jwt("s3cret", &json!({"sub":"alice","exp": now() + 60}));
        assert_eq!(
            auth.authenticate(Some(&good), "c1").unwrap().user_id,
            "alice"
        );

        let expired = jwt("s3cret", &json!({"sub":"alice","exp": now() - 120}));
        assert!(matches!(
            auth.authenticate(Some(&expired), "c1"),
            Err(AuthError::InvalidToken(_))
        ));
        let within_leeway = jwt("s3cret", &json!({"sub":"alice","exp": now() - 5}));
        assert!(auth.authenticate(Some(&within_leeway), "c1").is_ok());
        let no_exp = jwt("s3cret", &json!({"sub":"alice"}));
        assert!(auth.authenticate(Some(&no_exp), "c1").is_err());
        let empty_sub = jwt("s3cret", &json!({"sub":"","exp": now() + 60}));
        assert!(auth.authenticate(Some(&empty_sub), "c1").is_err());
        let wrong_key = jwt("other", &json!({"sub":"alice","exp": now() + 60}));
        assert!(auth.authenticate(Some(&wrong_key), "c1").is_err());
        assert!(auth.authenticate(Some("not.a.jwt"), "c1").is_err());
        assert_eq!(auth.authenticate(None, "c1"), Err(AuthError::MissingToken));

        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &json!({"sub":"alice","exp": now() + 60}),
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(
            auth.authenticate(Some(&hs512), "c1").is_err(),
            "only HS256 is accepted"
        );
    }
}
