"""The lab API server as the real `kubernetes` client sees it."""

from __future__ import annotations

import json
import socket
import threading
import time

import kubernetes.client
import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward

from inspector.lab.kube_api import KubeAPIServer, label_selector_matches

PODS = """
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-1, namespace: shop, labels: {app: web, tier: front, env: prod}}
    spec: {nodeName: node-a, containers: [{name: c, image: x}]}
    status: {podIP: 127.0.0.11}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-2, namespace: shop, labels: {app: web, tier: front, env: dev}}
    spec: {nodeName: node-b, containers: [{name: c, image: x}]}
    status: {podIP: 127.0.0.12}
  - apiVersion: v1
    kind: Pod
    metadata: {name: db-0, namespace: payments, labels: {app: db}}
    spec: {nodeName: node-a, containers: [{name: c, image: x}]}
    status: {podIP: 127.0.0.13}
"""


def names(response: object) -> list[str]:
    return [item.metadata.name for item in response.items]  # type: ignore[attr-defined]


@pytest.fixture
def core(
    kube_api: KubeAPIServer, api_client: kubernetes.client.ApiClient
) -> kubernetes.client.CoreV1Api:
    kube_api.load_yaml(PODS)
    return kubernetes.client.CoreV1Api(api_client)


def test_label_and_field_selectors(core: kubernetes.client.CoreV1Api) -> None:
    assert names(core.list_pod_for_all_namespaces(label_selector="app=web,env!=dev")) == ["web-1"]
    assert names(core.list_pod_for_all_namespaces(label_selector="app in (web, db),!tier")) == [
        "db-0"
    ]
    assert names(core.list_pod_for_all_namespaces(label_selector="env notin (prod)")) == [
        "db-0",
        "web-2",
    ]
    assert names(core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a")) == [
        "db-0",
        "web-1",
    ]
    assert names(
        core.list_pod_for_all_namespaces(
            field_selector="metadata.namespace=shop,metadata.name!=web-1"
        )
    ) == ["web-2"]
    assert names(core.list_namespaced_pod("shop", label_selector="tier")) == ["web-1", "web-2"]
    with pytest.raises(ApiException) as bad:
        core.list_pod_for_all_namespaces(label_selector="app in web")
    assert bad.value.status == 400


def test_selector_grammar_edge_cases() -> None:
    labels = {"a": "1", "b": "2"}
    assert label_selector_matches("a==1, b", labels)
    assert not label_selector_matches("a=1,c", labels)
    assert label_selector_matches("!c", labels)


def test_paging_with_limit_and_continue(
    core: kubernetes.client.CoreV1Api, kube_api: KubeAPIServer
) -> None:
    first = core.list_pod_for_all_namespaces(limit=2)
    assert names(first) == ["db-0", "web-1"] and first.metadata.remaining_item_count == 1
    second = core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)
    assert names(second) == ["web-2"] and not second.metadata._continue
    assert second.metadata.resource_version == first.metadata.resource_version
    kube_api.expire_watches()
    with pytest.raises(ApiException) as gone:
        core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)
    assert gone.value.status == 410


def test_watch_added_modified_deleted_and_410(
    core: kubernetes.client.CoreV1Api, kube_api: KubeAPIServer
) -> None:
    start = core.list_namespaced_pod("shop").metadata.resource_version

    def changes() -> None:
        time.sleep(0.3)
        kube_api.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web-3", "namespace": "shop"},
                "spec": {"containers": []},
            }
        )
        kube_api.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web-3", "namespace": "shop", "labels": {"v": "2"}},
                "spec": {"containers": []},
            }
        )
        kube_api.delete("Pod", "web-3", "shop")
        kube_api.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "elsewhere", "namespace": "payments"},
                "spec": {"containers": []},
            }
        )

    thread = threading.Thread(target=changes)
    thread.start()
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_pod, "shop", resource_version=start, timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            stream.stop()
    thread.join()
    assert seen == [("ADDED", "web-3"), ("MODIFIED", "web-3"), ("DELETED", "web-3")]
    kube_api.expire_watches()
    with pytest.raises(ApiException) as gone:
        list(
            watch.Watch().stream(
                core.list_namespaced_pod, "shop", resource_version=start, timeout_seconds=5
            )
        )
    assert gone.value.status == 410


def test_errors_are_status_objects(
    core: kubernetes.client.CoreV1Api, kube_api: KubeAPIServer
) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", "shop")
    body = json.loads(missing.value.body)
    assert (missing.value.status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    kube_api.inject(r"/namespaces/shop/pods$", status=403)
    with pytest.raises(ApiException) as forbidden:
        core.list_namespaced_pod("shop")
    assert (
        forbidden.value.status == 403 and json.loads(forbidden.value.body)["reason"] == "Forbidden"
    )
    assert names(core.list_namespaced_pod("shop")) == ["web-1", "web-2"]  # one-shot fault


def test_reviews_and_version(
    kube_api: KubeAPIServer, api_client: kubernetes.client.ApiClient
) -> None:
    kube_api.add_token("t1", "alice", groups=["auditors"])
    kube_api.grant("auditors", "get", "snapshots", group="cryptoscope.io")
    authn = kubernetes.client.AuthenticationV1Api(api_client)
    review = authn.create_token_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "t1"}}
    )
    assert review.status.authenticated and review.status.user.username == "alice"
    assert not authn.create_token_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "t2"}}
    ).status.authenticated
    authz = kubernetes.client.AuthorizationV1Api(api_client)

    def allowed(verb: str) -> bool:
        spec = {
            "user": "alice",
            "groups": ["auditors"],
            "resourceAttributes": {
                "verb": verb,
                "group": "cryptoscope.io",
                "resource": "snapshots",
            },
        }
        return bool(
            authz.create_subject_access_review(
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": spec,
                }
            ).status.allowed
        )

    assert allowed("get") and not allowed("delete")
    assert kubernetes.client.VersionApi(api_client).get_code().git_version == "v1.31.0"
    groups = {
        group.name for group in kubernetes.client.ApisApi(api_client).get_api_versions().groups
    }
    assert {"apps", "discovery.k8s.io", "secrets-store.csi.x-k8s.io"} <= groups


def test_portforward_relays_to_the_pod_ip(
    kube_api: KubeAPIServer, api_client: kubernetes.client.ApiClient
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def echo() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"echo:" + conn.recv(100))

        thread = threading.Thread(target=echo)
        thread.start()
        kube_api.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "pf", "namespace": "shop"},
                "spec": {"containers": []},
                "status": {"podIP": "127.0.0.1"},
            }
        )
        core = kubernetes.client.CoreV1Api(api_client)
        forward = portforward(
            core.connect_get_namespaced_pod_portforward, "pf", "shop", ports=str(port)
        )
        sock = forward.socket(port)
        sock.settimeout(10)
        sock.sendall(b"hello")
        assert sock.recv(100) == b"echo:hello"
        sock.close()
        thread.join(10)


def test_https_and_kubeconfig(tmp_path) -> None:  # noqa: ANN001
    import kubernetes.config

    with KubeAPIServer(tls=True, require_auth=True) as api:
        api.add_token("agent", "system:serviceaccount:cryptoscope:agent")
        api.load_yaml(PODS)
        client = kubernetes.config.new_client_from_config(
            str(api.write_kubeconfig(tmp_path / "kc", token="agent"))
        )
        assert names(kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces()) == [
            "db-0",
            "web-1",
            "web-2",
        ]
        anonymous = kubernetes.config.new_client_from_config(
            str(api.write_kubeconfig(tmp_path / "kc2"))
        )
        with pytest.raises(ApiException) as denied:
            kubernetes.client.CoreV1Api(anonymous).list_pod_for_all_namespaces()
        assert denied.value.status == 401
