//! Passkeys (WebAuthn, issue 8): registration from the account portal, passwordless sign-in and use as
//! a second factor. Built on webauthn-rs.
