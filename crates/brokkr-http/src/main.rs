//! `brokkr-server`: the reference server of the Brokkr deployment broker.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use brokkr_core::{Broker, BrokerConfig, HashParams};
use brokkr_http::{Api, DEFAULT_MAX_BODY_BYTES, ServerLimits, bootstrap};
use brokkr_store_sqlx::{Database, PoolSettings};
use clap::{Args, Parser, Subcommand};

/// The Brokkr deployment broker.
#[derive(Debug, Parser)]
#[command(
    name = "brokkr-server",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Administrative tasks run against the database directly.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Replace the admin PAK and print the new one on stdout. The old one stops working.
    RotatePak(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://brokkr.db")]
    database_url: String,

    /// Most database connections held at once.
    #[arg(long, env = "BROKKR_DB_MAX_CONNECTIONS", default_value_t = 10)]
    db_max_connections: u32,

    /// Milliseconds a request waits for a database connection before answering 503.
    #[arg(long, env = "BROKKR_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    db_acquire_timeout_ms: u64,

    /// argon2id memory cost of new PAKs, in KiB.
    #[arg(long, env = "BROKKR_ARGON2_MEMORY_KIB", default_value_t = HashParams::DEFAULT.memory_kib)]
    argon2_memory_kib: u32,

    /// argon2id passes for new PAKs.
    #[arg(long, env = "BROKKR_ARGON2_ITERATIONS", default_value_t = HashParams::DEFAULT.iterations)]
    argon2_iterations: u32,

    /// argon2id lanes for new PAKs.
    #[arg(
        long,
        env = "BROKKR_ARGON2_PARALLELISM",
        default_value_t = HashParams::DEFAULT.parallelism
    )]
    argon2_parallelism: u32,
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BROKKR_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// Where the admin PAK is written on the first start against an empty database.
    #[arg(
        long,
        env = "BROKKR_ADMIN_PAK_FILE",
        default_value = "./brokkr-admin.pak"
    )]
    admin_pak_file: PathBuf,

    /// Seconds a client may take to send its request headers.
    #[arg(long, env = "BROKKR_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    header_read_timeout_secs: u64,

    /// Seconds shutdown waits for in-flight requests.
    #[arg(long, env = "BROKKR_DRAIN_TIMEOUT_SECS", default_value_t = 30)]
    drain_timeout_secs: u64,

    #[command(flatten)]
    database: DatabaseArgs,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("brokkr-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::Migrate(args)) => migrate(args).await,
            Some(Command::Admin(AdminCommand::RotatePak(args))) => rotate_admin_pak(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("brokkr-server: {message}");
            ExitCode::FAILURE
        }
    }
}

type Outcome = Result<(), String>;

async fn open(args: &DatabaseArgs) -> Result<(Database, Broker), String> {
    let settings = PoolSettings {
        max_connections: args.db_max_connections,
        acquire_timeout: Duration::from_millis(args.db_acquire_timeout_ms),
    };
    let database = Database::connect(&args.database_url, &settings)
        .await
        .map_err(|error| format!("{error}: {}", source_of(&error)))?;
    database
        .migrate()
        .await
        .map_err(|error| format!("{error}: {}", source_of(&error)))?;

    let hash_params = HashParams {
        memory_kib: args.argon2_memory_kib,
        iterations: args.argon2_iterations,
        parallelism: args.argon2_parallelism,
    };
    hash_params.validate().map_err(|error| error.to_string())?;
    let config = BrokerConfig {
        hash_params,
        ..BrokerConfig::default()
    };
    let broker = Broker::new(database.store(), config);
    Ok((database, broker))
}

fn source_of(error: &dyn std::error::Error) -> String {
    error.source().map(ToString::to_string).unwrap_or_default()
}

async fn serve(args: ServeArgs) -> Outcome {
    let (database, broker) = open(&args.database).await?;
    let broker = Arc::new(broker);
    let listener_task = database.listen_for_invalidations(Arc::clone(broker.cache()));

    match broker.bootstrap_admin().await {
        Ok(Some(pak)) => {
            bootstrap::write_pak_file(&args.admin_pak_file, &pak).map_err(|error| {
                format!(
                    "the admin pak was minted but could not be written to `{}`: {error}; \
                     run `brokkr-server admin rotate-pak` to mint a new one",
                    args.admin_pak_file.display()
                )
            })?;
            tracing::info!(path = %args.admin_pak_file.display(), "admin pak written");
        }
        Ok(None) => tracing::info!("admin exists; no admin pak minted"),
        Err(error) => return Err(format!("admin bootstrap failed: {error}")),
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    tracing::info!(
        listen = %address,
        database = database.backend(),
        "brokkr-server listening"
    );

    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        drain_timeout: Duration::from_secs(args.drain_timeout_secs),
    };
    let api = Arc::new(Api::new(broker, DEFAULT_MAX_BODY_BYTES));
    brokkr_http::serve(listener, api, limits, shutdown_signal()).await;

    if let Some(task) = listener_task {
        task.abort();
    }
    tracing::info!("brokkr-server stopped");
    Ok(())
}

async fn migrate(args: DatabaseArgs) -> Outcome {
    let (database, _) = open(&args).await?;
    tracing::info!(database = database.backend(), "migrations applied");
    Ok(())
}

async fn rotate_admin_pak(args: DatabaseArgs) -> Outcome {
    let (_, broker) = open(&args).await?;
    let pak = broker
        .rotate_admin_pak()
        .await
        .map_err(|error| format!("rotating the admin pak failed: {error}"))?;
    println!("{}", pak.expose_secret());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupt received"),
        () = terminate => tracing::info!("terminate signal received"),
    }
}
