//! The `brokkr-server` binary as an operator runs it: first start, restart, offline admin
//! rotation, migrate, and a clean exit on SIGTERM.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_brokkr-server");

/// A fresh folder to run the server in, as an operator would.
fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brokkr-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("work dir");
    dir
}

fn command(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .env("BROKKR_ARGON2_MEMORY_KIB", "8")
        .env("BROKKR_ARGON2_ITERATIONS", "1");
    command
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = free_port();
        let child = command(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts");
        let server = Server { child, port };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("brokkr-server did not listen on {}", self.port);
    }

    /// `curl` with the PAK; returns the HTTP status.
    fn status(&self, path: &str, pak: &str) -> u16 {
        let output = Command::new("curl")
            .args([
                "--silent",
                "--output",
                "/dev/null",
                "--write-out",
                "%{http_code}",
            ])
            .args(["-H", &format!("Authorization: Bearer {pak}")])
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&output.stdout)
            .parse()
            .expect("status code")
    }

    /// Sends SIGTERM and returns how the process ended, with its log.
    fn terminate(self) -> Output {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        self.child.wait_with_output().expect("server exits")
    }
}

fn read_pak(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("brokkr-admin.pak"))
        .expect("admin pak file")
        .trim_end()
        .to_owned()
}

#[test]
fn first_start_writes_a_private_admin_pak_and_restarts_never_mint_again() {
    let dir = workdir();

    let server = Server::start(&dir);
    let file = dir.join("brokkr-admin.pak");
    let mode = std::fs::metadata(&file)
        .expect("written")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let pak = read_pak(&dir);
    assert!(pak.starts_with("brk_adm_"), "{pak}");
    assert_eq!(server.status("/api/v1/generators", &pak), 200);
    assert!(
        dir.join("brokkr.db").exists(),
        "sqlite file created in the working folder"
    );

    let first = server.terminate();
    assert!(
        first.status.success(),
        "SIGTERM exits 0: {:?}",
        first.status
    );
    let log = String::from_utf8_lossy(&first.stderr);
    assert!(log.contains("admin pak written"), "{log}");
    assert!(!log.contains(&pak), "the log must never show the pak");

    // A restart keeps the admin and its PAK.
    let server = Server::start(&dir);
    assert_eq!(read_pak(&dir), pak);
    assert_eq!(server.status("/api/v1/generators", &pak), 200);
    let second = server.terminate();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("no admin pak minted"));

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn offline_admin_rotation_prints_a_new_pak_and_kills_the_old() {
    let dir = workdir();
    let server = Server::start(&dir);
    let old = read_pak(&dir);
    assert!(server.terminate().status.success());

    let rotated = command(&dir)
        .args(["admin", "rotate-pak"])
        .output()
        .expect("runs");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let new = String::from_utf8_lossy(&rotated.stdout).trim().to_owned();
    assert!(new.starts_with("brk_adm_") && new != old, "{new}");
    assert!(!String::from_utf8_lossy(&rotated.stderr).contains(&new));

    let server = Server::start(&dir);
    assert_eq!(server.status("/api/v1/auth/whoami", &old), 401);
    assert_eq!(server.status("/api/v1/auth/whoami", &new), 200);
    assert!(server.terminate().status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_prepares_the_database_and_exits() {
    let dir = workdir();
    let url = format!("sqlite://{}", dir.join("fresh.db").display());

    let migrated = command(&dir)
        .args(["migrate", "--database-url", &url])
        .output()
        .expect("runs");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(dir.join("fresh.db").exists());
    assert!(
        !dir.join("brokkr-admin.pak").exists(),
        "migrate mints no admin"
    );

    let unknown = command(&dir)
        .args(["migrate", "--database-url", "mysql://nowhere"])
        .output()
        .expect("runs");
    assert!(!unknown.status.success());
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert!(message.contains("unsupported database url"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}
