//! The one portable diesel schema for SQLite and PostgreSQL (see `migrations/{sqlite,postgres}`).

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        id_token_alg -> Text,
        skip_consent -> Bool,
        created_at -> BigInt,
        allowed_origins -> Text,
        organizations -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_verified -> Bool,
        name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        profile -> Text,
        level -> Text,
        region -> Nullable<Text>,
        deletion_scheduled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    client_policies (client_id) {
        client_id -> Text,
        allow_light_accounts -> Bool,
        required_fields -> Text,
        optional_fields -> Text,
        required_documents -> Text,
        region -> Nullable<Text>,
    }
}

diesel::table! {
    email_codes (id_hash) {
        id_hash -> Text,
        code_hash -> Text,
        browser_hash -> Text,
        email -> Text,
        purpose -> Text,
        request_id -> Nullable<Text>,
        return_to -> Nullable<Text>,
        name -> Nullable<Text>,
        attempts -> Integer,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        pending_factor -> Bool,
        persistent -> Bool,
        last_seen_at -> BigInt,
        user_agent -> Text,
        previous_id_hash -> Nullable<Text>,
        rotated_at -> BigInt,
    }
}

diesel::table! {
    totp_factors (id) {
        id -> Text,
        user_id -> Text,
        sealed_secret -> Text,
        label -> Text,
        confirmed -> Bool,
        last_step -> BigInt,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    mfa_policies (owner_kind, owner_id) {
        owner_kind -> Text,
        owner_id -> Text,
        required -> Bool,
        factors -> Text,
        passkey_only -> Bool,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> BigInt,
        acr -> Nullable<Text>,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        access_jti -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
        organization_id -> Nullable<Text>,
        id_token_claims -> Text,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        scope -> Text,
        auth_time -> BigInt,
        acr -> Nullable<Text>,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        grant_expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        access_jti -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
        organization_id -> Nullable<Text>,
        id_token_claims -> Text,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Binary,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        at -> BigInt,
        event -> Text,
        outcome -> Text,
        actor -> Nullable<Text>,
        subject -> Nullable<Text>,
        client_id -> Nullable<Text>,
        organization -> Nullable<Text>,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        detail -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    audit_outbox (id) {
        id -> BigInt,
        event -> Text,
    }
}

diesel::table! {
    upstream_connections (id) {
        id -> Text,
        spec -> Text,
        secrets -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    upstream_domains (domain) {
        domain -> Text,
        connection_id -> Text,
    }
}

diesel::table! {
    user_identities (connection_id, subject) {
        connection_id -> Text,
        subject -> Text,
        user_id -> Text,
        email -> Nullable<Text>,
        created_at -> BigInt,
        last_used_at -> BigInt,
    }
}

diesel::table! {
    upstream_states (state_hash) {
        state_hash -> Text,
        browser_hash -> Text,
        connection_id -> Text,
        purpose -> Text,
        secrets -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    link_proofs (id_hash) {
        id_hash -> Text,
        browser_hash -> Text,
        connection_id -> Text,
        subject -> Text,
        user_id -> Text,
        email -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        connection_id -> Nullable<Text>,
        sso_required -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    organization_domains (domain) {
        domain -> Text,
        organization_id -> Text,
    }
}

diesel::table! {
    organization_roles (organization_id, name) {
        organization_id -> Text,
        name -> Text,
        permissions -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    organization_members (organization_id, user_id) {
        organization_id -> Text,
        user_id -> Text,
        roles -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    organization_invitations (id_hash) {
        id_hash -> Text,
        organization_id -> Text,
        email -> Text,
        roles -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        accepted_at -> Nullable<BigInt>,
        accepted_by -> Nullable<Text>,
    }
}

diesel::table! {
    consent_documents (id) {
        id -> Text,
        title -> Text,
        purpose -> Text,
        required -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    consent_document_versions (document_id, version) {
        document_id -> Text,
        version -> BigInt,
        url -> Text,
        summary -> Text,
        reconsent_required -> Bool,
        published_at -> BigInt,
    }
}

diesel::table! {
    consent_records (id) {
        id -> BigInt,
        user_id -> Text,
        document_id -> Text,
        version -> BigInt,
        action -> Text,
        at -> BigInt,
        method -> Text,
        client_id -> Nullable<Text>,
        region -> Nullable<Text>,
    }
}

diesel::table! {
    preference_topics (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        channels -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    user_preferences (user_id, topic_id, channel) {
        user_id -> Text,
        topic_id -> Text,
        channel -> Text,
        subscribed -> Bool,
        updated_at -> BigInt,
        source -> Text,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Text,
        name -> Text,
        passkey -> Text,
        backup_eligible -> Bool,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        flagged_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    used_webauthn_challenges (challenge_hash) {
        challenge_hash -> Text,
        expires_at -> BigInt,
    }
}
