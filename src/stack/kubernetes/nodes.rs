//! The nodes' own engines and what the harness may do to a node.
//!
//! `stack.kubernetes.node_engine` (or `$TAKEOVER_K8S_NODE_ENGINE`) is either
//! one endpoint, the engine of a one-node cluster, or a list
//! `NODE=ENDPOINT,NODE=ENDPOINT` naming each node's engine. Images are copied
//! into every engine; `kill` and `node-loss` use the engine of the node the
//! target's pod runs on.
//!
//! A node of the test bed (`scripts/k8s-testbed.sh`) has, beside its engine's
//! socket, the file `node` (its name) and `kubelet.pid`: there the harness may
//! stop and resume the node's kubelet ([`TestbedNode`]). Anywhere else it
//! cannot stop a node, and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::stack::{docker, StackError};

/// One entry of `node_engine`: the node it is for (`None`: any node, the
/// single one) and the engine's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEntry {
    /// The node's name, as the API knows it.
    pub node: Option<String>,
    /// `unix:///path/docker.sock` or `tcp://host:port`.
    pub endpoint: String,
}

/// Reads `node_engine`: one endpoint, or `NODE=ENDPOINT` entries separated by commas.
pub fn parse(text: &str) -> Result<Vec<EngineEntry>, String> {
    let entries: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return Err("`node_engine` is empty".into());
    }
    if let [one] = entries.as_slice() {
        if !one.contains('=') {
            return Ok(vec![EngineEntry {
                node: None,
                endpoint: one.to_string(),
            }]);
        }
    }
    let mut out: Vec<EngineEntry> = Vec::new();
    for entry in entries {
        let Some((node, endpoint)) = entry.split_once('=') else {
            return Err(format!(
                "`{entry}` in `node_engine` is not `NODE=ENDPOINT`; with several nodes, name each one's engine"
            ));
        };
        let (node, endpoint) = (node.trim(), endpoint.trim());
        if node.is_empty() || endpoint.is_empty() {
            return Err(format!(
                "`{entry}` in `node_engine` lacks a node or an endpoint"
            ));
        }
        if out.iter().any(|e| e.node.as_deref() == Some(node)) {
            return Err(format!("node `{node}` is named twice in `node_engine`"));
        }
        out.push(EngineEntry {
            node: Some(node.to_string()),
            endpoint: endpoint.to_string(),
        });
    }
    Ok(out)
}

/// The nodes' engines, connected.
#[derive(Clone, Default)]
pub struct NodeEngines {
    engines: Vec<(EngineEntry, bollard::Docker)>,
}

impl NodeEngines {
    /// Connects to every engine `text` names.
    pub async fn connect(text: &str) -> Result<NodeEngines, StackError> {
        let entries = parse(text).map_err(StackError::Unsupported)?;
        let mut engines = Vec::new();
        for entry in entries {
            let docker = docker::connect_to(&entry.endpoint).await?;
            engines.push((entry, docker));
        }
        Ok(NodeEngines { engines })
    }

    /// Whether no engine is known.
    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// Every engine (images go into each).
    pub fn all(&self) -> impl Iterator<Item = &bollard::Docker> {
        self.engines.iter().map(|(_, d)| d)
    }

    /// The engine of `node` and its endpoint: the one named for it, else the
    /// single unnamed one.
    pub fn on(&self, node: Option<&str>) -> Option<(&str, &bollard::Docker)> {
        let named = node.and_then(|n| {
            self.engines
                .iter()
                .find(|(e, _)| e.node.as_deref() == Some(n))
        });
        named
            .or_else(|| self.engines.iter().find(|(e, _)| e.node.is_none()))
            .map(|(e, d)| (e.endpoint.as_str(), d))
    }
}

/// A node of the test bed whose kubelet the harness may stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestbedNode {
    /// Its name.
    pub name: String,
    /// Its kubelet's pid.
    pub kubelet_pid: i32,
}

/// The test-bed node `node` whose engine is `endpoint`, or why the harness
/// cannot stop that node: the folder of the engine's socket must hold `node`
/// (the same name) and `kubelet.pid`, the pid of a running kubelet of that
/// node (`--hostname-override=NODE`), as `scripts/k8s-testbed.sh` writes them.
pub fn testbed_node(endpoint: &str, node: &str) -> Result<TestbedNode, String> {
    let not = |why: String| {
        format!(
            "node {node} is not a node of the test bed ({why}): the harness can stop a node only \
             on scripts/k8s-testbed.sh's cluster"
        )
    };
    let dir: PathBuf = endpoint
        .strip_prefix("unix://")
        .and_then(|p| Path::new(p).parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| not(format!("its engine `{endpoint}` is not a local socket")))?;
    let named = std::fs::read_to_string(dir.join("node"))
        .map_err(|e| not(format!("{}: {e}", dir.join("node").display())))?;
    if named.trim() != node {
        return Err(not(format!(
            "{} names node {}",
            dir.join("node").display(),
            named.trim()
        )));
    }
    let pid: i32 = std::fs::read_to_string(dir.join("kubelet.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| not(format!("no pid in {}", dir.join("kubelet.pid").display())))?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let is_kubelet = args.first().is_some_and(|a| a.ends_with("/kubelet"))
        && args
            .iter()
            .any(|a| *a == format!("--hostname-override={node}"));
    if !is_kubelet {
        return Err(not(format!("pid {pid} is not its kubelet")));
    }
    Ok(TestbedNode {
        name: node.to_string(),
        kubelet_pid: pid,
    })
}

/// Kubelets stopped by `node-loss`, by node: resumed by a heal, at the end of
/// the run and when the stack is dropped, so no node stays lost.
#[derive(Debug, Default)]
pub struct LostNodes(std::sync::Mutex<BTreeMap<String, i32>>);

impl LostNodes {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i32>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops `node`'s kubelet (SIGSTOP) and records it.
    pub fn stop(&self, node: &TestbedNode) -> Result<(), String> {
        signal(node.kubelet_pid, libc::SIGSTOP)?;
        self.map().insert(node.name.clone(), node.kubelet_pid);
        Ok(())
    }

    /// The nodes lost now.
    pub fn names(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }

    /// Resumes the kubelets of `nodes` (every lost one when `None`); the nodes resumed.
    pub fn resume(&self, nodes: Option<&[String]>) -> Result<Vec<String>, String> {
        let mut map = self.map();
        let names: Vec<String> = match nodes {
            Some(n) => n.iter().filter(|n| map.contains_key(*n)).cloned().collect(),
            None => map.keys().cloned().collect(),
        };
        for name in &names {
            if let Some(pid) = map.remove(name) {
                signal(pid, libc::SIGCONT)?;
            }
        }
        Ok(names)
    }
}

impl Drop for LostNodes {
    fn drop(&mut self) {
        if let Err(e) = self.resume(None) {
            eprintln!("warning: a lost node's kubelet could not be resumed: {e}");
        }
    }
}

fn signal(pid: i32, signo: i32) -> Result<(), String> {
    // SAFETY: kill(2) with a pid checked to be the test bed's kubelet.
    if unsafe { libc::kill(pid, signo) } == 0 {
        Ok(())
    } else {
        Err(format!(
            "signal {signo} to kubelet pid {pid}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_endpoint_is_any_nodes_and_a_list_names_each() {
        let one = parse("unix:///run/takeover-k8s/n1/docker.sock").unwrap();
        assert_eq!(one[0].node, None);
        let two = parse("a=unix:///x/a.sock, b=unix:///x/b.sock").unwrap();
        assert_eq!(two[1].node.as_deref(), Some("b"));
        assert_eq!(two[1].endpoint, "unix:///x/b.sock");
        assert!(parse("a=unix:///x,unix:///y")
            .unwrap_err()
            .contains("NODE=ENDPOINT"));
        assert!(parse("a=unix:///x,a=unix:///y")
            .unwrap_err()
            .contains("twice"));
        assert!(parse(" , ").is_err());
    }

    #[test]
    fn a_node_outside_the_test_bed_is_refused_with_why() {
        let why = testbed_node("tcp://10.0.0.1:2375", "n").unwrap_err();
        assert!(why.contains("not a local socket"), "{why}");
        let dir = std::env::temp_dir().join(format!("takeover-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let endpoint = format!("unix://{}/docker.sock", dir.display());
        assert!(testbed_node(&endpoint, "n").unwrap_err().contains("/node"));
        std::fs::write(dir.join("node"), "n\n").unwrap();
        // A pid that is not a kubelet of that node (this test) is refused.
        std::fs::write(dir.join("kubelet.pid"), std::process::id().to_string()).unwrap();
        let why = testbed_node(&endpoint, "n").unwrap_err();
        assert!(why.contains("is not its kubelet"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
