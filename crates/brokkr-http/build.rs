//! Compiles the PostgreSQL tests in only when `DATABASE_URL` names a PostgreSQL server;
//! otherwise they are reported as ignored, never as passed.
fn main() {
    println!("cargo::rerun-if-env-changed=DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
