//! The schema migrations of each backend, embedded in the binary.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

fn migrator(steps: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = steps
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

pub(crate) fn sqlite() -> Migrator {
    migrator(&[(
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    )])
}

pub(crate) fn postgres() -> Migrator {
    migrator(&[(
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    )])
}
