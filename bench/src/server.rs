//! The Gatehouse processes under test: the release binary found next to this one, run with settings from
//! the environment in a temporary directory, seeded through its CLI, killed on drop (also on panic), and
//! sampled through /proc (CPU time, RSS).

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{self, Target};

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux platform we run on (reading it would need libc and unsafe).
const CLK_TCK: f64 = 100.0;

/// The `gatehouse` binary of the same build (`target/release/gatehouse` next to `gatehouse-bench`).
pub fn locate_binary(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    let path = match explicit {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find my own executable: {e}"))?
            .parent()
            .ok_or("my executable has no directory")?
            .join("gatehouse"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} does not exist: build the server first with `cargo build --release` (or pass --gatehouse PATH)",
            path.display()
        ))
    }
}

/// How to run the binary: its path, the settings (environment) and the working directory.
#[derive(Clone)]
pub struct Gatehouse {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Gatehouse {
    fn command(&self, extra_env: &[(String, String)]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.dir);
        // Only our settings: nothing inherited from the caller's shell may change what is measured.
        for (name, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
            if name.starts_with("GATEHOUSE__") || name == "RUST_LOG" {
                cmd.env_remove(name);
            }
        }
        cmd.envs(self.env.iter().chain(extra_env).map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs a CLI command (60 s at most) and returns its standard output.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let what = format!("gatehouse {}", args.join(" "));
        let mut child = self
            .command(&[])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{what}: {e}"))?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or_default().as_bytes())
                .map_err(|e| format!("{what}: {e}"))?;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: no answer within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let output = child.wait_with_output().map_err(|e| format!("{what}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts `gatehouse serve` on a free loopback port and waits until `/healthz` answers.
    /// `tls` is (certificate, key) for an https server.
    pub async fn serve(&self, label: &str, tls: Option<(&Path, &Path)>) -> Result<Server, String> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut env = vec![
            ("GATEHOUSE__SERVER__BIND".to_string(), addr.to_string()),
            (
                "GATEHOUSE__SERVER__ISSUER".to_string(),
                format!("{scheme}://{addr}"),
            ),
        ];
        let target = match tls {
            Some((cert, key)) => {
                env.push(("GATEHOUSE__SERVER__TLS__CERT".into(), cert.display().to_string()));
                env.push(("GATEHOUSE__SERVER__TLS__KEY".into(), key.display().to_string()));
                Target::tls(addr, cert)?
            }
            None => Target::plain(addr),
        };
        let log_path = self.dir.join(format!("server-{label}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let child = self
            .command(&env)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let mut server = Server {
            pid: child.id(),
            child,
            target: Arc::new(target),
            log: log_path,
        };
        server.wait_ready().await?;
        Ok(server)
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A running server; dropping it kills the process.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub target: Arc<Target>,
    log: PathBuf,
}

impl Server {
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited ({status}): {}", self.log_tail()));
            }
            match self.healthz().await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "the server did not become ready within 30 s ({last}): {}",
            self.log_tail()
        ))
    }

    async fn healthz(&self) -> Result<(), String> {
        let mut conn = self.target.connect().await?;
        conn.send(http::build(self.target.get("/healthz"), "")?)
            .await?
            .expect(200, "GET /healthz")
            .map(drop)
    }

    /// The end of the server's output, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// User + system CPU time of the whole process (all threads) so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.pid)).unwrap_or(f64::NAN)
    }

    /// Resident set size in MiB (`VmRSS`).
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The load generator's own CPU time, in seconds.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat").unwrap_or(f64::NAN)
}

/// utime + stime (fields 14 and 15 of proc(5) `stat`; the command name before them may hold spaces).
fn cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / CLK_TCK)
}
