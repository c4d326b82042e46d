//! The API client: kubeconfig from the usual places (`KUBECONFIG`,
//! `~/.kube/config`, or the pod's service account in a cluster) or a file
//! the scenario names, with a context picked by name.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::stack::StackError;

/// A client of the cluster (`kubeconfig`, default: the usual places;
/// `context`, default: the current one), checked with a request for the
/// server's version. Returns the configuration too, for clients made later on
/// other runtimes.
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(kube::Client, kube::Config), StackError> {
    let unreachable = |detail: String| StackError::KubernetesUnreachable { detail };
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match (kubeconfig, context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| unreachable(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| unreachable(format!("{}: {e}", path.display())))?
        }
        (None, Some(name)) => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| unreachable(format!("context `{name}`: {e}")))?,
        (None, None) => kube::Config::infer()
            .await
            .map_err(|e| unreachable(e.to_string()))?,
    };
    let client = kube::Client::try_from(config.clone()).map_err(|e| unreachable(e.to_string()))?;
    client
        .apiserver_version()
        .await
        .map_err(|e| unreachable(format!("{}: {e}", config.cluster_url)))?;
    Ok((client, config))
}
