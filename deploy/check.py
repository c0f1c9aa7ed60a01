#!/usr/bin/env python3
"""check.py - the properties deploy/ must have, checked offline

deploy/check.sh runs it (with python3-yaml); each command prints one line
per problem found and exits 1 if there was any, 0 otherwise.

    check.py k8s RENDERED.yaml [--secrets K8S-SECRETS.yaml] [--replicas NAME=N,..]
        Objects rendered by `kubectl kustomize` (an overlay). Every container:
        readiness and liveness probes, CPU and memory requests and limits,
        non-root, read-only root filesystem, no privilege escalation, all
        capabilities dropped, a seccomp profile; every secret-looking value
        (a *PASSWORD*/*SECRET*/... variable, a URL or conninfo holding a
        password) from a Secret, never a literal or a ConfigMap. Every evbus
        service: a StatefulSet whose REPLICA_INDEX is the pod index and whose
        REPLICA_COUNT is its replica count, STREAM left to the default, a
        headless Service publishing not-ready addresses with its PUB and
        replay ports, a PodDisruptionBudget, probes on /readyz and /healthz,
        Prometheus annotations, a grace period a little above
        SHUTDOWN_TIMEOUT_MS, the image tagged with SVC_VERSION, only option
        names the services know, and PUBLISHERS that name such Services and
        ports. NetworkPolicies: ingress denied by default, every container
        port admitted by some policy, no port but HTTP open to all, and each
        subscriber (and database client) admitted where it connects. No
        Secret object in the render. With --secrets (deploy/secrets.sh's
        output): every Secret and key referenced exists, CURVE files name
        real keys, each publisher's allow-list holds exactly its subscribers'
        public keys and each subscriber's server key is its publishers'.
        With --replicas: those StatefulSets have those replica counts.
    check.py compose RAW.yaml[,RAW2.yaml] CONFIG.yaml
        compose files as written (no literal secrets) and as `docker-compose
        config` resolved them (hardening, option names, PUBLISHERS).
    check.py systemd UNIT_DIR CONFIG_DIR
        the units (Restart=on-failure, hardening, environment files, ordering
        after PostgreSQL, stop timeout) and the environment files.
    check.py binaries < LIST
        every service binary deploy/ runs is in LIST (deploy/build.sh binaries).
    check.py dockerfile Dockerfile
        the build stage runs deploy/build.sh's steps and no build command of
        its own; final stage debian:12-slim, non-root, version label =
        SVC_VERSION.
    check.py self-test RENDERED.yaml [--secrets K8S-SECRETS.yaml] [--verbose]
        breaks a copy of the inputs in known ways (a probe removed, a literal
        password, a wrong REPLICA_COUNT, ...) and fails unless each check
        above notices; also the compose, systemd and Dockerfile checks.
        --verbose prints what each breakage was reported as.
"""

import copy
import base64
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#  The service binaries (bus_service.h processes) and the tools the image ships.
SERVICE_BINARIES = {"order-service", "inventory-service", "billing-service", "broker-shim"}
#  Options of a service beyond bus_service.h's standard ones.
EXTRA_OPTIONS = {
    "broker-shim": {"RABBITMQ_URL", "SHIM_FORMAT", "SHIM_MAP", "SHIM_QUEUE", "SHIM_MARK", "SHIM_WINDOW",
                    "SHIM_CONSUME"}
}
POD_INDEX_PATH = "metadata.labels['apps.kubernetes.io/pod-index']"
SHUTDOWN_MS_DEFAULT = 10000
#  The grace period must exceed SHUTDOWN_TIMEOUT_MS, by at most this much.
GRACE_SLACK_MAX_S = 20

SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|_PASS$|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|COOKIE|API_?KEY)")
URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@")
#  "password=x" in a conninfo; not "password=$(...)" in a shell script.
CONNINFO_PASSWORD = re.compile(r"(^|\s)password\s*=\s*[^\s$]", re.IGNORECASE)


def holds_credentials(value):
    """True when a value carries a password itself (URL userinfo, conninfo)."""
    text = str(value)
    return bool(URL_WITH_PASSWORD.search(text) or CONNINFO_PASSWORD.search(text))


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def svc_version():
    match = re.search(r'#define SVC_VERSION "([^"]+)"', read(os.path.join(ROOT, "svc/include/svc.h")))
    return match.group(1)


def cmake_version():
    match = re.search(r"project\(\s*evbus\s+VERSION\s+([0-9.]+)", read(os.path.join(ROOT, "CMakeLists.txt")))
    return match.group(1)


def standard_options():
    """Option names from bus_service.h's "Standard options" comment, plus the common ones."""
    text = read(os.path.join(ROOT, "bus/include/bus_service.h"))
    block = text[text.index("Standard options"):text.index("plus svc_config_common_options")]
    names = set(re.findall(r"^\s{8}([A-Z][A-Z0-9_]+)\s", block, re.MULTILINE))
    assert {"HTTP_ADDR", "PUBLISHERS", "CURVE_ALLOW_DIR"} <= names, names
    return names | {"LOG_LEVEL", "INSTANCE_ID"}


def known_option(binary, name, standard):
    """An option the binary reads, or a libpq variable (PGPASSWORD, PGSSLMODE, ...)."""
    return name in standard or name in EXTRA_OPTIONS.get(binary, set()) or bool(
        re.fullmatch(r"PG[A-Z]+", name))


def endpoint_port(value):
    match = re.search(r":(\d+)$", value.strip())
    return int(match.group(1)) if match else None


def parse_publishers(value):
    """[(host, port)] of "tcp://host:port,..."; None for a malformed list."""
    result = []
    for item in [part.strip() for part in value.split(",") if part.strip()]:
        match = re.fullmatch(r"tcp://([A-Za-z0-9.-]+):(\d+)", item)
        if not match:
            return None
        result.append((match.group(1), int(match.group(2))))
    return result


def database_host_port(value):
    """(host, port) of a libpq URI or conninfo, or None."""
    match = re.match(r"postgres(?:ql)?://(?:[^@/]*@)?([^:/?]+)(?::(\d+))?", value)
    if match:
        return match.group(1), int(match.group(2) or 5432)
    host = re.search(r"(?:^|\s)host\s*=\s*(\S+)", value)
    port = re.search(r"(?:^|\s)port\s*=\s*(\d+)", value)
    if host:
        return host.group(1), int(port.group(1)) if port else 5432
    return None


def public_key_of(cert_text):
    match = re.search(r'public-key\s*=\s*"([^"]{40})"', cert_text)
    return match.group(1) if match else None


#  ---------------------------------------------------------------------
#  Kubernetes


def selector_matches(selector, labels):
    """A LabelSelector (matchLabels/matchExpressions) or a plain map against labels."""
    if selector is None:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_template(workload):
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]
    return workload["spec"]["template"]


WORKLOAD_KINDS = {"StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "Job", "CronJob"}


class Cluster:
    """The rendered objects, indexed."""

    def __init__(self, docs):
        self.objects = [doc for doc in docs if isinstance(doc, dict) and doc.get("kind")]
        self.configmaps = {o["metadata"]["name"]: o.get("data") or {}
                           for o in self.objects if o["kind"] == "ConfigMap"}
        self.services = {o["metadata"]["name"]: o for o in self.objects if o["kind"] == "Service"}
        self.workloads = [o for o in self.objects if o["kind"] in WORKLOAD_KINDS]
        self.policies = [o for o in self.objects if o["kind"] == "NetworkPolicy"]
        self.pdbs = [o for o in self.objects if o["kind"] == "PodDisruptionBudget"]

    def pods_of_service(self, service):
        selector = service["spec"].get("selector")
        return [w for w in self.workloads
                if selector and selector_matches(selector, pod_labels(w))]


def pod_labels(workload):
    return pod_template(workload)["metadata"].get("labels") or {}


def containers_of(workload):
    spec = pod_template(workload)["spec"]
    return [(c, False) for c in spec.get("containers") or []] + \
        [(c, True) for c in spec.get("initContainers") or []]


def binary_of(container):
    command = container.get("command") or container.get("args") or []
    return os.path.basename(command[0]) if command else None


class Env:
    """A container's environment: name -> (source, value)."""

    def __init__(self, container, cluster, where, errors):
        self.vars = {}
        for item in container.get("envFrom") or []:
            prefix = item.get("prefix", "")
            if "configMapRef" in item:
                name = item["configMapRef"]["name"]
                if name not in cluster.configmaps:
                    errors.append(f"{where}: envFrom ConfigMap {name} does not exist")
                    continue
                for key, value in cluster.configmaps[name].items():
                    self.vars[prefix + key] = ("configmap", str(value))
            elif "secretRef" in item:
                self.vars.setdefault("*secretRef*", ("secret", item["secretRef"]["name"]))
        for item in container.get("env") or []:
            name = item["name"]
            if "value" in item:
                self.vars[name] = ("literal", str(item["value"]))
                continue
            source = item.get("valueFrom") or {}
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                self.vars[name] = ("secret", (ref["name"], ref["key"], bool(ref.get("optional"))))
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                value = cluster.configmaps.get(ref["name"], {}).get(ref["key"])
                if value is None:
                    errors.append(f"{where}: env {name}: ConfigMap key {ref['name']}/{ref['key']} "
                                  "does not exist")
                self.vars[name] = ("configmap", str(value))
            elif "fieldRef" in source:
                self.vars[name] = ("field", source["fieldRef"]["fieldPath"])
            else:
                self.vars[name] = ("other", None)

    def text(self, name, default=None):
        """The value of a literal or ConfigMap variable, else default."""
        source, value = self.vars.get(name, (None, None))
        return value if source in ("literal", "configmap") else default


def secret_file(workload, container, path):
    """(secret name, key) of the Secret-volume file at path, or None."""
    volumes = {v["name"]: v for v in pod_template(workload)["spec"].get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"], {})
        if "secret" not in volume:
            continue
        secret = volume["secret"]
        items = {i["path"]: i["key"] for i in secret.get("items") or []}
        mount_path = mount["mountPath"].rstrip("/")
        if mount.get("subPath"):
            if path == mount_path:
                return secret["secretName"], items.get(mount["subPath"], mount["subPath"])
            continue
        if path.startswith(mount_path + "/"):
            relative = path[len(mount_path) + 1:]
            return secret["secretName"], items.get(relative, relative)
    return None


def secret_dir(workload, container, path):
    """Secret name of the Secret volume mounted (whole) at directory path, or None."""
    volumes = {v["name"]: v for v in pod_template(workload)["spec"].get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"], {})
        if "secret" in volume and not mount.get("subPath") and \
                mount["mountPath"].rstrip("/") == path.rstrip("/"):
            return volume["secret"]["secretName"]
    return None


def port_number(container, port):
    """A probe's or policy's port (number or name) as a number."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for item in container.get("ports") or []:
        if item.get("name") == port:
            return item["containerPort"]
    return None


def covers_port(rule, port, container):
    ports = rule.get("ports")
    return not ports or any(p.get("port") is None or port_number(container, p.get("port")) == port
                            for p in ports)


def open_peer(peer):
    """A peer that is not one service: the world, or whole namespaces."""
    if "ipBlock" in peer:
        return peer["ipBlock"].get("cidr") in ("0.0.0.0/0", "::/0")
    return "namespaceSelector" in peer and "podSelector" not in peer


def rule_is_open(rule):
    return not rule.get("from") or any(open_peer(peer) for peer in rule["from"])


def rule_admits(rule, labels, port, container):
    """Whether one ingress rule admits a pod with these labels on port."""
    if not covers_port(rule, port, container):
        return False
    if rule_is_open(rule):
        return True
    return any("podSelector" in peer and "namespaceSelector" not in peer and
               selector_matches(peer["podSelector"], labels) for peer in rule["from"])


def admitted(cluster, target, container, port, client_labels):
    """Whether some policy selecting the target workload's pods admits client_labels on port."""
    for policy in cluster.policies:
        if not selector_matches(policy["spec"].get("podSelector") or {}, pod_labels(target)):
            continue
        for rule in policy["spec"].get("ingress") or []:
            if rule_admits(rule, client_labels, port, container):
                return True
    return False


def check_container_basics(workload, container, init, errors):
    """Probes, resources and security of any container."""
    where = f"{workload['kind']}/{workload['metadata']['name']} container {container['name']}"
    pod = pod_template(workload)["spec"]
    pod_security = pod.get("securityContext") or {}
    security = container.get("securityContext") or {}
    if not init:
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                errors.append(f"{where}: no {probe}")
    resources = container.get("resources") or {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if not (resources.get(kind) or {}).get(resource):
                errors.append(f"{where}: no resources.{kind}.{resource}")
    non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    if non_root is not True:
        errors.append(f"{where}: runAsNonRoot is not true")
    if user == 0:
        errors.append(f"{where}: runAsUser is 0")
    if security.get("readOnlyRootFilesystem") is not True:
        errors.append(f"{where}: readOnlyRootFilesystem is not true")
    if security.get("allowPrivilegeEscalation") is not False:
        errors.append(f"{where}: allowPrivilegeEscalation is not false")
    if security.get("privileged"):
        errors.append(f"{where}: privileged")
    if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
        errors.append(f"{where}: capabilities.drop does not hold ALL")
    seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        errors.append(f"{where}: no seccompProfile RuntimeDefault")
    return where


def check_secret_values(workload, container, env, where, errors):
    """Secret-looking variables come from Secrets (or name a file in a Secret volume)."""
    for name, (source, value) in env.vars.items():
        if source not in ("literal", "configmap"):
            continue
        origin = "literal" if source == "literal" else "ConfigMap value"
        if holds_credentials(value):
            errors.append(f"{where}: {name} holds credentials as a {origin} (use a secretKeyRef)")
        elif SECRET_NAME.search(name) and value:
            if not (value.startswith("/") and secret_file(workload, container, value)):
                errors.append(f"{where}: {name} is a {origin}, not from a Secret "
                              "(secretKeyRef, or a file in a Secret volume)")


def check_k8s(docs, secrets_docs=None):
    errors = []
    cluster = Cluster(docs)
    version = svc_version()
    standard = standard_options()
    secrets = None
    if secrets_docs is not None:
        secrets = {}
        for doc in secrets_docs:
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                data = {k: base64.b64decode(v).decode("utf-8", "replace")
                        for k, v in (doc.get("data") or {}).items()}
                data.update(doc.get("stringData") or {})
                secrets[doc["metadata"]["name"]] = data

    for obj in cluster.objects:
        if obj["kind"] == "Secret":
            errors.append(f"Secret/{obj['metadata']['name']}: a Secret in the rendered manifests "
                          "(key material must not be in git: deploy/secrets.sh makes them)")
    for name, data in cluster.configmaps.items():
        for key, value in data.items():
            if holds_credentials(value):
                errors.append(f"ConfigMap/{name}: {key} holds credentials")

    if not any(p["spec"].get("podSelector") in ({}, None) and "Ingress" in
               (p["spec"].get("policyTypes") or []) and not p["spec"].get("ingress")
               for p in cluster.policies):
        errors.append("no default-deny ingress NetworkPolicy (podSelector {}, no rules)")

    #  evbus services: the workload, its container, its environment.
    services = []
    for workload in cluster.workloads:
        for container, init in containers_of(workload):
            where = check_container_basics(workload, container, init, errors)
            env = Env(container, cluster, where, errors)
            check_secret_values(workload, container, env, where, errors)
            if secrets is not None:
                for name, (source, value) in env.vars.items():
                    if source == "secret" and isinstance(value, tuple):
                        secret_name, key, optional = value
                        if not optional and key not in secrets.get(secret_name, {}):
                            errors.append(f"{where}: {name}: Secret {secret_name} key {key} is not "
                                          "made by deploy/secrets.sh")
            binary = binary_of(container)
            if binary in SERVICE_BINARIES and not init:
                services.append((workload, container, env, where, binary))
        if secrets is not None:
            for volume in pod_template(workload)["spec"].get("volumes") or []:
                if "secret" in volume and volume["secret"]["secretName"] not in secrets:
                    errors.append(f"{workload['kind']}/{workload['metadata']['name']}: volume "
                                  f"{volume['name']}: Secret {volume['secret']['secretName']} is "
                                  "not made by deploy/secrets.sh")
        #  Every container port is admitted by some policy; only HTTP may be open to all.
        for container, _ in containers_of(workload):
            for item in container.get("ports") or []:
                port, found, open_rule = item["containerPort"], False, False
                for policy in cluster.policies:
                    if not selector_matches(policy["spec"].get("podSelector") or {},
                                            pod_labels(workload)):
                        continue
                    for rule in policy["spec"].get("ingress") or []:
                        if covers_port(rule, port, container):
                            found = True
                            open_rule = open_rule or rule_is_open(rule)
                label = f"{workload['kind']}/{workload['metadata']['name']} port {port}"
                if not found:
                    errors.append(f"{label}: no NetworkPolicy admits anyone to it")
                if open_rule and item.get("name") != "http":
                    errors.append(f"{label} ({item.get('name')}): a NetworkPolicy opens it to "
                                  "every source (only HTTP may be)")

    by_name = {}
    for workload, container, env, where, binary in services:
        by_name[workload["metadata"]["name"]] = (workload, container, env, where, binary)
    for workload, container, env, where, binary in services:
        check_service(cluster, workload, container, env, where, binary, version, standard,
                      by_name, secrets, errors)
    return errors


def check_service(cluster, workload, container, env, where, binary, version, standard, by_name,
                  secrets, errors):
    name = workload["metadata"]["name"]
    template = pod_template(workload)
    spec = template["spec"]
    labels = pod_labels(workload)

    for var in env.vars:
        if var != "*secretRef*" and not known_option(binary, var, standard):
            errors.append(f"{where}: {var} is not an option of {binary} (bus_service.h)")
    image = container.get("image", "")
    tag = image.split("@")[0].rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
    if tag != version:
        errors.append(f"{where}: image {image} is not tagged {version} (svc.h SVC_VERSION)")

    #  Replicas: the index from the pod, the count equal to the StatefulSet's.
    if workload["kind"] != "StatefulSet":
        errors.append(f"{where}: a {workload['kind']}, not a StatefulSet (REPLICA_INDEX needs the "
                      "pod index)")
    replicas = workload["spec"].get("replicas", 1)
    index = env.vars.get("REPLICA_INDEX")
    if index != ("field", POD_INDEX_PATH):
        errors.append(f"{where}: REPLICA_INDEX does not come from the pod index ({POD_INDEX_PATH})")
    if env.text("REPLICA_COUNT") != str(replicas):
        errors.append(f"{where}: REPLICA_COUNT {env.text('REPLICA_COUNT')!r} differs from "
                      f"replicas {replicas}")
    if env.text("STREAM"):
        errors.append(f"{where}: STREAM is set ({env.text('STREAM')}): every replica would "
                      "publish the same stream")

    #  Ports, probes, metrics.
    http_port = endpoint_port(env.text("HTTP_ADDR", ""))
    pub_port = endpoint_port(env.text("PUB_ENDPOINT", ""))
    declared = {p["containerPort"]: p.get("name") for p in container.get("ports") or []}
    for port, what in ((http_port, "HTTP_ADDR"), (pub_port, "PUB_ENDPOINT"),
                       (pub_port + 1 if pub_port else None, "replay (PUB_ENDPOINT + 1)")):
        if port is None or port not in declared:
            errors.append(f"{where}: {what} port {port} is not a containerPort")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or port_number(container, get.get("port")) != http_port:
            errors.append(f"{where}: {probe} is not GET {path} on the HTTP port {http_port}")
    notes = template["metadata"].get("annotations") or {}
    if notes.get("prometheus.io/scrape") != "true" or \
            notes.get("prometheus.io/port") != str(http_port) or \
            notes.get("prometheus.io/path", "/metrics") != "/metrics":
        errors.append(f"{where}: no Prometheus scrape annotations for /metrics on {http_port}")

    shutdown_ms = int(env.text("SHUTDOWN_TIMEOUT_MS") or SHUTDOWN_MS_DEFAULT)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if not shutdown_ms / 1000 < grace <= shutdown_ms / 1000 + GRACE_SLACK_MAX_S:
        errors.append(f"{where}: terminationGracePeriodSeconds {grace} is not a little above "
                      f"SHUTDOWN_TIMEOUT_MS {shutdown_ms}")
    if spec.get("automountServiceAccountToken") is not False:
        errors.append(f"{where}: automountServiceAccountToken is not false")

    #  The governing headless Service.
    service = cluster.services.get(workload["spec"].get("serviceName", ""))
    if not service:
        errors.append(f"{where}: serviceName names no Service")
    else:
        sname = service["metadata"]["name"]
        if service["spec"].get("clusterIP") != "None":
            errors.append(f"Service/{sname}: not headless (clusterIP: None)")
        if service["spec"].get("publishNotReadyAddresses") is not True:
            errors.append(f"Service/{sname}: publishNotReadyAddresses is not true (services "
                          "subscribe to each other: bus_subscriber_ready)")
        if not selector_matches(service["spec"].get("selector"), labels):
            errors.append(f"Service/{sname}: selector does not match the pods of {name}")
        sports = {p["port"] for p in service["spec"].get("ports") or []}
        for port in (pub_port, pub_port + 1 if pub_port else None):
            if port not in sports:
                errors.append(f"Service/{sname}: no port {port} (PUB / replay)")

    if not any(selector_matches(p["spec"].get("selector"), labels) and
               ("maxUnavailable" in p["spec"] or "minAvailable" in p["spec"])
               for p in cluster.pdbs):
        errors.append(f"{where}: no PodDisruptionBudget selects its pods")

    #  PUBLISHERS: headless Services of evbus StatefulSets, on their PUB port;
    #  their policies admit us on PUB and replay.
    publishers = parse_publishers(env.text("PUBLISHERS", ""))
    if publishers is None:
        errors.append(f"{where}: PUBLISHERS is not a list of tcp://host:port")
        publishers = []
    for host, port in publishers:
        target = publisher_service(cluster, host)
        if not target:
            errors.append(f"{where}: PUBLISHERS host {host} is no Service")
            continue
        tname = target["metadata"]["name"]
        if target["spec"].get("clusterIP") != "None" or \
                target["spec"].get("publishNotReadyAddresses") is not True:
            errors.append(f"{where}: PUBLISHERS host {host}: Service {tname} is not headless "
                          "with not-ready addresses")
        pods = [w for w in cluster.pods_of_service(target)
                if w["metadata"]["name"] in by_name]
        if len(pods) != 1:
            errors.append(f"{where}: PUBLISHERS host {host} selects {len(pods)} evbus services")
            continue
        publisher = by_name[pods[0]["metadata"]["name"]]
        ppub = endpoint_port(publisher[2].text("PUB_ENDPOINT", ""))
        if port != ppub:
            errors.append(f"{where}: PUBLISHERS {host}:{port} is not the PUB port {ppub} of "
                          f"{pods[0]['metadata']['name']}")
            continue
        for each in (port, port + 1):
            if not admitted(cluster, publisher[0], publisher[1], each, labels):
                errors.append(f"{where}: no NetworkPolicy admits it to {host} port {each}")
        if secrets is not None:
            check_curve_pair(workload, container, env, publisher, secrets, where, errors)

    #  The database, when the render has it.
    database = database_host_port(env.text("DATABASE_URL", ""))
    if database and database[0].split(".")[0] in cluster.services:
        target = cluster.services[database[0].split(".")[0]]
        for pods in cluster.pods_of_service(target):
            for each, _ in containers_of(pods):
                if database[1] in [p["containerPort"] for p in each.get("ports") or []] and \
                        not admitted(cluster, pods, each, database[1], labels):
                    errors.append(f"{where}: no NetworkPolicy admits it to its database "
                                  f"{database[0]}:{database[1]}")

    #  CURVE: files in Secret volumes.
    if env.text("CURVE_SERVER_SECRET"):
        for var in ("CURVE_SERVER_SECRET", "CURVE_CLIENT_SECRET", "CURVE_SERVER_PUBLIC"):
            path = env.text(var, "")
            if var != "CURVE_SERVER_SECRET" and not publishers:
                continue
            found = secret_file(workload, container, path)
            if not found:
                errors.append(f"{where}: {var} {path} is no file of a Secret volume")
            elif secrets is not None and found[1] not in secrets.get(found[0], {}):
                errors.append(f"{where}: {var}: Secret {found[0]} has no key {found[1]}")
        if not secret_dir(workload, container, env.text("CURVE_ALLOW_DIR", "")):
            errors.append(f"{where}: CURVE_ALLOW_DIR is not a Secret volume (the allow-list)")
        elif secrets is not None:
            check_allow_list(cluster, workload, container, env, by_name, secrets, where, errors)


def publisher_service(cluster, host):
    """The Service a PUBLISHERS host names: "svc", "pod.svc" or "svc.namespace...". """
    parts = host.split(".")
    return cluster.services.get(parts[0]) or \
        (cluster.services.get(parts[1]) if len(parts) > 1 else None)


def publisher_workloads(cluster, host):
    service = publisher_service(cluster, host)
    return cluster.pods_of_service(service) if service else []


def curve_text(workload, container, env, var, secrets):
    found = secret_file(workload, container, env.text(var, ""))
    return secrets.get(found[0], {}).get(found[1], "") if found else ""


def check_curve_pair(workload, container, env, publisher, secrets, where, errors):
    """The subscriber's CURVE_SERVER_PUBLIC is the publisher's server key."""
    ours = public_key_of(curve_text(workload, container, env, "CURVE_SERVER_PUBLIC", secrets))
    theirs = public_key_of(curve_text(publisher[0], publisher[1], publisher[2],
                                      "CURVE_SERVER_SECRET", secrets))
    if not ours or ours != theirs:
        errors.append(f"{where}: CURVE_SERVER_PUBLIC is not the server key of "
                      f"{publisher[0]['metadata']['name']}")


def check_allow_list(cluster, workload, container, env, by_name, secrets, where, errors):
    """A publisher's allow-list holds exactly the client keys of its subscribers."""
    allowed = {public_key_of(text): key for key, text in
               secrets.get(secret_dir(workload, container, env.text("CURVE_ALLOW_DIR")), {}).items()}
    wanted = {}
    for other, (owork, ocont, oenv, _, _) in by_name.items():
        for host, _ in parse_publishers(oenv.text("PUBLISHERS", "")) or []:
            if workload in publisher_workloads(cluster, host):
                key = public_key_of(curve_text(owork, ocont, oenv, "CURVE_CLIENT_SECRET", secrets))
                wanted[key] = other
    for key, other in wanted.items():
        if key not in allowed:
            errors.append(f"{where}: its allow-list lacks the client key of its subscriber {other}")
    for key, file in allowed.items():
        if key not in wanted:
            errors.append(f"{where}: its allow-list lets in {file}, which does not subscribe to it")


#  ---------------------------------------------------------------------
#  compose


def compose_env(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def check_compose(raw_docs, config_doc):
    errors = []
    standard = standard_options()
    #  As written: secret-looking values are ${VARIABLES}, never literals.
    for raw in raw_docs:
        for name, service in (raw.get("services") or {}).items():
            for var, value in compose_env(service).items():
                text = "" if value is None else str(value)
                literal = re.sub(r"\$\{[^}]*\}", "", text)
                if holds_credentials(literal) or (SECRET_NAME.search(var) and literal.strip() and
                                                  not literal.startswith("/")):
                    errors.append(f"compose service {name}: {var} is a literal secret (use a "
                                  "${VARIABLE} from the --env-file)")
    services = config_doc.get("services") or {}
    for name, service in services.items():
        command = service.get("command") or []
        if isinstance(command, str):
            command = command.split()
        binary = os.path.basename(command[0]) if command else None
        if binary not in SERVICE_BINARIES:
            continue
        where = f"compose service {name}"
        env = {k: "" if v is None else str(v) for k, v in compose_env(service).items()}
        for var in env:
            if not known_option(binary, var, standard):
                errors.append(f"{where}: {var} is not an option of {binary} (bus_service.h)")
        if service.get("read_only") is not True:
            errors.append(f"{where}: read_only is not true")
        user = str(service.get("user", ""))
        if not user or user.split(":")[0] in ("0", "root"):
            errors.append(f"{where}: does not run as a non-root user ({user or 'unset'})")
        if "ALL" not in (service.get("cap_drop") or []):
            errors.append(f"{where}: cap_drop does not hold ALL")
        if "no-new-privileges:true" not in (service.get("security_opt") or []):
            errors.append(f"{where}: no security_opt no-new-privileges:true")
        if service.get("restart") not in ("on-failure", "unless-stopped", "always"):
            errors.append(f"{where}: no restart policy")
        shutdown = int(env.get("SHUTDOWN_TIMEOUT_MS") or SHUTDOWN_MS_DEFAULT) / 1000
        grace = duration_seconds(str(service.get("stop_grace_period", "10s")))
        if grace is None or not shutdown < grace <= shutdown + GRACE_SLACK_MAX_S:
            errors.append(f"{where}: stop_grace_period is not a little above SHUTDOWN_TIMEOUT_MS")
        if env.get("STREAM"):
            errors.append(f"{where}: STREAM is set")
        for host, port in parse_publishers(env.get("PUBLISHERS", "")) or [("?", 0)]:
            if host == "?":
                if env.get("PUBLISHERS"):
                    errors.append(f"{where}: PUBLISHERS is not a list of tcp://host:port")
                break
            other = services.get(host)
            if not other:
                errors.append(f"{where}: PUBLISHERS host {host} is no compose service")
                continue
            ppub = endpoint_port(str(compose_env(other).get("PUB_ENDPOINT", "")))
            if ppub != port:
                errors.append(f"{where}: PUBLISHERS {host}:{port} is not {host}'s PUB port {ppub}")
    return errors


def duration_seconds(text):
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not match or not text.strip():
        return None
    return int(match.group(1) or 0) * 60 + float(match.group(2) or 0)


#  ---------------------------------------------------------------------
#  systemd


def parse_unit(text):
    """{section: [(key, value)]}, continuation lines joined."""
    sections, current = {}, None
    lines = text.replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def parse_env_file(text):
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


def check_systemd(units, env_files):
    """units: {file name: text}; env_files: {file name: text} of deploy/config."""
    errors = []
    standard = standard_options()
    for file, text in env_files.items():
        for key, value in parse_env_file(text).items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
                errors.append(f"config/{file}: {key} is not a variable name")
            elif not known_option("broker-shim" if file.startswith("shim") else "", key, standard):
                errors.append(f"config/{file}: {key} is not an option (bus_service.h)")
            if holds_credentials(value) or (SECRET_NAME.search(key) and value and
                                            not value.startswith("/") and "%d" not in value):
                errors.append(f"config/{file}: {key} holds a secret (secrets go to "
                              "/etc/evbus/secrets/, deploy/secrets.sh)")
            if key in ("REPLICA_INDEX", "STREAM"):
                errors.append(f"config/{file}: sets {key} (the unit's instance sets the index)")
    for file, text in units.items():
        where = f"systemd/{file}"
        unit = parse_unit(text)
        service = dict(unit.get("Service", []))
        entries = unit.get("Service", [])
        after = " ".join(v for k, v in unit.get("Unit", []) if k == "After").split()
        if service.get("Restart") != "on-failure":
            errors.append(f"{where}: Restart is not on-failure")
        if service.get("ProtectSystem") != "strict":
            errors.append(f"{where}: ProtectSystem is not strict")
        if service.get("NoNewPrivileges") != "yes":
            errors.append(f"{where}: NoNewPrivileges is not yes")
        if service.get("DynamicUser") != "yes" and service.get("User", "root") in ("root", "0"):
            errors.append(f"{where}: neither DynamicUser=yes nor a dedicated User")
        if service.get("CapabilityBoundingSet", None) != "":
            errors.append(f"{where}: CapabilityBoundingSet is not empty")
        if "postgresql.service" not in after:
            errors.append(f"{where}: not ordered After=postgresql.service")
        binary = os.path.basename(service.get("ExecStart", "").lstrip("-@:+!").split()[0]) \
            if service.get("ExecStart") else None
        if binary not in SERVICE_BINARIES:
            errors.append(f"{where}: ExecStart {service.get('ExecStart')} is no service binary")
        files = [v for k, v in entries if k == "EnvironmentFile"]
        configs = [f for f in files if not f.startswith("-") and "/secrets/" not in f]
        if not configs:
            errors.append(f"{where}: no EnvironmentFile with its configuration")
        for path in configs:
            name = os.path.basename(path)
            if name not in env_files:
                errors.append(f"{where}: EnvironmentFile {path} is not in deploy/config")
        merged = {}
        for path in configs:
            merged.update(parse_env_file(env_files.get(os.path.basename(path), "")))
        for _, value in [e for e in entries if e[0] == "Environment"]:
            for assignment in value.split():
                key, _, val = assignment.partition("=")
                if not known_option(binary, key, standard):
                    errors.append(f"{where}: Environment {key} is not an option of {binary}")
                merged.setdefault(key, val)
        shutdown = int(merged.get("SHUTDOWN_TIMEOUT_MS") or SHUTDOWN_MS_DEFAULT) / 1000
        stop = duration_seconds(service.get("TimeoutStopSec", "90s"))
        if stop is None or not shutdown < stop <= shutdown + GRACE_SLACK_MAX_S:
            errors.append(f"{where}: TimeoutStopSec is not a little above SHUTDOWN_TIMEOUT_MS")
    return errors


#  ---------------------------------------------------------------------
#  Dockerfile

BUILD_STEPS = ["deploy/build.sh packages", "deploy/build.sh build", "deploy/build.sh install /out"]
BUILD_COMMAND = re.compile(r"\b(cmake|ctest|make|ninja|gcc|cc|clang|c\+\+|g\+\+)\b")


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with continuations joined and comments dropped."""
    result, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        result.append((word.upper(), " ".join(rest.split())))
    return result


def check_dockerfile(text):
    errors = []
    version = svc_version()
    if cmake_version() != version:
        errors.append(f"CMakeLists.txt project VERSION {cmake_version()} != SVC_VERSION {version}")
    stages, current = [], None
    args = {}
    for word, rest in dockerfile_instructions(text):
        if word == "FROM":
            current = {"from": rest, "run": [], "user": None, "labels": "", "copy": []}
            stages.append(current)
        elif current is None:
            if word == "ARG":
                key, _, value = rest.partition("=")
                args[key] = value.strip('"')
            continue
        elif word == "RUN":
            current["run"].append(rest)
        elif word == "USER":
            current["user"] = rest
        elif word == "LABEL":
            current["labels"] += " " + rest
        elif word == "COPY":
            current["copy"].append(rest)
        elif word == "ARG":
            key, _, value = rest.partition("=")
            if value:
                args[key] = value.strip('"')
    if len(stages) < 2:
        return errors + ["Dockerfile: not multi-stage"]
    build, final = stages[0], stages[-1]
    if not re.search(r"\bAS build$", build["from"], re.IGNORECASE):
        errors.append("Dockerfile: the first stage is not `AS build`")
    if build["run"] != BUILD_STEPS:
        errors.append(f"Dockerfile: the build stage runs {build['run']}, not exactly {BUILD_STEPS} "
                      "(the commands CI runs, through scripts/lib.sh build_tree)")
    for stage in stages:
        for run in stage["run"]:
            if BUILD_COMMAND.search(run.replace("deploy/build.sh build", "")):
                errors.append(f"Dockerfile: RUN {run!r} runs a build command of its own")
    if not final["from"].startswith("debian:12-slim"):
        errors.append(f"Dockerfile: the final stage is FROM {final['from']}, not debian:12-slim")
    user = (final["user"] or "").split(":")[0]
    if not user or user in ("0", "root"):
        errors.append("Dockerfile: the final stage does not switch to a non-root USER")
    if args.get("EVBUS_VERSION") != version:
        errors.append(f"Dockerfile: ARG EVBUS_VERSION={args.get('EVBUS_VERSION')} is not "
                      f"SVC_VERSION {version}")
    if "org.opencontainers.image.version=${EVBUS_VERSION}" not in final["labels"].replace('"', ""):
        errors.append("Dockerfile: no label org.opencontainers.image.version=${EVBUS_VERSION}")
    if not any("--from=build" in c and "/out/" in c for c in final["copy"]):
        errors.append("Dockerfile: the final stage copies no binaries from the build stage")
    return errors


#  ---------------------------------------------------------------------
#  Self-test: each check must notice each breakage.


def find(docs, kind, name):
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"{kind}/{name} not in the render")


def container(docs, name):
    return pod_template(find(docs, "StatefulSet", name))["spec"]["containers"][0]


def env_item(docs, name, var):
    for item in container(docs, name).get("env") or []:
        if item["name"] == var:
            return item
    raise KeyError(var)


def configmap_of(docs, name):
    ref = container(docs, name)["envFrom"][-1]["configMapRef"]["name"]
    return find(docs, "ConfigMap", ref)["data"]


def remove(docs, kind, name):
    docs.remove(find(docs, kind, name))


def k8s_breakages(docs):
    """(what, mutate(docs), the text an error must contain)."""
    def drop(key, name="order", index=0):
        def mutate(d):
            spec = pod_template(find(d, "StatefulSet", name))["spec"]
            del spec["containers"][index][key]
        return mutate

    def set_env(name, var, item):
        def mutate(d):
            target = env_item(d, name, var)
            target.clear()
            target.update(dict(item, name=var))
        return mutate

    def security(name, key, value):
        def mutate(d):
            container(d, name)["securityContext"][key] = value
        return mutate

    def pod_security_off(d):
        del pod_template(find(d, "StatefulSet", "billing"))["spec"]["securityContext"]["runAsNonRoot"]
        del container(d, "billing")["securityContext"]["runAsNonRoot"]

    def scale_only(d):
        find(d, "StatefulSet", "inventory")["spec"]["replicas"] = 3

    def open_bus_port(d):
        for rule in find(d, "NetworkPolicy", "order")["spec"]["ingress"]:
            rule.pop("from", None)

    def wrong_publisher_port(d):
        configmap_of(d, "order")["PUBLISHERS"] = "tcp://inventory:5571,tcp://billing:5580"

    def add_secret(d):
        d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak"},
                  "data": {"password": "aHVudGVyMg=="}})

    def no_default_deny(d):
        remove(d, "NetworkPolicy", "default-deny-ingress")

    cases = [
        ("readiness probe removed", drop("readinessProbe"), "no readinessProbe"),
        ("liveness probe removed", drop("livenessProbe", "inventory"), "no livenessProbe"),
        ("PostgreSQL's liveness probe removed", drop("livenessProbe", "postgres"),
         "container postgres: no livenessProbe"),
        ("resources removed", drop("resources", "billing"), "no resources.limits.memory"),
        ("literal PGPASSWORD", set_env("inventory", "PGPASSWORD", {"value": "hunter2"}),
         "PGPASSWORD is a literal"),
        ("password in DATABASE_URL of a ConfigMap",
         lambda d: configmap_of(d, "order").update(
             DATABASE_URL="postgresql://evbus_order:hunter2@postgres:5432/evbus_order"),
         "holds credentials"),
        ("literal POSTGRES_PASSWORD", set_env("postgres", "POSTGRES_PASSWORD",
                                              {"value": "hunter2"}), "POSTGRES_PASSWORD is a literal"),
        ("replicas changed without REPLICA_COUNT", scale_only, "REPLICA_COUNT '1' differs"),
        ("REPLICA_INDEX a literal", set_env("order", "REPLICA_INDEX", {"value": "0"}),
         "REPLICA_INDEX does not come from the pod index"),
        ("STREAM set", lambda d: configmap_of(d, "billing").update(STREAM="billing-0"),
         "STREAM is set"),
        ("headless Service without not-ready addresses",
         lambda d: find(d, "Service", "inventory")["spec"].pop("publishNotReadyAddresses"),
         "publishNotReadyAddresses is not true"),
        ("PodDisruptionBudget removed", lambda d: remove(d, "PodDisruptionBudget", "billing"),
         "no PodDisruptionBudget"),
        ("NetworkPolicy removed", lambda d: remove(d, "NetworkPolicy", "inventory"),
         "no NetworkPolicy admits"),
        ("bus port opened to all", open_bus_port, "opens it to every source"),
        ("no default deny", no_default_deny, "no default-deny"),
        ("read-only root off", security("order", "readOnlyRootFilesystem", False),
         "readOnlyRootFilesystem is not true"),
        ("privilege escalation on", security("inventory", "allowPrivilegeEscalation", True),
         "allowPrivilegeEscalation is not false"),
        ("capabilities kept", security("billing", "capabilities", {}),
         "capabilities.drop does not hold ALL"),
        ("runAsNonRoot removed", pod_security_off, "runAsNonRoot is not true"),
        ("Secret in the render", add_secret, "a Secret in the rendered manifests"),
        ("PUBLISHERS on the replay port", wrong_publisher_port, "is not the PUB port"),
        ("grace period too short",
         lambda d: pod_template(find(d, "StatefulSet", "order"))["spec"].update(
             terminationGracePeriodSeconds=5), "terminationGracePeriodSeconds 5"),
        ("Prometheus annotations removed",
         lambda d: pod_template(find(d, "StatefulSet", "billing"))["metadata"].pop("annotations"),
         "no Prometheus scrape annotations"),
        ("image tag not the version",
         lambda d: container(d, "order").update(image="evbus:latest"), "is not tagged"),
        ("misspelt option", lambda d: configmap_of(d, "order").update(PUBLISHER="x"),
         "PUBLISHER is not an option"),
    ]
    if any(isinstance(x, dict) and x.get("kind") == "StatefulSet" and
           x["metadata"]["name"] == "shim" for x in docs):
        cases.append(("literal RABBITMQ_URL with a password",
                      set_env("shim", "RABBITMQ_URL",
                              {"value": "amqp://evbus:hunter2@rabbitmq:5672/%2F"}),
                      "RABBITMQ_URL holds credentials"))
    return cases


def secret_breakages():
    def drop_allowed(s):
        for doc in s:
            if doc and doc["metadata"]["name"] == "evbus-allow-order":
                del doc["data"]["inventory"]

    def drop_secret(s):
        s[:] = [d for d in s if not d or d["metadata"]["name"] != "evbus-db-billing"]

    def swap_server(s):
        docs = {d["metadata"]["name"]: d for d in s if d}
        docs["evbus-curve-server"]["data"]["bus-server"] = \
            docs["evbus-allow-order"]["data"]["billing"]

    return [
        ("subscriber missing from an allow-list", drop_allowed, "lacks the client key"),
        ("a Secret not made", drop_secret, "evbus-db-billing"),
        ("server public key not the server's", swap_server, "CURVE_SERVER_PUBLIC is not"),
    ]


def self_test(docs, secrets_docs, verbose=False):
    failures = []
    baseline = check_k8s(docs, secrets_docs)
    if baseline:
        return ["the unbroken render fails: " + baseline[0]]
    count = 0
    for what, mutate, expected in k8s_breakages(docs):
        broken = copy.deepcopy(docs)
        mutate(broken)
        count += 1
        errors = check_k8s(broken, copy.deepcopy(secrets_docs) if secrets_docs else None)
        noticed = [e for e in errors if expected in e]
        if noticed and verbose:
            print(f"  noticed: {what}: {noticed[0]}")
        elif not noticed:
            failures.append(f"k8s: {what}: not noticed (wanted {expected!r}, got {errors[:3]})")
    if secrets_docs:
        for what, mutate, expected in secret_breakages():
            broken = copy.deepcopy(secrets_docs)
            mutate(broken)
            count += 1
            noticed = [e for e in check_k8s(docs, broken) if expected in e]
            if noticed and verbose:
                print(f"  noticed: {what}: {noticed[0]}")
            elif not noticed:
                failures.append(f"secrets: {what}: not noticed (wanted {expected!r})")

    #  compose, systemd, Dockerfile: break the real files' text.
    deploy = os.path.join(ROOT, "deploy")
    compose_raw = read(os.path.join(deploy, "compose.yaml"))
    raw = yaml.safe_load(compose_raw)
    literal = copy.deepcopy(raw)
    literal["services"]["order"]["environment"]["PGPASSWORD"] = "hunter2"
    count += 1
    if not any("PGPASSWORD is a literal secret" in e for e in check_compose([literal], {})):
        failures.append("compose: literal PGPASSWORD not noticed")
    units = {f: read(os.path.join(deploy, "systemd", f))
             for f in os.listdir(os.path.join(deploy, "systemd")) if f.endswith(".service")}
    envs = {f: read(os.path.join(deploy, "config", f))
            for f in os.listdir(os.path.join(deploy, "config")) if f.endswith(".env")}
    for what, file, old, new, expected in (
            ("NoNewPrivileges off", "evbus-order@.service", "NoNewPrivileges=yes",
             "NoNewPrivileges=no", "NoNewPrivileges is not yes"),
            ("Restart=always", "evbus-billing@.service", "Restart=on-failure", "Restart=always",
             "Restart is not on-failure"),
            ("not after PostgreSQL", "evbus-inventory@.service", "postgresql.service", "",
             "not ordered After=postgresql.service")):
        broken = dict(units)
        broken[file] = units[file].replace(old, new)
        count += 1
        if not any(expected in e for e in check_systemd(broken, envs)):
            failures.append(f"systemd: {what}: not noticed")
    broken_envs = dict(envs)
    broken_envs["order.env"] += "\nPGPASSWORD=hunter2\n"
    count += 1
    if not any("holds a secret" in e for e in check_systemd(units, broken_envs)):
        failures.append("systemd: a password in config/order.env not noticed")
    dockerfile = read(os.path.join(deploy, "Dockerfile"))
    for what, old, new, expected in (
            ("own cmake command", "RUN deploy/build.sh build",
             "RUN cmake -S . -B build && cmake --build build", "runs a build command"),
            ("root user", "USER 10001:10001", "USER root", "non-root USER"),
            ("version drift", "ARG EVBUS_VERSION=" + svc_version(), "ARG EVBUS_VERSION=9.9.9",
             "is not SVC_VERSION")):
        count += 1
        if old not in dockerfile:
            failures.append(f"Dockerfile self-test: {old!r} not found")
        elif not any(expected in e for e in check_dockerfile(dockerfile.replace(old, new))):
            failures.append(f"Dockerfile: {what}: not noticed")
    if not failures:
        print(f"self-test: all {count} breakages noticed")
    return failures


#  ---------------------------------------------------------------------


def load_all(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def option(argv, name):
    if name in argv:
        index = argv.index(name)
        value = argv[index + 1]
        del argv[index:index + 2]
        return value
    return None


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[1], list(argv[2:])
    secrets_path = option(rest, "--secrets")
    secrets_docs = load_all(secrets_path) if secrets_path else None
    replicas = option(rest, "--replicas")
    if command == "k8s":
        docs = load_all(rest[0])
        errors = check_k8s(docs, secrets_docs)
        for pair in (replicas or "").split(","):
            if pair:
                name, count = pair.split("=")
                actual = find(docs, "StatefulSet", name)["spec"].get("replicas", 1)
                if actual != int(count):
                    errors.append(f"StatefulSet/{name}: replicas {actual}, wanted {count}")
    elif command == "binaries":
        shipped = set(sys.stdin.read().split())
        errors = [f"{b} runs in deploy/ but deploy/build.sh does not put it in the image"
                  for b in sorted(SERVICE_BINARIES - shipped)]
    elif command == "compose":
        raws = [yaml.safe_load(read(path)) for path in rest[0].split(",")]
        errors = check_compose(raws, yaml.safe_load(read(rest[1])))
    elif command == "systemd":
        units = {f: read(os.path.join(rest[0], f)) for f in sorted(os.listdir(rest[0]))
                 if f.endswith(".service")}
        envs = {f: read(os.path.join(rest[1], f)) for f in sorted(os.listdir(rest[1]))
                if f.endswith(".env")}
        errors = check_systemd(units, envs)
    elif command == "dockerfile":
        errors = check_dockerfile(read(rest[0]))
    elif command == "self-test":
        verbose = "--verbose" in rest
        rest = [arg for arg in rest if arg != "--verbose"]
        errors = self_test(load_all(rest[0]), secrets_docs, verbose)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for error in errors:
        print(f"  {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
