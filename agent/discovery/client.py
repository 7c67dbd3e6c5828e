"""A `kubernetes` ApiClient: in-cluster config inside a pod, a kubeconfig outside."""

from __future__ import annotations

import os

import kubernetes.client
import kubernetes.config
from kubernetes.config.config_exception import ConfigException


class KubeConfigError(Exception):
    """No usable Kubernetes configuration; the message says what was tried."""


def api_client(kubeconfig: str = "", context: str = "") -> kubernetes.client.ApiClient:
    """Explicit kubeconfig first; then the in-cluster service account; then ~/.kube/config (or $KUBECONFIG)."""
    try:
        if kubeconfig:
            if not os.path.isfile(kubeconfig):
                raise KubeConfigError(f"kubeconfig not found: {kubeconfig}")
            return kubernetes.config.new_client_from_config(
                config_file=kubeconfig, context=context or None
            )
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = kubernetes.client.Configuration()
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            return kubernetes.client.ApiClient(configuration)
        return kubernetes.config.new_client_from_config(context=context or None)
    except ConfigException as exc:
        raise KubeConfigError(f"no usable Kubernetes configuration: {exc}") from exc
