#!/usr/bin/python3
"""Validates the Kubernetes and KServe manifests under deploy/kubernetes/ offline.

Without a cluster or kubectl, it checks what a typo or a half-done edit breaks:
  - every file parses as YAML and every document has a real apiVersion/kind pair
    (KNOWN_KINDS below) and the fields that kind requires;
  - containers and pod specs use only real field names (a misspelt field is silently
    dropped by older API servers);
  - probes point at ports the container declares (gRPC probes by number, as Kubernetes
    requires), and the --grpc-port/--http-port/--metrics-port flags match the ports
    named grpc/http/metrics;
  - every Service selects a Deployment's pods and targets ports their container declares;
  - the HorizontalPodAutoscaler targets a Deployment by name, that Deployment leaves
    spec.replicas to it and requests the CPU it scales on;
  - Prometheus annotations name the metrics port; the termination grace period covers
    --exit-timeout-secs;
  - the KServe InferenceService names a format and runtime the ServingRuntime provides;
  - every seqserve image is the same and tagged with the project's version (CMakeLists.txt).
Run: /usr/bin/python3 tests/deploy/validate_manifests.py [MANIFEST_DIR]  (needs python3-yaml)
The unit tests at the bottom mutate the real manifests to show each check catches its error.
"""
import glob
import os
import re
import sys
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANIFEST_DIR = os.path.join(ROOT, "deploy", "kubernetes")

# Real apiVersion/kind pairs (Kubernetes 1.23+, KServe 0.11+, kustomize), and the fields
# each requires beyond apiVersion, kind and metadata.name, as dotted paths.
KNOWN_KINDS = {
    ("v1", "Service"): ["spec.ports"],
    ("v1", "ConfigMap"): [],
    ("v1", "Secret"): [],
    ("v1", "ServiceAccount"): [],
    ("v1", "PersistentVolumeClaim"): ["spec.accessModes", "spec.resources.requests.storage"],
    ("v1", "Namespace"): [],
    ("apps/v1", "Deployment"): ["spec.selector.matchLabels", "spec.template.metadata.labels",
                                "spec.template.spec.containers"],
    ("apps/v1", "StatefulSet"): ["spec.selector", "spec.template", "spec.serviceName"],
    ("apps/v1", "DaemonSet"): ["spec.selector", "spec.template"],
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ["spec.scaleTargetRef.apiVersion",
                                                    "spec.scaleTargetRef.kind",
                                                    "spec.scaleTargetRef.name",
                                                    "spec.maxReplicas", "spec.metrics"],
    ("autoscaling/v1", "HorizontalPodAutoscaler"): ["spec.scaleTargetRef", "spec.maxReplicas"],
    ("policy/v1", "PodDisruptionBudget"): ["spec.selector"],
    ("networking.k8s.io/v1", "Ingress"): ["spec"],
    ("networking.k8s.io/v1", "NetworkPolicy"): ["spec.podSelector"],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["spec.selector", "spec.endpoints"],
    ("monitoring.coreos.com/v1", "PodMonitor"): ["spec.selector", "spec.podMetricsEndpoints"],
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): ["spec.supportedModelFormats",
                                                        "spec.containers"],
    ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"): ["spec.supportedModelFormats",
                                                               "spec.containers"],
    ("serving.kserve.io/v1beta1", "InferenceService"): ["spec.predictor"],
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): [],
}
# Kinds whose metadata.name is optional.
NAMELESS_KINDS = {"Kustomization"}

# Field names of core/v1 Container, PodSpec and Probe.
CONTAINER_FIELDS = {
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce",
    "tty",
}
POD_SPEC_FIELDS = {
    "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
    "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
    "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext",
    "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
    "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates",
    "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
    "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates",
    "resourceClaims",
}
PROBE_FIELDS = {
    "exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds",
    "periodSeconds", "successThreshold", "failureThreshold", "terminationGracePeriodSeconds",
}
# KServe's predictor model spec: a Container plus these.
KSERVE_MODEL_FIELDS = CONTAINER_FIELDS | {"modelFormat", "runtime", "protocolVersion",
                                          "storageUri", "storage"}
# The seqserve flag that sets the port of each conventionally named container port.
PORT_FLAGS = {"grpc": "--grpc-port", "http": "--http-port", "metrics": "--metrics-port"}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


class Manifest:
    """One YAML document and the file it came from."""

    def __init__(self, path, index, doc):
        self.path, self.index, self.doc = path, index, doc

    @property
    def where(self):
        name = (self.doc.get("metadata") or {}).get("name", "?") if isinstance(self.doc, dict) else "?"
        return f"{os.path.relpath(self.path, ROOT)}[{self.index}] {self.kind} {name}"

    @property
    def kind(self):
        return self.doc.get("kind") if isinstance(self.doc, dict) else None

    @property
    def name(self):
        return (self.doc.get("metadata") or {}).get("name")


def load_manifests(directory):
    """Every YAML document under `directory` (recursively), in file order."""
    manifests = []
    paths = sorted(glob.glob(os.path.join(directory, "**", "*.yaml"), recursive=True) +
                   glob.glob(os.path.join(directory, "**", "*.yml"), recursive=True))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for index, doc in enumerate(yaml.safe_load_all(f)):
                if doc is not None:
                    manifests.append(Manifest(path, index, doc))
    return manifests


def get(doc, dotted):
    """The value at a dotted path, or None."""
    for key in dotted.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        match = re.search(r"project\(\s*seqserve\s+VERSION\s+([0-9.]+)", f.read())
    return match.group(1) if match else None


def flag_value(args, flag):
    """The value of `--flag=value` or `--flag value` in a container's args, or None."""
    args = [str(a) for a in args or []]
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def port_names(container):
    return {p.get("name"): p.get("containerPort") for p in container.get("ports") or []
            if p.get("name")}


def declared_ports(container):
    return {p.get("containerPort") for p in container.get("ports") or []}


def check_container(where, container, errors, fields=CONTAINER_FIELDS):
    for key in container:
        if key not in fields:
            errors.append(f"{where}: container '{container.get('name')}': unknown field '{key}'")
    for key in ("name", "image"):
        if not container.get(key):
            errors.append(f"{where}: a container has no {key}")
    ports = declared_ports(container)
    names = port_names(container)
    for port in container.get("ports") or []:
        if not isinstance(port.get("containerPort"), int):
            errors.append(f"{where}: port {port} has no numeric containerPort")
    for probe_name in PROBES:
        probe = container.get(probe_name)
        if probe is None:
            continue
        for key in probe:
            if key not in PROBE_FIELDS:
                errors.append(f"{where}: {probe_name}: unknown field '{key}'")
        handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in probe]
        if len(handlers) != 1:
            errors.append(f"{where}: {probe_name} needs exactly one handler, has {handlers}")
            continue
        handler = probe[handlers[0]]
        if handlers[0] == "exec":
            continue
        port = handler.get("port")
        if handlers[0] == "grpc" and not isinstance(port, int):
            errors.append(f"{where}: {probe_name}: a grpc probe needs a numeric port, got {port!r}")
        elif isinstance(port, str) and port not in names:
            errors.append(f"{where}: {probe_name}: port name '{port}' is not declared")
        elif isinstance(port, int) and port not in ports:
            errors.append(f"{where}: {probe_name}: port {port} is not a declared containerPort "
                          f"{sorted(ports)}")
    args = container.get("args") or []
    for port_name, flag in PORT_FLAGS.items():
        value = flag_value(args, flag)
        if port_name in names and value is not None and str(value) != str(names[port_name]):
            errors.append(f"{where}: {flag}={value} but the port named '{port_name}' is "
                          f"{names[port_name]}")
        if value is not None and not value.isdigit():
            errors.append(f"{where}: {flag}={value} is not a port number")


def validate(manifests):
    """Returns a list of error messages; empty when every manifest is valid."""
    errors = []
    if not manifests:
        return ["no manifests found"]
    for m in manifests:
        if not isinstance(m.doc, dict):
            errors.append(f"{m.where}: not a mapping")
            continue
        pair = (m.doc.get("apiVersion"), m.doc.get("kind"))
        if pair not in KNOWN_KINDS:
            errors.append(f"{m.where}: apiVersion/kind {pair[0]}/{pair[1]} is not a real pair "
                          "(see KNOWN_KINDS)")
            continue
        if m.kind not in NAMELESS_KINDS and not m.name:
            errors.append(f"{m.where}: no metadata.name")
        for path in KNOWN_KINDS[pair]:
            if get(m.doc, path) in (None, "", [], {}):
                errors.append(f"{m.where}: missing {path}")
    if errors:
        return errors

    by_kind = {}
    for m in manifests:
        by_kind.setdefault(m.kind, []).append(m)
    deployments = {m.name: m for m in by_kind.get("Deployment", [])}
    version = project_version()
    images = set()

    # Kustomization: lists files that exist.
    for m in by_kind.get("Kustomization", []):
        for resource in m.doc.get("resources") or []:
            if not os.path.exists(os.path.join(os.path.dirname(m.path), resource)):
                errors.append(f"{m.where}: resource {resource} does not exist")

    for m in deployments.values():
        spec = m.doc["spec"]
        template = spec["template"]
        labels = template["metadata"]["labels"]
        for key, value in spec["selector"]["matchLabels"].items():
            if labels.get(key) != value:
                errors.append(f"{m.where}: selector {key}={value} does not match the pod labels")
        pod = template["spec"]
        for key in pod:
            if key not in POD_SPEC_FIELDS:
                errors.append(f"{m.where}: pod spec: unknown field '{key}'")
        volumes = {v.get("name") for v in pod.get("volumes") or []}
        for container in pod["containers"]:
            check_container(m.where, container, errors)
            images.add(container.get("image"))
            for mount in container.get("volumeMounts") or []:
                if mount.get("name") not in volumes:
                    errors.append(f"{m.where}: volumeMount '{mount.get('name')}' has no volume")
            for probe_name in ("readinessProbe", "livenessProbe"):
                if "grpc" not in (container.get(probe_name) or {}):
                    errors.append(f"{m.where}: {probe_name} should be a grpc probe "
                                  "(grpc.health.v1)")
            exit_timeout = flag_value(container.get("args"), "--exit-timeout-secs")
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if exit_timeout is not None and int(exit_timeout) >= grace:
                errors.append(f"{m.where}: terminationGracePeriodSeconds {grace} does not cover "
                              f"--exit-timeout-secs={exit_timeout}")
            requests = get(container, "resources.requests") or {}
            limits = get(container, "resources.limits") or {}
            if "cpu" not in limits:
                errors.append(f"{m.where}: no CPU limit (seqserve sizes its pools from it)")
            elif requests.get("cpu") != limits.get("cpu"):
                errors.append(f"{m.where}: CPU requests {requests.get('cpu')} != limits "
                              f"{limits.get('cpu')}")
        annotations = template["metadata"].get("annotations") or {}
        if annotations.get("prometheus.io/scrape") == "true":
            port = str(annotations.get("prometheus.io/port"))
            if not any(str(p) == port for c in pod["containers"] for p in declared_ports(c)):
                errors.append(f"{m.where}: prometheus.io/port {port} is not a declared port")

    for m in by_kind.get("Service", []):
        selector = m.doc["spec"].get("selector") or {}
        targets = [d for d in deployments.values()
                   if selector and all(d.doc["spec"]["template"]["metadata"]["labels"].get(k) == v
                                       for k, v in selector.items())]
        if not targets:
            errors.append(f"{m.where}: selector {selector} matches no Deployment's pods")
            continue
        containers = [c for d in targets for c in d.doc["spec"]["template"]["spec"]["containers"]]
        for port in m.doc["spec"]["ports"]:
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str):
                ok = any(target in port_names(c) for c in containers)
            else:
                ok = any(target in declared_ports(c) for c in containers)
            if not ok:
                errors.append(f"{m.where}: targetPort {target!r} is not a container port")

    for m in by_kind.get("PodDisruptionBudget", []):
        selector = get(m.doc, "spec.selector.matchLabels") or {}
        if not any(all(d.doc["spec"]["template"]["metadata"]["labels"].get(k) == v
                       for k, v in selector.items()) for d in deployments.values()):
            errors.append(f"{m.where}: selector {selector} matches no Deployment's pods")

    for m in by_kind.get("HorizontalPodAutoscaler", []):
        ref = m.doc["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Deployment" or ref.get("apiVersion") != "apps/v1":
            errors.append(f"{m.where}: scaleTargetRef should be apps/v1 Deployment")
        target = deployments.get(ref.get("name"))
        if target is None:
            errors.append(f"{m.where}: targets Deployment '{ref.get('name')}', which is not "
                          f"defined (have {sorted(deployments)})")
            continue
        if "replicas" in target.doc["spec"]:
            errors.append(f"{target.where}: spec.replicas is set, but {m.where} owns the count")
        low, high = m.doc["spec"].get("minReplicas", 1), m.doc["spec"]["maxReplicas"]
        if not 1 <= low <= high:
            errors.append(f"{m.where}: minReplicas {low} / maxReplicas {high}")
        for metric in m.doc["spec"]["metrics"]:
            resource = get(metric, "resource.name")
            if metric.get("type") == "Resource" and get(metric, "resource.target.type") == "Utilization":
                for c in target.doc["spec"]["template"]["spec"]["containers"]:
                    if resource not in (get(c, "resources.requests") or {}):
                        errors.append(f"{m.where}: scales on {resource} utilisation, but "
                                      f"container '{c.get('name')}' requests no {resource}")

    runtimes = {m.name: m for m in by_kind.get("ServingRuntime", []) +
                by_kind.get("ClusterServingRuntime", [])}
    for m in runtimes.values():
        for container in m.doc["spec"]["containers"]:
            check_container(m.where, container, errors)
            images.add(container.get("image"))
        if "v2" not in (m.doc["spec"].get("protocolVersions") or []):
            errors.append(f"{m.where}: protocolVersions lacks v2")
        if not any(c.get("name") == "kserve-container" for c in m.doc["spec"]["containers"]):
            errors.append(f"{m.where}: KServe expects a container named kserve-container")
    for m in by_kind.get("InferenceService", []):
        model = get(m.doc, "spec.predictor.model")
        if not isinstance(model, dict):
            errors.append(f"{m.where}: missing spec.predictor.model")
            continue
        for key in model:
            if key not in KSERVE_MODEL_FIELDS:
                errors.append(f"{m.where}: predictor.model: unknown field '{key}'")
        if model.get("protocolVersion") != "v2":
            errors.append(f"{m.where}: protocolVersion should be v2")
        fmt = get(model, "modelFormat.name")
        runtime = runtimes.get(model.get("runtime")) if model.get("runtime") else None
        if model.get("runtime") and runtime is None:
            errors.append(f"{m.where}: runtime '{model.get('runtime')}' is not defined")
        candidates = [runtime] if runtime else list(runtimes.values())
        if not any(fmt in [f.get("name") for f in r.doc["spec"]["supportedModelFormats"]]
                   for r in candidates):
            errors.append(f"{m.where}: no ServingRuntime supports model format '{fmt}'")
        for port in model.get("ports") or []:
            # Knative routes gRPC only to a port named h2c; it must be the runtime's gRPC port.
            if port.get("name") == "h2c" and runtime is not None:
                args = runtime.doc["spec"]["containers"][0].get("args")
                if str(port.get("containerPort")) != str(flag_value(args, "--grpc-port")):
                    errors.append(f"{m.where}: h2c port {port.get('containerPort')} is not the "
                                  f"runtime's --grpc-port")

    if len(images) > 1:
        errors.append(f"seqserve images differ between manifests: {sorted(images)}")
    for image in images:
        if version and not str(image).endswith(":" + version):
            errors.append(f"image {image} is not tagged with the project version {version}")
    return errors


class RealManifests(unittest.TestCase):
    """The committed manifests pass, and each check bites on a broken copy of them."""

    def setUp(self):
        self.manifests = load_manifests(MANIFEST_DIR)

    def find(self, kind):
        return next(m for m in self.manifests if m.kind == kind)

    def container(self, kind="Deployment"):
        m = self.find(kind)
        if kind == "Deployment":
            return m.doc["spec"]["template"]["spec"]["containers"][0]
        return m.doc["spec"]["containers"][0]

    def assert_error(self, fragment):
        errors = validate(self.manifests)
        self.assertTrue(any(fragment in e for e in errors),
                        f"no error containing {fragment!r}; got {errors}")

    def test_committed_manifests_are_valid(self):
        kinds = {m.kind for m in self.manifests}
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "ServingRuntime",
                     "InferenceService"):
            self.assertIn(kind, kinds)
        self.assertEqual(validate(self.manifests), [])

    def test_unknown_api_version_is_caught(self):
        self.find("HorizontalPodAutoscaler").doc["apiVersion"] = "autoscaling/v2beta3"
        self.assert_error("not a real pair")

    def test_missing_required_field_is_caught(self):
        del self.find("Deployment").doc["spec"]["selector"]
        self.assert_error("missing spec.selector.matchLabels")

    def test_misspelt_container_field_is_caught(self):
        c = self.container()
        c["readinessprobe"] = c.pop("readinessProbe")
        self.assert_error("unknown field 'readinessprobe'")

    def test_probe_on_undeclared_port_is_caught(self):
        self.container()["readinessProbe"]["grpc"]["port"] = 9001
        self.assert_error("readinessProbe: port 9001 is not a declared containerPort")

    def test_named_grpc_probe_port_is_caught(self):
        self.container()["livenessProbe"]["grpc"]["port"] = "grpc"
        self.assert_error("a grpc probe needs a numeric port")

    def test_flag_disagreeing_with_port_is_caught(self):
        c = self.container()
        c["args"] = [a if not a.startswith("--grpc-port=") else "--grpc-port=9001" for a in c["args"]]
        self.assert_error("--grpc-port=9001 but the port named 'grpc' is 8001")

    def test_service_target_port_is_checked(self):
        service = self.find("Service")
        service.doc["spec"]["ports"][0]["targetPort"] = "grcp"
        self.assert_error("targetPort 'grcp' is not a container port")

    def test_hpa_target_name_is_checked(self):
        self.find("HorizontalPodAutoscaler").doc["spec"]["scaleTargetRef"]["name"] = "seqsrv"
        self.assert_error("targets Deployment 'seqsrv'")

    def test_replicas_beside_hpa_is_caught(self):
        self.find("Deployment").doc["spec"]["replicas"] = 3
        self.assert_error("spec.replicas is set")

    def test_inconsistent_images_are_caught(self):
        self.container("ServingRuntime")["image"] = "seqserve:0.0.9"
        self.assert_error("images differ")

    def test_grace_period_shorter_than_drain_is_caught(self):
        self.find("Deployment").doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 20
        self.assert_error("does not cover --exit-timeout-secs")

    def test_unknown_model_format_is_caught(self):
        self.find("InferenceService").doc["spec"]["predictor"]["model"]["modelFormat"]["name"] = "onnx"
        self.assert_error("no ServingRuntime supports model format 'onnx'")

    def test_prometheus_port_is_checked(self):
        annotations = self.find("Deployment").doc["spec"]["template"]["metadata"]["annotations"]
        annotations["prometheus.io/port"] = "9090"
        self.assert_error("prometheus.io/port 9090")


def main():
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        errors = validate(load_manifests(sys.argv[1]))
        for error in errors:
            print(f"error: {error}")
        print("manifests valid" if not errors else f"{len(errors)} errors")
        return 1 if errors else 0
    result = unittest.main(exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
