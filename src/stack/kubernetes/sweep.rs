//! Removing runs from a cluster: a run is its namespace (labelled
//! `takeover.run`), so deleting it removes every object of the run. Used by
//! the stack's shutdown and drop, by each `runtime: kubernetes` run for runs
//! whose harness died on this host, and by `takeover clean --kubernetes`.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams};

use crate::stack::cleanup::RunOwner;
use crate::stack::{labels, StackError};

/// Deletes `namespace`: its pods first with grace 0 (so nothing waits for
/// a shutdown), then the namespace, then waits up to `wait` for it to be
/// gone. A namespace that does not exist is fine.
pub async fn remove_namespace(
    client: &kube::Client,
    namespace: &str,
    wait: Duration,
) -> Result<bool, StackError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::background()
    };
    match pods.delete_collection(&now, &ListParams::default()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => {
            return Err(StackError::kube(
                format!("delete the pods of {namespace}"),
                e,
            ))
        }
    }
    match namespaces
        .delete(namespace, &DeleteParams::background())
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => return Err(StackError::kube(format!("delete namespace {namespace}"), e)),
    }
    let until = Instant::now() + wait;
    loop {
        match namespaces.get_opt(namespace).await {
            Ok(None) => return Ok(true),
            Ok(Some(_)) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            Ok(Some(_)) => {
                return Err(StackError::Unsupported(format!(
                    "namespace {namespace} was deleted but still exists after {wait:?}"
                )))
            }
            Err(e) => return Err(StackError::kube(format!("read namespace {namespace}"), e)),
        }
    }
}

/// Whether the API answered 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

/// The runs on the cluster: namespaces labelled `takeover.run`, with their owner.
pub async fn list_runs(client: &kube::Client) -> Result<Vec<RunOwner>, StackError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let list = namespaces
        .list(&ListParams::default().labels(labels::RUN))
        .await
        .map_err(|e| StackError::kube("list the runs' namespaces", e))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|ns| {
            let l = ns.metadata.labels.unwrap_or_default();
            Some(RunOwner {
                run_id: l.get(labels::RUN)?.clone(),
                pid: l.get(labels::OWNER_PID).and_then(|p| p.parse().ok()),
                host: l.get(labels::OWNER_HOST).cloned(),
                objects: 1,
            })
        })
        .collect())
}

/// Removes one run's namespace; whether there was one.
pub async fn remove_run(client: &kube::Client, run_id: &str) -> Result<bool, StackError> {
    let ns = super::objects::namespace_name(run_id);
    let removed = remove_namespace(client, &ns, Duration::from_secs(90)).await?;
    super::remove_host_path(Some(&super::objects::host_path(run_id)));
    Ok(removed)
}

/// Removes the runs whose harness died on this host; returns their ids.
pub async fn sweep_dead_owners(client: &kube::Client) -> Result<Vec<String>, StackError> {
    remove_where(client, |run| run.is_dead_here()).await
}

/// Removes every run on the cluster, whoever owns it; returns their ids.
pub async fn remove_all(client: &kube::Client) -> Result<Vec<String>, StackError> {
    remove_where(client, |_| true).await
}

async fn remove_where(
    client: &kube::Client,
    pick: impl Fn(&RunOwner) -> bool,
) -> Result<Vec<String>, StackError> {
    let mut removed = Vec::new();
    for run in list_runs(client).await? {
        if pick(&run) && remove_run(client, &run.run_id).await? {
            removed.push(run.run_id);
        }
    }
    Ok(removed)
}
