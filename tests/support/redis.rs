//! A `redis-server` of a test.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A `redis-server` on `port`, without persistence, killed on drop.
pub struct Redis {
    pub port: u16,
    _child: Child,
}

impl Redis {
    pub async fn start(port: u16) -> Redis {
        Redis::spawn(port, None).await
    }

    /// A server that writes every change to an append-only file in `dir` (fsync at every
    /// write), so that [`restart`](Self::restart) finds its data again.
    pub async fn start_persistent(port: u16, dir: &std::path::Path) -> Redis {
        Redis::spawn(port, Some(dir.to_owned())).await
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and files.
    pub async fn restart(&mut self, dir: &std::path::Path) {
        self._child.kill().await.unwrap();
        *self = Redis::spawn(self.port, Some(dir.to_owned())).await;
    }

    async fn spawn(port: u16, dir: Option<std::path::PathBuf>) -> Redis {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""]);
        match &dir {
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir),
            None => command.args(["--appendonly", "no"]),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "redis-server is needed (Debian package redis-server; `bash .ci/test` installs it)",
            );
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Redis {
                    port,
                    _child: child,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// A Redis Cluster of three primaries on loopback (and one replica each if asked), made with
/// `redis-cli --cluster create`; its servers are killed on drop.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    servers: Vec<Child>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Three primaries, no replicas.
    pub async fn start() -> RedisCluster {
        Self::start_with(0).await
    }

    /// Three primaries with `replicas` replicas each; a primary is declared failed after
    /// one second without an answer (`cluster-node-timeout`).
    pub async fn start_with(replicas: usize) -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "roidc-cluster-{}-{}",
            std::process::id(),
            super::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..3 * (1 + replicas))
            .map(|_| super::free_port())
            .collect();
        let mut servers = Vec::new();
        for port in &ports {
            let config = dir.join(format!("nodes-{port}.conf"));
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .arg("--cluster-config-file")
                .arg(&config)
                .arg("--dir")
                .arg(&dir)
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server is needed (`bash .ci/test` installs it)");
            servers.push(child);
        }
        for port in &ports {
            super::eventually_async(
                "a cluster node listens",
                Duration::from_secs(10),
                || async move {
                    tokio::net::TcpStream::connect(("127.0.0.1", *port))
                        .await
                        .ok()
                        .map(|_| ())
                },
            )
            .await;
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli is needed (Debian package redis-tools)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        // Every node agrees the cluster is up.
        for port in &ports {
            super::eventually_async(
                "the cluster state is ok",
                Duration::from_secs(20),
                || async move {
                    let info = Command::new("redis-cli")
                        .args(["-p", &port.to_string(), "cluster", "info"])
                        .output()
                        .await
                        .ok()?;
                    String::from_utf8_lossy(&info.stdout)
                        .contains("cluster_state:ok")
                        .then_some(())
                },
            )
            .await;
        }
        let cluster = RedisCluster {
            ports,
            servers,
            dir,
        };
        // Every replica has synchronised with its primary.
        for port in cluster.ports.clone() {
            super::eventually_async(
                "the replicas are in sync",
                Duration::from_secs(20),
                || async move {
                    let info = cli(port, &["info", "replication"]).await;
                    let replica = info.contains("role:slave");
                    (!replica || info.contains("master_link_status:up")).then_some(())
                },
            )
            .await;
        }
        cluster
    }

    /// The ports of the nodes that are primaries now.
    pub async fn primaries(&self) -> Vec<u16> {
        let mut primaries = Vec::new();
        for port in &self.ports {
            if cli(*port, &["info", "replication"])
                .await
                .contains("role:master")
            {
                primaries.push(*port);
            }
        }
        primaries
    }

    /// Waits until every replica of the primary on `port` has received all of its writes.
    pub async fn replicated(&self, port: u16) {
        super::eventually_async(
            "the replicas have every write",
            Duration::from_secs(10),
            || async move {
                let info = cli(port, &["info", "replication"]).await;
                let field = |name: &str| -> Option<i64> {
                    info.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .and_then(|v| v.trim().parse().ok())
                };
                let offset = field("master_repl_offset:")?;
                let replicas = field("connected_slaves:")?;
                let synced = info
                    .lines()
                    .filter(|l| l.starts_with("slave") && l.contains("offset="))
                    .filter(|l| l.contains(&format!("offset={offset},")))
                    .count() as i64;
                (replicas > 0 && synced == replicas).then_some(())
            },
        )
        .await;
    }

    /// Kills the node on `port` (SIGKILL: no goodbye to the cluster).
    pub async fn kill(&mut self, port: u16) {
        let index = self.ports.iter().position(|p| *p == port).unwrap();
        self.servers[index].kill().await.unwrap();
    }

    /// Waits until the nodes still up agree the cluster is up (a replica promoted).
    pub async fn healthy(&self, except: u16) {
        for port in self.ports.iter().filter(|p| **p != except) {
            super::eventually_async(
                "the cluster state is ok again",
                Duration::from_secs(30),
                || async move {
                    cli(*port, &["cluster", "info"])
                        .await
                        .contains("cluster_state:ok")
                        .then_some(())
                },
            )
            .await;
        }
    }

    /// The keys matching `pattern` on the node on `port`.
    pub async fn keys(&self, port: u16, pattern: &str) -> Vec<String> {
        cli(port, &["--scan", "--pattern", pattern])
            .await
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }
}

/// What `redis-cli -p port args...` prints (empty if it fails).
pub async fn cli(port: u16, args: &[&str]) -> String {
    match Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .await
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(_) => String::new(),
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How many `MGET`s the servers on `ports` have served in all.
pub async fn mget_calls(ports: &[u16]) -> usize {
    let mut total = 0;
    for port in ports {
        let text = cli(*port, &["info", "commandstats"]).await;
        total += text
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_mget:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
    }
    total
}
