//! The parameters the provider puts on the redirect back to the node (the "callback"): `code` and `state` on
//! success, `error` (and maybe `error_description`) on failure, and `iss` (RFC 9207) from providers that send it.
//!
//! [`Callback::from_url`] reads them from the URL the browser was sent to, for `dims auth test-login` and tests; the
//! web layer fills [`Callback`] from its query extractor. A parameter given twice is refused rather than picked, so
//! that what is checked is what is used.

use url::Url;

use super::error::OidcError;

/// What came back on the callback of a successful authorization.
#[derive(Clone, PartialEq, Eq)]
pub struct Callback {
    /// The `state` parameter: the key of the login waiting for this callback.
    pub state: String,
    /// The authorization code, exchanged once for the tokens.
    pub code: String,
    /// The `iss` parameter (RFC 9207), if the provider sent one.
    pub iss: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The code is a credential until it is exchanged; the state is as good as one while the login waits.
        f.debug_struct("Callback")
            .field("state", &"<redacted>")
            .field("code", &"<redacted>")
            .field("iss", &self.iss)
            .finish()
    }
}

impl Callback {
    /// Reads the callback parameters from the URL the provider redirected the browser to. An `error` parameter
    /// becomes [`OidcError::Provider`]; a missing or repeated `code` or `state` is [`OidcError::Callback`].
    pub fn from_url(url: &Url) -> Result<Self, OidcError> {
        let one = |name: &str| -> Result<Option<String>, OidcError> {
            let mut values = url.query_pairs().filter(|(key, _)| key == name).map(|(_, value)| value);
            match (values.next(), values.next()) {
                (None, _) => Ok(None),
                (Some(value), None) => Ok(Some(value.into_owned())),
                (Some(_), Some(_)) => Err(OidcError::Callback(format!(
                    "the parameter `{name}` appears more than once; start the login again"
                ))),
            }
        };
        if let Some(error) = one("error")? {
            return Err(OidcError::Provider {
                error,
                description: one("error_description")?,
            });
        }
        let missing = |name: &str| {
            OidcError::Callback(format!(
                "the URL has no `{name}` parameter: give the whole URL the browser was redirected to, query included"
            ))
        };
        Ok(Self {
            state: one("state")?.ok_or_else(|| missing("state"))?,
            code: one("code")?.ok_or_else(|| missing("code"))?,
            iss: one("iss")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Callback, OidcError> {
        Callback::from_url(&Url::parse(url).expect("test URL"))
    }

    #[test]
    fn parameters_are_read_and_errors_named() {
        let callback = parse("http://127.0.0.1:8470/cb?code=c0de&state=st4te&iss=https%3A%2F%2Fid.example.org")
            .expect("a complete callback");
        assert_eq!(callback.code, "c0de");
        assert_eq!(callback.state, "st4te");
        assert_eq!(callback.iss.as_deref(), Some("https://id.example.org"));
        assert!(!format!("{callback:?}").contains("c0de"), "Debug hides the code");
        assert_eq!(parse("http://x/cb?code=c&state=s").expect("no iss").iss, None);

        let cases = [
            ("http://x/cb?state=s", "callback"),
            ("http://x/cb?code=c", "callback"),
            ("http://x/cb?code=c&code=d&state=s", "callback"),
            (
                "http://x/cb?error=access_denied&error_description=no&state=s",
                "provider_error",
            ),
        ];
        for (url, check) in cases {
            let err = parse(url).expect_err(url);
            assert_eq!(err.check(), check, "{url}: {err}");
        }
        let denied = parse("http://x/cb?error=access_denied&error_description=user+said+no").expect_err("denied");
        assert!(denied.to_string().contains("access_denied") && denied.to_string().contains("user said no"));
    }
}
