-- auth-service schema: users, refresh token families and tokens, failed-login counters.
-- Applied by lib/pg's migrations runner in one transaction with its schema_migrations row.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- the service stores emails in normal form (trimmed, lower-case); the check keeps
    -- any other writer honest, since the unique index is what makes accounts unique
    CONSTRAINT users_email_normal CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_email_key UNIQUE (email)
);

-- A family is one login session: every refresh token rotated from the login's first one.
-- Presenting a spent token revokes the family (theft detection); logout revokes it too.
CREATE TABLE refresh_families (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT CHECK (revoked_reason IN ('logout', 'reuse')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);

-- Only the SHA-256 of a token is stored (hex); the token itself exists at the client alone.
CREATE TABLE refresh_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id  BIGINT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    issued_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Failed logins per normalised email (also for emails with no account, so the answer does
-- not tell which exist). A row is locked while locked_until is in the future.
CREATE TABLE login_failures (
    email        TEXT PRIMARY KEY,
    failures     INT NOT NULL CHECK (failures > 0),
    window_start TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);
