//! `stack.runtime: kubernetes`: the reference stack as pods of one namespace
//! per run (named by the run id, labelled `takeover.run` like the Docker
//! objects). Redis, the two workers and HAProxy each run as a one-replica
//! Deployment, so a deleted pod is replaced (with a new UID) and a dead
//! process is restarted in place; the workers share a checkpoint volume (a
//! ReadWriteMany claim, or a hostPath folder on a one-node cluster).
//!
//! The harness reaches the pods at their own addresses, so the cluster's pod
//! network must be routed from where `takeover` runs (the test bed routes it;
//! in a cluster, run `takeover` in a pod). Deleting the namespace removes
//! everything: [`KubeRun::shutdown`], its drop (panic, Ctrl-C) and
//! [`sweep`] (`takeover clean --kubernetes`).

mod client;
mod events;
pub mod nodes;
pub mod objects;
mod pods;
pub mod sweep;
mod up;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

pub use client::connect;
pub use pods::PodState;
pub(super) use up::up;

use super::docker::ContainerStatus;
use super::{Role, StackError};

/// The Kubernetes parts of a running stack. Dropping it deletes the run's
/// namespace (on a thread of its own, so it works inside or outside a runtime).
pub struct KubeRun {
    client: kube::Client,
    config: kube::Config,
    namespace: String,
    run_id: String,
    volume: String,
    host_path: Option<String>,
    node_engines: nodes::NodeEngines,
    lost_nodes: nodes::LostNodes,
    recorder: Option<tokio::task::JoinHandle<()>>,
    down: bool,
}

impl KubeRun {
    /// The API client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The run's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The checkpoint volume: the claim's name, or the node's hostPath folder.
    pub fn volume(&self) -> &str {
        &self.volume
    }

    /// The Docker engine of `node` (`stack.kubernetes.node_engine`), where
    /// its pods' containers can be signalled directly, with its endpoint;
    /// `None` when none is given for it.
    pub fn node_engine(&self, node: Option<&str>) -> Option<(&str, &bollard::Docker)> {
        self.node_engines.on(node)
    }

    /// The nodes `node-loss` has stopped, resumed by a heal and at the end.
    pub fn lost_nodes(&self) -> &nodes::LostNodes {
        &self.lost_nodes
    }

    /// The pods API of the run's namespace.
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The current pod of `role` (the newest, when a replacement is starting).
    pub async fn pod(&self, role: Role) -> Result<Option<Pod>, StackError> {
        pods::current(&self.pods(), &self.run_id, role).await
    }

    /// A role's state in Docker's words, from its pod's container status
    /// (`running`; `exited (code 137, OOMKilled)` for the last termination of a
    /// container that is waiting to restart; `missing` without a pod).
    pub async fn status(&self, role: Role) -> Result<ContainerStatus, StackError> {
        let pod = self.pod(role).await?;
        Ok(pods::container_status(pod.as_ref()))
    }

    /// The output of a role's current container (`tail` lines, or all).
    pub async fn logs(&self, role: Role, tail: Option<usize>) -> String {
        let pod = match self.pod(role).await {
            Ok(Some(pod)) => pod,
            Ok(None) => return format!("(no pod for {role})"),
            Err(e) => return format!("(no logs: {e})"),
        };
        let name = pod.metadata.name.unwrap_or_default();
        let params = LogParams {
            container: Some(objects::CONTAINER.to_string()),
            tail_lines: tail.map(|t| t as i64),
            ..Default::default()
        };
        match self.pods().logs(&name, &params).await {
            Ok(text) => text,
            Err(e) => format!("(no logs of pod {name}: {e})"),
        }
    }

    /// Stops recording the cluster's events.
    pub fn stop_recording(&mut self) {
        if let Some(task) = self.recorder.take() {
            task.abort();
        }
    }

    /// Deletes the namespace (pods first, with grace 0) and waits until it is
    /// gone; removes a hostPath folder on this machine. Idempotent.
    pub async fn shutdown(&mut self) -> Result<(), StackError> {
        if self.down {
            return Ok(());
        }
        self.down = true;
        self.stop_recording();
        if let Err(e) = self.lost_nodes.resume(None) {
            eprintln!("warning: {e}");
        }
        sweep::remove_namespace(&self.client, &self.namespace, NAMESPACE_GONE).await?;
        remove_host_path(self.host_path.as_deref());
        Ok(())
    }
}

/// How long a deleted namespace may take to disappear.
const NAMESPACE_GONE: Duration = Duration::from_secs(90);

/// Removes a run's hostPath folder where the node shares this machine's
/// file system (the one-node test bed); elsewhere there is nothing here.
fn remove_host_path(path: Option<&str>) {
    if let Some(path) = path {
        match std::fs::remove_dir_all(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("warning: could not remove {path}: {e}"),
        }
    }
}

impl Drop for KubeRun {
    fn drop(&mut self) {
        if self.down {
            return;
        }
        self.stop_recording();
        // A client of its own, on a runtime of its own: the run's client may be
        // bound to a runtime that is shutting down.
        let (config, namespace, run_id) = (
            self.config.clone(),
            self.namespace.clone(),
            self.run_id.clone(),
        );
        let host_path = self.host_path.clone();
        let worker = std::thread::spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|rt| {
                    rt.block_on(async {
                        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
                        sweep::remove_namespace(&client, &namespace, NAMESPACE_GONE)
                            .await
                            .map_err(|e| e.to_string())
                    })
                });
            if let Err(e) = result {
                eprintln!(
                    "warning: could not delete namespace {namespace}: {e}; run \
                     `takeover clean --kubernetes --run {run_id}`"
                );
            }
            remove_host_path(host_path.as_deref());
        });
        let _ = worker.join();
    }
}
