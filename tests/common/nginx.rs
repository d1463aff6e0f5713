//! Debian's nginx, started by tests and benchmarks on free ports with a configuration of
//! their own (the package's service is not used).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// nginx's binary: on `PATH`, or Debian's.
pub fn binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nginx"))
            .find(|p| p.is_file())
    });
    let nginx = found.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        nginx.is_file(),
        "nginx is not installed: run scripts/setup-test-deps (Debian package nginx)"
    );
    nginx
}

/// Writes a configuration under `<work>/nginx` (its pid, logs and temporary files there
/// too): the `main` directives, then `http { … }` holding `http`. Returns the command
/// that runs nginx with it in the foreground.
pub fn configure(work: &Path, main: &str, http: &str) -> Command {
    let dir = work.join("nginx");
    for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).expect("nginx's directories");
    }
    let d = dir.display();
    let config = format!(
        r#"daemon off;
{main}
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{http}
}}
"#
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config).expect("nginx.conf");
    let mut command = Command::new(binary());
    command
        .args(["-p", &d.to_string(), "-c", &conf.display().to_string()])
        .args(["-e", &format!("{d}/logs/early.log")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("logs/stderr.log")).expect("nginx's stderr"));
    command
}
