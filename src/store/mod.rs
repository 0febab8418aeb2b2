//! Storage behind small traits, one per artefact. Each method documents its contract; `sql` is the one
//! real implementation (diesel over SQLite and PostgreSQL). All times are UNIX seconds.

mod model;
pub mod sql;

pub use model::*;

/// What can go wrong below the flows. Not-found is never an error: finders return `Option`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same key already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database cannot be reached (pool exhausted or server down): callers answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Database(String),
}

pub trait ClientStore: Send + Sync {
    /// Inserts a client; `Conflict` if its id is taken.
    fn create_client(&self, client: &Client) -> Result<(), StoreError>;
    fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Deletes a client and (by cascade) its codes, tokens and consents; false if it did not exist.
    fn delete_client(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces a confidential client's secret digest; false if no such confidential client exists.
    fn set_client_secret_hash(&self, id: &str, hash: &str) -> Result<bool, StoreError>;
    /// Whether any client lists this exact origin in its allowed origins.
    fn is_origin_allowed(&self, origin: &str) -> Result<bool, StoreError>;
}

pub trait UserStore: Send + Sync {
    /// Inserts a user; `Conflict` if the id or the (lower-cased) email is taken.
    fn create_user(&self, user: &User) -> Result<(), StoreError>;
    fn find_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Looks a user up by email, compared lower-cased.
    fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Deletes a user and (by cascade) their sessions, codes, tokens and consents; false if absent.
    fn delete_user(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces the name and profile (and bumps `updated_at`); false if the user does not exist.
    fn update_profile(
        &self,
        id: &str,
        name: Option<&str>,
        profile: &Profile,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Replaces the password hash and makes the account full (a light account keeps its id and data);
    /// false if the user does not exist.
    fn set_password_hash(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError>;
}

pub trait ClientPolicyStore: Send + Sync {
    /// The client's policy; `None` when none was saved (the defaults apply: no light accounts, nothing
    /// required).
    fn find_client_policy(&self, client_id: &str) -> Result<Option<ClientPolicy>, StoreError>;
    /// Creates or replaces a client's policy. The client must exist (`Database` error otherwise).
    fn save_client_policy(&self, policy: &ClientPolicy) -> Result<(), StoreError>;
}

pub trait EmailCodeStore: Send + Sync {
    fn create_email_code(&self, code: &EmailCode) -> Result<(), StoreError>;
    /// The challenge with this id hash, only for its browser and unexpired.
    fn find_email_code(
        &self,
        id_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<EmailCode>, StoreError>;
    /// Consumes a challenge if `code_hash` is right: deletes it and returns it, only if it belongs to this
    /// browser, has not expired and has attempts left; of concurrent callers at most one gets it. A wrong
    /// code counts one attempt and returns `None`.
    fn redeem_email_code(
        &self,
        id_hash: &str,
        code_hash: &str,
        browser_hash: &str,
        max_attempts: i32,
        now: i64,
    ) -> Result<Option<EmailCode>, StoreError>;
}

pub trait SessionStore: Send + Sync {
    fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// Stores a sign-in in one transaction: ends the sessions in `ends`, inserts the new session and
    /// its code, if any, and appends its audit records. All or nothing.
    fn record_sign_in(&self, record: &SignInRecord) -> Result<(), StoreError>;
    /// The session with this id hash, if it exists and has not expired at `now`.
    fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, StoreError>;
    /// Ends a session (server-side logout). Deleting a missing session is not an error.
    fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// A user's live sessions, newest first.
    fn list_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError>;
    /// Ends every session of a user; returns how many there were.
    fn delete_sessions(&self, user_id: &str) -> Result<usize, StoreError>;
    /// The unexpired session whose id hash before its last rotation was `previous_hash` (the caller
    /// decides whether the rotation's grace still covers it).
    fn find_rotated_session(&self, previous_hash: &str, now: i64) -> Result<Option<Session>, StoreError>;
    /// Records a browser request with this session (`last_seen_at`). Missing is not an error.
    fn touch_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError>;
    /// Gives a session a new id hash (its cookie value was rotated): the old hash becomes
    /// `previous_id_hash`, `rotated_at` and `last_seen_at` become `at`. Returns false when no session
    /// had `id_hash` any more (another request rotated it first).
    fn rotate_session(&self, id_hash: &str, new_id_hash: &str, at: i64) -> Result<bool, StoreError>;
}

pub trait GrantStore: Send + Sync {
    fn create_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// Consumes a code in one transaction: marks it used only if it is unused and unexpired (so that of
    /// any number of concurrent redemptions exactly one wins), then asks `issue` what to record. `issue`
    /// returns `None` to reject (the code stays consumed). A code that was already used has its whole
    /// grant revoked (RFC 6749 §4.1.2: "SHOULD revoke all tokens previously issued based on that code").
    fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
        issue: &mut dyn FnMut(&AuthorizationCode) -> Option<IssueRecord>,
    ) -> Result<Redemption<AuthorizationCode>, StoreError>;
    /// Rotates a refresh token in one transaction, exactly like `redeem_code`: the presented token is
    /// marked used, `issue` decides, and its successor is stored. Presenting a token that was already
    /// rotated out revokes the whole grant (RFC 9700 §4.14.2).
    fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        issue: &mut dyn FnMut(&RefreshToken) -> Option<IssueRecord>,
    ) -> Result<Redemption<RefreshToken>, StoreError>;
    fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError>;
    /// Revokes every refresh token of a grant and every unexpired access token issued from it.
    fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), StoreError>;
    /// Puts one access token's `jti` on the deny list until it expires anyway.
    fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError>;
    fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;
}

pub trait ConsentStore: Send + Sync {
    /// The scopes this user has granted this client so far.
    fn find_consent(&self, user_id: &str, client_id: &str) -> Result<Vec<String>, StoreError>;
    /// Every client this user granted scopes to: (client id, scopes, when), by client id.
    fn list_user_consents(&self, user_id: &str) -> Result<Vec<(String, Vec<String>, i64)>, StoreError>;
    /// Records the scopes granted (replacing the previous record).
    fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<(), StoreError>;
}

pub trait KeyStore: Send + Sync {
    fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Inserts a new key and retires every other unretired key of the same algorithm, atomically.
    fn insert_current_key(&self, key: &StoredKey, now: i64) -> Result<(), StoreError>;
}

pub trait UpstreamStore: Send + Sync {
    /// Inserts a connection and its domains in one transaction; `Conflict` if the id or a domain is taken.
    fn create_upstream(&self, upstream: &StoredUpstream) -> Result<(), StoreError>;
    fn find_upstream(&self, id: &str) -> Result<Option<StoredUpstream>, StoreError>;
    fn list_upstreams(&self) -> Result<Vec<StoredUpstream>, StoreError>;
    /// Deletes a connection, its domains and every identity linked through it; false if absent.
    fn delete_upstream(&self, id: &str) -> Result<bool, StoreError>;
    /// The stored connection that claims this (lower-cased) email domain.
    fn find_upstream_by_domain(&self, domain: &str) -> Result<Option<String>, StoreError>;
}

pub trait IdentityStore: Send + Sync {
    fn find_identity(&self, connection_id: &str, subject: &str) -> Result<Option<Identity>, StoreError>;
    fn list_identities(&self, user_id: &str) -> Result<Vec<Identity>, StoreError>;
    /// Links an identity and makes the account full (a light account keeps its id and data); `Conflict`
    /// if this (connection, subject) is already linked to anyone.
    fn link_identity(&self, identity: &Identity) -> Result<(), StoreError>;
    /// Creates a user and links their first identity in one transaction (just-in-time provisioning);
    /// `Conflict` if the email or the identity is taken.
    fn create_user_with_identity(&self, user: &User, identity: &Identity) -> Result<(), StoreError>;
    /// Records a sign-in through an identity (time and the email asserted this time).
    fn touch_identity(
        &self,
        connection_id: &str,
        subject: &str,
        email: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Unlinks one of this user's identities; false if it was not linked to them.
    fn unlink_identity(&self, user_id: &str, connection_id: &str, subject: &str) -> Result<bool, StoreError>;
}

pub trait FederationStateStore: Send + Sync {
    fn create_upstream_state(&self, state: &UpstreamState) -> Result<(), StoreError>;
    /// Consumes a state: returns and deletes it only if it exists, belongs to this browser and has not
    /// expired. Of concurrent callers at most one gets it.
    fn take_upstream_state(
        &self,
        state_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<UpstreamState>, StoreError>;
    fn create_link_proof(&self, proof: &LinkProof) -> Result<(), StoreError>;
    /// Reads a proof (for the page that asks the user to sign in), only for its browser, unexpired.
    fn find_link_proof(
        &self,
        id_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<LinkProof>, StoreError>;
    /// Consumes a proof exactly like `take_upstream_state`.
    fn take_link_proof(
        &self,
        id_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<LinkProof>, StoreError>;
}

pub trait OrganizationStore: Send + Sync {
    /// Inserts an organization and its domains in one transaction; `Conflict` if the id, the slug or a
    /// domain is taken (a domain belongs to at most one organization).
    fn create_organization(&self, org: &Organization) -> Result<(), StoreError>;
    /// By id or by slug.
    fn find_organization(&self, id_or_slug: &str) -> Result<Option<Organization>, StoreError>;
    fn list_organizations(&self) -> Result<Vec<Organization>, StoreError>;
    /// Adds a verified domain; `Conflict` if any organization already has it.
    fn add_organization_domain(&self, organization_id: &str, domain: &str) -> Result<(), StoreError>;
    /// Removes a domain of this organization; false if it had no such domain.
    fn remove_organization_domain(&self, organization_id: &str, domain: &str) -> Result<bool, StoreError>;
    /// Whether some organization with its own connection owns an email domain (then the login page
    /// asks for the email first). Cheap: the login page asks on every view.
    fn any_organization_sso_domain(&self) -> Result<bool, StoreError>;
    /// The organization that claims this (lower-cased) email domain.
    fn find_organization_by_domain(&self, domain: &str) -> Result<Option<Organization>, StoreError>;
    /// Deletes an organization, its roles, members and invitations, and revokes every grant made for
    /// it; false if absent.
    fn delete_organization(&self, id: &str, now: i64) -> Result<bool, StoreError>;
    /// Creates or replaces a role.
    fn save_role(&self, role: &Role) -> Result<(), StoreError>;
    fn list_roles(&self, organization_id: &str) -> Result<Vec<Role>, StoreError>;
    /// Adds a member or replaces their roles.
    fn save_member(&self, member: &Member) -> Result<(), StoreError>;
    fn find_member(&self, organization_id: &str, user_id: &str) -> Result<Option<Member>, StoreError>;
    fn list_members(&self, organization_id: &str) -> Result<Vec<Member>, StoreError>;
    /// Every organization this user belongs to, with the membership.
    fn list_memberships(&self, user_id: &str) -> Result<Vec<(Organization, Member)>, StoreError>;
    /// Removes a member and, in the same transaction, revokes their grants for this organization.
    fn remove_member(&self, organization_id: &str, user_id: &str, now: i64) -> Result<bool, StoreError>;
    fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;
    fn find_invitation(&self, id_hash: &str) -> Result<Option<Invitation>, StoreError>;
    /// Accepts an invitation once: marks it accepted by `user_id` and makes them a member with its roles
    /// (adding to roles they already hold), only if it is unaccepted and unexpired. Of concurrent callers
    /// at most one gets `Some`.
    fn accept_invitation(
        &self,
        id_hash: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<Invitation>, StoreError>;
}

pub trait ConsentDocumentStore: Send + Sync {
    /// Inserts a document (without versions); `Conflict` if the id is taken.
    fn create_consent_document(&self, document: &ConsentDocument) -> Result<(), StoreError>;
    fn find_consent_document(&self, id: &str) -> Result<Option<ConsentDocument>, StoreError>;
    /// Every document, oldest first. Documents are never deleted: records refer to them.
    fn list_consent_documents(&self) -> Result<Vec<ConsentDocument>, StoreError>;
    /// Publishes the next version of a document (1 for the first) in one transaction and returns it;
    /// `Conflict` if a concurrent publication took the same number (the caller may retry).
    fn publish_consent_version(
        &self,
        document_id: &str,
        url: &str,
        summary: &str,
        reconsent_required: bool,
        now: i64,
    ) -> Result<ConsentDocumentVersion, StoreError>;
    /// Every published version, by document then version (all documents when `document_id` is `None`).
    fn list_consent_versions(
        &self,
        document_id: Option<&str>,
    ) -> Result<Vec<ConsentDocumentVersion>, StoreError>;
    /// Appends records in one transaction, in order. Records are never changed afterwards.
    fn append_consent_records(&self, records: &[NewConsentRecord]) -> Result<(), StoreError>;
    /// A user's records, oldest first (the last one per document is their current state).
    fn list_user_consent_records(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Up to `limit` records matching `filter` with `id > after_id`, in id order.
    fn list_consent_records(
        &self,
        filter: &ConsentRecordFilter,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Erasure: the user's records stay (they are evidence) but are unlinked from the person by
    /// replacing `user_id` with `pseudonym`. Returns how many records were changed.
    fn anonymise_consent_records(&self, user_id: &str, pseudonym: &str) -> Result<usize, StoreError>;
}

pub trait HealthCheck: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    fn ping(&self) -> Result<(), StoreError>;
    /// Deletes what can no longer be used at `now`: expired sessions, pending requests, codes (kept a
    /// day past expiry so that a late replay is still recognised), grants past their absolute expiry,
    /// and deny-list entries of expired access tokens. Returns the number of rows removed.
    fn purge_expired(&self, now: i64) -> Result<usize, StoreError>;
    /// The connection pool now: (open connections, idle ones), for metrics. Never blocks on the database.
    fn pool_state(&self) -> (u32, u32);
}

pub trait AuditStore: Send + Sync {
    /// Appends events to the chain in one transaction, in order, each hashed over its predecessor.
    /// The chain head is locked first, so concurrent writers (other replicas) queue behind it.
    fn append_audit(&self, events: &[crate::audit::AuditEvent]) -> Result<(), StoreError>;
    /// Reads see every committed record, including those a state change recorded in its transaction
    /// (`SignInRecord`, `IssueRecord`) that the backend chains after its commit.
    ///
    /// Up to `limit` records with `seq > after_seq`, in `seq` order.
    fn audit_page(&self, after_seq: i64, limit: i64) -> Result<Vec<crate::audit::AuditRecord>, StoreError>;
    /// As `audit_page`, only the records of one organization.
    fn audit_page_for(
        &self,
        organization_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError>;
    /// Up to `limit` records about one person, newest first: those whose actor is the user (`<id>` or
    /// `user:<id>`) or whose subject is the user (the person's own events, for their data export).
    fn audit_for_user(&self, user_id: &str, limit: i64)
    -> Result<Vec<crate::audit::AuditRecord>, StoreError>;
}

pub trait PreferenceStore: Send + Sync {
    /// Inserts a topic; `Conflict` if its id is taken.
    fn create_topic(&self, topic: &PreferenceTopic) -> Result<(), StoreError>;
    fn find_topic(&self, id: &str) -> Result<Option<PreferenceTopic>, StoreError>;
    /// Every topic, oldest first.
    fn list_topics(&self) -> Result<Vec<PreferenceTopic>, StoreError>;
    /// Deletes a topic and (by cascade) every choice made about it; false if absent.
    fn delete_topic(&self, id: &str) -> Result<bool, StoreError>;
    /// A person's recorded choices (topics they never chose about have none).
    fn list_preferences(&self, user_id: &str) -> Result<Vec<UserPreference>, StoreError>;
    /// Records choices in one transaction, each replacing the previous one for its (user, topic, channel).
    /// A topic that does not exist fails the whole call (`Database`).
    fn save_preferences(&self, preferences: &[UserPreference]) -> Result<(), StoreError>;
}

/// The account's lifecycle as its owner controls it in the portal: their profile and declared region,
/// a scheduled deletion, and revoking everything issued to them.
pub trait AccountStore: Send + Sync {
    /// Replaces the name, profile and declared region in one statement (bumps `updated_at`); false if
    /// the user does not exist.
    fn save_account_profile(
        &self,
        user_id: &str,
        name: Option<&str>,
        profile: &Profile,
        region: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Schedules the erasure of an account at `at`, or cancels it (`None`); false if the user does not
    /// exist.
    fn schedule_deletion(&self, user_id: &str, at: Option<i64>) -> Result<bool, StoreError>;
    /// The ids of the accounts whose scheduled erasure is due at `now`.
    fn users_due_for_erasure(&self, now: i64) -> Result<Vec<String>, StoreError>;
    /// Revokes every grant of a user in one transaction (refresh tokens, and the access tokens still
    /// alive go on the deny list); returns how many grants were revoked.
    fn revoke_user_grants(&self, user_id: &str, now: i64) -> Result<usize, StoreError>;
    /// Erases an account in one transaction: revokes its grants (as `revoke_user_grants`), deletes the
    /// invitations addressed to its email or accepted by it and its pending email codes, then the user
    /// row, whose cascade removes sessions, identities, codes, refresh tokens, consents, preferences and
    /// memberships. False if the user does not exist.
    fn erase_account(&self, user_id: &str, email: &str, now: i64) -> Result<bool, StoreError>;
}

/// Second factors (issue 8): authenticator apps (TOTP), recovery codes, and the MFA policies of
/// clients and organizations.
pub trait FactorStore: Send + Sync {
    /// Stores an authenticator app; an unconfirmed one (enrolment under way) replaces any earlier
    /// unconfirmed one of the same user.
    fn create_totp(&self, factor: &TotpFactor) -> Result<(), StoreError>;
    /// The user's confirmed authenticator app, if any.
    fn find_totp(&self, user_id: &str) -> Result<Option<TotpFactor>, StoreError>;
    /// An enrolment under way (unconfirmed), by id and owner.
    fn find_pending_totp(&self, id: &str, user_id: &str) -> Result<Option<TotpFactor>, StoreError>;
    /// Confirms an enrolment at the step of its first code, replacing any confirmed app of the user.
    fn confirm_totp(&self, id: &str, user_id: &str, step: i64, now: i64) -> Result<bool, StoreError>;
    /// Records that the code of `step` was used, only if it is later than the last one used (atomic:
    /// one code, one sign-in, even across replicas). False means a replay.
    fn use_totp_step(&self, id: &str, step: i64, now: i64) -> Result<bool, StoreError>;
    /// Removes the user's authenticator apps (confirmed or not); false if there was none.
    fn delete_totp(&self, user_id: &str) -> Result<bool, StoreError>;
    /// Replaces the user's recovery codes with these keyed hashes.
    fn replace_recovery_codes(&self, user_id: &str, hashes: &[String], now: i64) -> Result<(), StoreError>;
    /// Marks an unused code used; false if there is no such unused code (atomic, single use).
    fn use_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> Result<bool, StoreError>;
    /// How many unused recovery codes the user has.
    fn count_recovery_codes(&self, user_id: &str) -> Result<usize, StoreError>;
    fn delete_recovery_codes(&self, user_id: &str) -> Result<(), StoreError>;
    fn find_mfa_policy(&self, owner: MfaOwner, owner_id: &str) -> Result<Option<MfaPolicy>, StoreError>;
    /// Inserts or replaces a policy.
    fn save_mfa_policy(&self, policy: &MfaPolicy) -> Result<(), StoreError>;
    fn delete_mfa_policy(&self, owner: MfaOwner, owner_id: &str) -> Result<(), StoreError>;
}

/// Passkeys (WebAuthn credentials, issue 8) and the challenges already answered, so that no ceremony
/// can be replayed.
pub trait PasskeyStore: Send + Sync {
    /// Stores a new passkey and makes its account full (a light account keeps its id and data), in one
    /// transaction; `Conflict` if the credential id is already registered (to anyone).
    fn create_passkey(&self, passkey: &StoredPasskey, now: i64) -> Result<(), StoreError>;
    /// The passkey with this base64url credential id, whoever owns it.
    fn find_passkey_by_credential(&self, credential_id: &str) -> Result<Option<StoredPasskey>, StoreError>;
    /// A user's passkeys, oldest first (flagged ones included).
    fn list_passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError>;
    fn count_passkeys(&self, user_id: &str) -> Result<usize, StoreError>;
    /// After a successful assertion: replaces the stored `Passkey` JSON (its counter and backup state)
    /// and sets `last_used_at`; false if the passkey is gone or flagged meanwhile.
    fn record_passkey_use(
        &self,
        id: &str,
        passkey: &str,
        backup_eligible: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Flags a passkey suspected cloned (its counter went backwards); it stays listed but no longer
    /// signs in. False if it does not exist.
    fn flag_passkey(&self, id: &str, now: i64) -> Result<bool, StoreError>;
    /// Renames one of the user's passkeys; false if the user has no passkey with this id.
    fn rename_passkey(&self, user_id: &str, id: &str, name: &str) -> Result<bool, StoreError>;
    /// Deletes one of the user's passkeys; false if the user has no passkey with this id.
    fn delete_passkey(&self, user_id: &str, id: &str) -> Result<bool, StoreError>;
    /// Records that a challenge was answered, kept until `expires_at`: true the first time, false if
    /// it was already recorded (a replay). Atomic across replicas (a primary key).
    fn use_webauthn_challenge(&self, challenge_hash: &str, expires_at: i64) -> Result<bool, StoreError>;
}

/// Everything the flows need, as one object in the application state.
pub trait Store:
    ClientStore
    + ClientPolicyStore
    + EmailCodeStore
    + UserStore
    + SessionStore
    + GrantStore
    + ConsentStore
    + KeyStore
    + AuditStore
    + UpstreamStore
    + IdentityStore
    + FederationStateStore
    + OrganizationStore
    + ConsentDocumentStore
    + PreferenceStore
    + AccountStore
    + FactorStore
    + PasskeyStore
    + HealthCheck
{
}
impl<T> Store for T where
    T: ClientStore
        + ClientPolicyStore
        + EmailCodeStore
        + UserStore
        + SessionStore
        + GrantStore
        + ConsentStore
        + KeyStore
        + AuditStore
        + UpstreamStore
        + IdentityStore
        + FederationStateStore
        + OrganizationStore
        + ConsentDocumentStore
        + PreferenceStore
        + AccountStore
        + FactorStore
        + PasskeyStore
        + HealthCheck
{
}
