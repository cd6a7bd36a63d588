import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

const cache = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "imageflowcanvas");

/**
 * Where scripts/setup.sh puts kubeconform (go install), the offline schemas
 * (scripts/k8s-schemas.py) and compose-check (scripts/compose-check, built with go build).
 */
export const KUBECONFORM_BIN = process.env.IFC_KUBECONFORM_BIN ?? path.join(cache, "bin", "kubeconform");
export const COMPOSE_CHECK_BIN = process.env.IFC_COMPOSE_CHECK_BIN ?? path.join(cache, "bin", "compose-check");
export const K8S_SCHEMA_DIR = process.env.IFC_K8S_SCHEMA_DIR ?? path.join(cache, "k8s-schemas");

/** The Kubernetes version the manifests are validated against, pinned in scripts/versions.env. */
function kubernetesVersion(): string {
  const env = readFileSync(path.resolve(import.meta.dirname, "../../scripts/versions.env"), "utf8");
  const m = /^KUBERNETES_SCHEMA_VERSION=(\S+)$/m.exec(env);
  if (!m?.[1]) throw new Error("scripts/versions.env has no KUBERNETES_SCHEMA_VERSION");
  return m[1];
}

/** kubeconform flags pointing at the local copies only: nothing is downloaded. */
export function schemaLocations(): string[] {
  return [
    "-schema-location", path.join(K8S_SCHEMA_DIR, "kubernetes", `v${kubernetesVersion()}-local{{.StrictSuffix}}`, "{{.ResourceKind}}{{.KindSuffix}}.json"),
    "-schema-location", path.join(K8S_SCHEMA_DIR, "crds", "{{.Group}}", "{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"),
  ];
}
