//! Removing a run's Docker objects (or, for `runtime: process`, its processes
//! and run directory): at the end of a run, from a guard when the harness
//! panics or is interrupted, and from `takeover clean` for runs whose harness died.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};
use bollard::Docker;
use serde::Serialize;

use super::docker::is_not_found;
use super::process::run_dir as process_runs;
use super::{labels, StackError};

/// What a removal removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Containers force-removed.
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
    /// Processes killed (process runtime).
    pub processes: usize,
    /// Run directories removed (process runtime).
    pub directories: usize,
}

impl Removed {
    /// Total number of objects.
    pub fn total(&self) -> usize {
        self.containers + self.networks + self.volumes + self.processes + self.directories
    }

    fn add(&mut self, other: &Removed) {
        self.containers += other.containers;
        self.networks += other.networks;
        self.volumes += other.volumes;
        self.processes += other.processes;
        self.directories += other.directories;
    }
}

/// Removes every object of `run_id` (containers, then network, then volume;
/// or, for a process run, its processes and directory).
/// Idempotent: objects already gone are not an error.
pub async fn remove_run(run_id: &str) -> Result<Removed, StackError> {
    if let Some(removed) = process_runs::remove_run(&process_runs::runs_root(), run_id)? {
        return Ok(removed);
    }
    // A multi-host run on the test bed has objects on its engines too, and
    // maybe host faults' rules in its chain.
    if let Err(e) = super::testbed::remove_run_rules(run_id) {
        eprintln!("warning: could not remove the test-bed rules of run {run_id}: {e}");
    }
    let mut removed = Removed::default();
    for engine in super::testbed::engines() {
        if let Ok(docker) = super::docker::connect_to(&engine).await {
            removed.add(&remove_run_with(&docker, run_id).await?);
        }
    }
    let docker = super::docker::connect().await?;
    removed.add(&remove_run_with(&docker, run_id).await?);
    Ok(removed)
}

/// The folder a multi-host run on this machine's engines makes for its
/// workers' shared `/data` when the scenario names no checkpoint store
/// (`stack.checkpoints`); `None` for a run id that is not a plain name.
pub fn own_checkpoint_dir(run_id: &str) -> Option<std::path::PathBuf> {
    let plain = !run_id.is_empty()
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plain.then(|| std::env::temp_dir().join(format!("takeover-checkpoints-{run_id}")))
}

/// Removes a folder a run made (its checkpoint store); `1` when it was there.
fn remove_run_folder(dir: &std::path::Path) -> Result<usize, StackError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(1),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StackError::Io {
            context: format!("removing the run's folder {}", dir.display()),
            source: e,
        }),
    }
}

/// Removes the process runs (`runtime: process`) whose owner ran on this host
/// and is gone; needs no Docker engine. Returns the runs removed.
pub fn sweep_dead_process_runs() -> Result<Vec<(String, Removed)>, StackError> {
    process_runs::sweep_dead_owners(&process_runs::runs_root())
}

/// Every process run (`runtime: process`) on this host, with its owner.
pub fn list_process_runs() -> Vec<RunOwner> {
    process_runs::list_runs(&process_runs::runs_root())
}

/// Removes every process run on this host, whoever owns it.
pub fn remove_all_process_runs() -> Result<Vec<(String, Removed)>, StackError> {
    let root = process_runs::runs_root();
    let mut all = Vec::new();
    for run in process_runs::list_runs(&root) {
        if let Some(removed) = process_runs::remove_run(&root, &run.run_id)? {
            all.push((run.run_id, removed));
        }
    }
    Ok(all)
}

/// [`remove_run`] with an existing connection.
pub async fn remove_run_with(docker: &Docker, run_id: &str) -> Result<Removed, StackError> {
    let filters = labels::run_filter(run_id);
    let mut removed = Removed::default();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| StackError::docker("list the run's containers", e))?;
    let removals = containers.into_iter().filter_map(|c| c.id).map(|id| {
        let docker = docker.clone();
        async move {
            // Force removal kills the container (SIGKILL, no grace period): a run's
            // containers are disposable, and their volume is removed next.
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            match docker.remove_container(&id, Some(options)).await {
                Ok(()) => Ok(1),
                Err(e) if is_not_found(&e) => Ok(0),
                // "removal already in progress" from a concurrent cleanup.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                }) => Ok(0),
                Err(e) => Err(StackError::docker(format!("remove container {id}"), e)),
            }
        }
    });
    // The network and volume lists are read while the containers go.
    let list_networks = async {
        docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .map_err(|e| StackError::docker("list the run's networks", e))
    };
    let list_volumes = async {
        docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .map_err(|e| StackError::docker("list the run's volumes", e))
    };
    let (container_results, networks, volumes) = tokio::join!(
        futures_util::future::join_all(removals),
        list_networks,
        list_volumes
    );
    for result in container_results {
        removed.containers += result?;
    }
    let (networks, volumes) = (networks?, volumes?);
    // Networks and volumes are independent of each other: remove them at once.
    let network_removals = networks
        .into_iter()
        .filter_map(|n| n.id)
        .map(|net| async move {
            match retry_busy(|| docker.remove_network(&net)).await {
                Ok(()) => Ok(1),
                Err(e) if is_not_found(&e) => Ok(0),
                Err(e) => Err(StackError::docker(format!("remove network {net}"), e)),
            }
        });
    let volume_removals = volumes
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|vol| async move {
            let name = vol.name;
            let result = retry_busy(|| {
                docker.remove_volume(&name, Some(RemoveVolumeOptions { force: true }))
            })
            .await;
            match result {
                Ok(()) => Ok(1),
                Err(e) if is_not_found(&e) => Ok(0),
                Err(e) => Err(StackError::docker(format!("remove volume {name}"), e)),
            }
        });
    let (network_results, volume_results) = tokio::join!(
        futures_util::future::join_all(network_removals),
        futures_util::future::join_all(volume_removals)
    );
    for result in network_results {
        removed.networks += result?;
    }
    for result in volume_results {
        removed.volumes += result?;
    }
    if let Some(dir) = own_checkpoint_dir(run_id) {
        // A multi-host run is removed engine by engine: while another engine's
        // workers still write there the folder may not empty; the removal
        // from the last engine takes it.
        if let Ok(n) = remove_run_folder(&dir) {
            removed.directories += n;
        }
    }
    Ok(removed)
}

/// Retries a removal the engine refuses because the object is still in use
/// (a container's removal completes asynchronously): every 20 ms for up to 2 s.
async fn retry_busy<F, Fut>(mut call: F) -> Result<(), bollard::errors::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), bollard::errors::Error>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409 | 403,
                ..
            }) if attempt < 100 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Who owns a run, from its objects' labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOwner {
    /// The run id.
    pub run_id: String,
    /// The owner's process id, if labelled.
    pub pid: Option<u32>,
    /// The owner's host, if labelled.
    pub host: Option<String>,
    /// Number of containers, networks and volumes.
    pub objects: usize,
}

impl RunOwner {
    /// Whether the owner is known to be gone: it ran on this host and its pid is not alive.
    pub fn is_dead_here(&self) -> bool {
        match (&self.host, self.pid) {
            (Some(host), Some(pid)) if *host == labels::this_host() => !pid_alive(pid),
            _ => false,
        }
    }
}

/// Whether a process with this pid exists on this host.
pub fn pid_alive(pid: u32) -> bool {
    // kill(pid, 0) checks existence without sending anything.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Every run that has objects on the engine, with its owner.
pub async fn list_runs(docker: &Docker) -> Result<Vec<RunOwner>, StackError> {
    let filters = labels::any_run_filter();
    let mut runs: BTreeMap<String, RunOwner> = BTreeMap::new();
    let mut note = |labels_map: Option<HashMap<String, String>>| {
        let labels_map = labels_map.unwrap_or_default();
        let Some(run_id) = labels_map.get(labels::RUN) else {
            return;
        };
        let entry = runs.entry(run_id.clone()).or_insert_with(|| RunOwner {
            run_id: run_id.clone(),
            pid: None,
            host: None,
            objects: 0,
        });
        entry.objects += 1;
        if entry.pid.is_none() {
            entry.pid = labels_map
                .get(labels::OWNER_PID)
                .and_then(|p| p.parse().ok());
        }
        if entry.host.is_none() {
            entry.host = labels_map.get(labels::OWNER_HOST).cloned();
        }
    };
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| StackError::docker("list containers", e))?;
    for c in containers {
        note(c.labels);
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .map_err(|e| StackError::docker("list networks", e))?;
    for n in networks {
        note(n.labels);
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| StackError::docker("list volumes", e))?;
    for v in volumes.volumes.unwrap_or_default() {
        note(Some(v.labels));
    }
    Ok(runs.into_values().collect())
}

/// Removes the runs whose owner ran on this host and is gone (Docker runs and
/// process runs). Returns the runs removed.
pub async fn sweep_dead_owners(docker: &Docker) -> Result<Vec<(String, Removed)>, StackError> {
    let mut swept = sweep_dead_process_runs()?;
    for run in list_runs(docker).await? {
        if run.is_dead_here() {
            let removed = remove_run_with(docker, &run.run_id).await?;
            swept.push((run.run_id, removed));
        }
    }
    Ok(swept)
}

/// Removes every run on the engine, whoever owns it.
pub async fn remove_all_runs(docker: &Docker) -> Result<Vec<(String, Removed)>, StackError> {
    let mut all = Vec::new();
    let mut total = Removed::default();
    for run in list_runs(docker).await? {
        let removed = remove_run_with(docker, &run.run_id).await?;
        total.add(&removed);
        all.push((run.run_id, removed));
    }
    Ok(all)
}

/// Removes a run when dropped (normal end, failed step, panic), unless disarmed.
/// The removal runs on a thread of its own, so it works inside or outside a runtime.
#[derive(Debug)]
pub struct RunGuard {
    run_id: String,
    armed: bool,
    /// Further engines the run has objects on (`stack.hosts`), with their TLS files.
    engines: Vec<(String, Option<super::hosts::TlsSpec>)>,
    /// Folders the run made (a multi-host run's checkpoint store).
    folders: Vec<std::path::PathBuf>,
}

impl RunGuard {
    /// A guard for `run_id`.
    pub fn new(run_id: &str) -> Self {
        Self::with(run_id, Vec::new(), Vec::new())
    }

    /// A guard for `run_id` that also removes its objects on `engines` and
    /// the `folders` it made.
    pub fn with(
        run_id: &str,
        engines: Vec<(String, Option<super::hosts::TlsSpec>)>,
        folders: Vec<std::path::PathBuf>,
    ) -> Self {
        Self {
            run_id: run_id.to_string(),
            armed: true,
            engines,
            folders,
        }
    }

    /// The run it guards.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Keeps the run when the guard is dropped (it was removed already, or is kept on purpose).
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let run_id = self.run_id.clone();
        let engines = std::mem::take(&mut self.engines);
        for dir in &self.folders {
            if let Err(e) = remove_run_folder(dir) {
                eprintln!("warning: {e}");
            }
        }
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(async {
                    for (engine, tls) in &engines {
                        let removed = match super::docker::connect_engine(engine, tls.as_ref())
                            .await
                        {
                            Ok(docker) => remove_run_with(&docker, &run_id).await.map(|_| ()),
                            Err(e) => Err(e),
                        };
                        if let Err(e) = removed {
                            eprintln!("warning: could not remove run {run_id} from {engine}: {e}");
                        }
                    }
                    if let Err(e) = remove_run(&run_id).await {
                        eprintln!(
                            "warning: could not remove run {run_id}: {e}; run `takeover clean --run {run_id}`"
                        );
                    }
                }),
                Err(e) => eprintln!(
                    "warning: could not remove run {run_id} ({e}); run `takeover clean --run {run_id}`"
                ),
            }
        });
        let _ = worker.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_an_unused_one_is_not() {
        assert!(pid_alive(std::process::id()));
        // Above the kernel's pid_max limit (4194304), so never a live process.
        assert!(!pid_alive(4_194_305));
        let here = RunOwner {
            run_id: "tk-x".into(),
            pid: Some(4_194_305),
            host: Some(labels::this_host()),
            objects: 1,
        };
        assert!(here.is_dead_here());
        let elsewhere = RunOwner {
            host: Some("another-machine".into()),
            ..here.clone()
        };
        assert!(!elsewhere.is_dead_here());
        let me = RunOwner {
            pid: Some(std::process::id()),
            ..here
        };
        assert!(!me.is_dead_here());
    }
}
