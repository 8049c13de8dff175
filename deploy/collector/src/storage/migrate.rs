//! Schema migrations, compiled into the binary (migrations/{sqlite,postgres}/NNNN_name.sql) and applied
//! at start by sqlx's migrator, which records them in `_sqlx_migrations`, checks that applied ones were
//! not edited since, and on PostgreSQL holds an advisory lock so collectors starting together migrate
//! once. Embedded by hand rather than with `sqlx::migrate!`: that macro would build both database
//! drivers a second time for the host, to run at compile time.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::AnyPool;

use super::Backend;

/// (version, description, SQL) per backend, in order. Add new files at the end; never edit applied ones.
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "findings", include_str!("../../migrations/sqlite/0001_findings.sql")),
    (2, "incidents", include_str!("../../migrations/sqlite/0002_incidents.sql")),
    (3, "triage", include_str!("../../migrations/sqlite/0003_triage.sql")),
    (4, "trends", include_str!("../../migrations/sqlite/0004_trends.sql")),
    (5, "scc", include_str!("../../migrations/sqlite/0005_scc.sql")),
    (6, "finding counts", include_str!("../../migrations/sqlite/0006_finding_counts.sql")),
    (7, "findings by service", include_str!("../../migrations/sqlite/0007_findings_by_service.sql")),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "findings", include_str!("../../migrations/postgres/0001_findings.sql")),
    (2, "incidents", include_str!("../../migrations/postgres/0002_incidents.sql")),
    (3, "triage", include_str!("../../migrations/postgres/0003_triage.sql")),
    (4, "trends", include_str!("../../migrations/postgres/0004_trends.sql")),
    (5, "scc", include_str!("../../migrations/postgres/0005_scc.sql")),
    (6, "finding counts", include_str!("../../migrations/postgres/0006_finding_counts.sql")),
    (7, "findings by service", include_str!("../../migrations/postgres/0007_findings_by_service.sql")),
];

#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        let migrations = self
            .0
            .iter()
            .map(|(v, d, sql)| {
                Migration::new(*v, Cow::Borrowed(*d), MigrationType::Simple, Cow::Borrowed(*sql), false)
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub async fn run(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::migrate::MigrateError> {
    run_through(pool, backend, i64::MAX).await
}

/// Applies the migrations up to version `last` only: for tests of a later migration on a database
/// that an older collector filled.
pub async fn run_through(
    pool: &AnyPool,
    backend: Backend,
    last: i64,
) -> Result<(), sqlx::migrate::MigrateError> {
    let all = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let n = all.iter().take_while(|(v, _, _)| *v <= last).count();
    Migrator::new(Embedded(&all[..n])).await?.run(pool).await
}
