#!/usr/bin/env python3
"""Lays out offline JSON schemas for kubeconform (deploy/k8s validation; no network at test time).

Usage: k8s-schemas.py <kubernetes-validate wheel> <kubernetes version, e.g. 1.33.0> \
                      <prometheus-operator module dir> <output dir>

- Kubernetes: the wheel of PyPI's kubernetes-validate bundles per-kind JSON schemas for each
  Kubernetes minor (kubernetes_validate/kubernetes-json-schema/v<version>-local[-strict]/). Each
  file carries "$id": "https://kubernetes.io/api/..." and refers to "/api/_definitions.json", which
  a validator would try to fetch from kubernetes.io; the ids are dropped and the references made
  relative so they resolve to the _definitions.json next to the file.
  Output: <out>/kubernetes/v<version>-local{,-strict}/<kind>-<group>-<version>.json, the layout
  kubeconform's {{.ResourceKind}}{{.KindSuffix}} template names.
- ServiceMonitor: the CRD (JSON form) shipped in the prometheus-operator Go module; its v1
  openAPIV3Schema becomes <out>/crds/monitoring.coreos.com/servicemonitor_v1.json. Like
  kubeconform's own openapi2jsonschema.py in strict mode, every object with declared properties
  gets additionalProperties: false (what the API server's pruning would silently drop is an error).
Standard library only: it runs before npm ci.
"""
import json
import os
import sys
import zipfile

BUNDLED = "kubernetes_validate/kubernetes-json-schema/"


def relative_refs(node):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("/api/_definitions.json"):
            node["$ref"] = ref[len("/api/"):]
        for value in node.values():
            relative_refs(value)
    elif isinstance(node, list):
        for value in node:
            relative_refs(value)


def kubernetes(wheel, version, out):
    count = 0
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            for flavour in ("local", "local-strict"):
                prefix = f"{BUNDLED}v{version}-{flavour}/"
                if not name.startswith(prefix) or not name.endswith(".json"):
                    continue
                schema = json.loads(z.read(name))
                schema.pop("$id", None)
                relative_refs(schema)
                target = os.path.join(out, "kubernetes", f"v{version}-{flavour}", name[len(prefix):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w") as f:
                    json.dump(schema, f)
                count += 1
    if count == 0:
        sys.exit(f"k8s-schemas: the wheel has no schemas for Kubernetes v{version}")
    return count


def deny_additional(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for value in node.values():
            deny_additional(value)
    elif isinstance(node, list):
        for value in node:
            deny_additional(value)


def service_monitor(module_dir, out):
    with open(os.path.join(module_dir, "jsonnet/prometheus-operator/servicemonitors-crd.json")) as f:
        crd = json.load(f)
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"].lower()
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        deny_additional(schema)
        target = os.path.join(out, "crds", group, f"{kind}_{version['name']}.json")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            json.dump(schema, f)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    wheel, version, module_dir, out = sys.argv[1:]
    count = kubernetes(wheel, version, out)
    service_monitor(module_dir, out)
    print(f"k8s-schemas: {count} Kubernetes v{version} schemas and the ServiceMonitor CRD in {out}", file=sys.stderr)


main()
