//! Bearer-token authentication and rate limiting for the `/v2` routes.
//!
//! The middleware resolves the token to its grant (scopes + sites), counts the request against
//! the token (or, without a valid token, the client address), and adds `X-RateLimit-Limit` and
//! `X-RateLimit-Remaining` to every response. Handlers then state what they need with
//! [`Auth::require`] and [`Auth::site`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::ids::ObjectId;
use crate::meta::TokenGrant;
use crate::ratelimit::RateKey;
use crate::scopes::Scope;
use crate::state::AppState;
use crate::tokens::TokenHash;

/// Response header: the limit per minute.
pub const X_RATELIMIT_LIMIT: &str = "x-ratelimit-limit";
/// Response header: requests left this minute.
pub const X_RATELIMIT_REMAINING: &str = "x-ratelimit-remaining";

/// The token from `Authorization: Bearer <token>`. The scheme is case-insensitive (RFC 7235);
/// the token must be one word.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && !token.contains(char::is_whitespace))
    .then_some(token)
}

/// The grant of a token: from the node's cache, else from the database.
async fn grant_of(state: &AppState, hash: TokenHash) -> Result<Option<Arc<TokenGrant>>, Error> {
    let now = std::time::Instant::now();
    if let Some(grant) = state.grants.get(&hash, now) {
        return Ok(Some(grant));
    }
    let Some(grant) = state.meta.find_token(&hash).await? else {
        return Ok(None);
    };
    let grant = Arc::new(grant);
    state.grants.put(hash, Arc::clone(&grant), now);
    Ok(Some(grant))
}

/// Authenticates and rate-limits one request.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Two credentials: which one a proxy or a cache keys on is anyone's guess, so refuse.
    if request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .count()
        > 1
    {
        return Error::BadRequest("more than one Authorization header".to_owned()).into_response();
    }
    let grant = match bearer_token(request.headers()) {
        Some(token) => match grant_of(&state, TokenHash::of(token)).await {
            Ok(grant) => grant,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    // An expired token is no token: 401, and its requests count against the client's address.
    let now = chrono::Utc::now();
    let grant = grant.filter(|grant| !grant.expired(now));
    let key = match &grant {
        Some(grant) => RateKey::Token(grant.token_id),
        None => RateKey::Client(
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(
                    std::net::Ipv4Addr::UNSPECIFIED.into(),
                    |ConnectInfo(addr)| addr.ip(),
                ),
        ),
    };
    let decision = state.limiter.check(key).await;
    let mut response = if !decision.allowed {
        Error::TooManyRequests {
            retry_after_secs: decision.reset_after_secs,
        }
        .into_response()
    } else if let Some(grant) = grant {
        state.token_usage.note(grant.token_id, now);
        request.extensions_mut().insert(Auth(grant));
        next.run(request).await
    } else {
        Error::NotAuthorized.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    response
}

/// The authenticated token's grant.
#[derive(Debug, Clone)]
pub struct Auth(pub Arc<TokenGrant>);

impl Auth {
    /// Fails with 403 `missing_scopes` unless the token has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        if self.0.scopes.contains(scope) {
            Ok(())
        } else {
            Err(Error::MissingScopes(scope.as_str()))
        }
    }

    /// Parses a site id from the path and checks the token sees it. An unknown site and a
    /// site of someone else get the same 404, so ids of other sites cannot be probed.
    pub fn site(&self, raw: &str) -> Result<ObjectId, Error> {
        let id: ObjectId = raw
            .parse()
            .map_err(|_| Error::invalid("site_id", "Provided ID is invalid"))?;
        if self.0.sees(id) {
            Ok(id)
        } else {
            Err(Error::NotFound("site"))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(Error::NotAuthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        map
    }

    #[test]
    fn parses_bearer_tokens_strictly() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("BEARER  abc")), Some("abc"));
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic abc",
            "Bearer abc def",
            "Bearerabc",
            "Bearer abc\t",
        ] {
            assert_eq!(bearer_token(&headers(bad)), None, "{bad:?}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
