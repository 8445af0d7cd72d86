-- PostgreSQL schema. Principals' live credentials, generators, stacks, deployment objects and templates.

CREATE TABLE generators (
    id          UUID PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX generators_live_name ON generators (name) WHERE deleted_at IS NULL;

CREATE TABLE credentials (
    principal_id UUID PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    key_id       TEXT NOT NULL UNIQUE,
    phc          TEXT NOT NULL,
    expires_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX credentials_one_admin ON credentials (kind) WHERE kind = 'admin';

CREATE TABLE stacks (
    id               UUID PRIMARY KEY NOT NULL,
    generator_id     UUID REFERENCES generators (id),
    name             TEXT NOT NULL,
    description      TEXT,
    last_sequence_id BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    deleted_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX stacks_live_name ON stacks (generator_id, name)
    WHERE deleted_at IS NULL AND generator_id IS NOT NULL;
CREATE UNIQUE INDEX stacks_live_admin_name ON stacks (name)
    WHERE deleted_at IS NULL AND generator_id IS NULL;
CREATE INDEX stacks_generator ON stacks (generator_id);

CREATE TABLE deployment_objects (
    id                 UUID PRIMARY KEY NOT NULL,
    stack_id           UUID NOT NULL REFERENCES stacks (id),
    sequence_id        BIGINT NOT NULL,
    yaml_content       TEXT NOT NULL,
    yaml_checksum      TEXT NOT NULL,
    is_deletion_marker BOOLEAN NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (stack_id, sequence_id)
);

CREATE TABLE templates (
    id            UUID PRIMARY KEY NOT NULL,
    generator_id  UUID REFERENCES generators (id),
    name          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    description   TEXT,
    template_yaml TEXT NOT NULL,
    schema_json   TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    deleted_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX templates_version ON templates (generator_id, name, version)
    WHERE generator_id IS NOT NULL;
CREATE UNIQUE INDEX templates_admin_version ON templates (name, version)
    WHERE generator_id IS NULL;
