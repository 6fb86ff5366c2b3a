# Shared settings for hack/ scripts. Source it; it sets variables only.
# Every pinned version lives here so that cache keys follow the pins.

PASTURE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PASTURE_CACHE="${PASTURE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasture}"

UV_VERSION="0.13.9"
KUBE_VERSION="v1.34.4"     # kube-apiserver, controller-manager, scheduler, kubectl
ETCD_VERSION="v3.6.8"
KWOK_VERSION="v0.7.0"
HELM_VERSION="v3.22.0"
OLLAMA_VERSION="v0.17.4"   # github.com/ollama/ollama: the stock CLI tests drive (hack/ollama-cli), its template corpus (hack/ollama-module)
MINIAUDIO_VERSION="1.71"   # PyPI sdist carrying miniaudio.h for the CLI build
LWS_VERSION="v0.7.0"       # LeaderWorkerSet controller for multi-node tests (hack/build-lws)
OLLAMA_JS_VERSION="0.6.4"  # npm `ollama`, the official JavaScript client tests drive (hack/ollama-js)
OPEN_WEBUI_VERSION="0.12.4"       # PyPI open-webui for the browser test (hack/open-webui, make test-browser)
PLAYWRIGHT_CORE_VERSION="1.64.1"  # npm playwright-core driving Debian's chromium there

# Go builds keep their module and build caches outside the checkout.
export GOMODCACHE="$PASTURE_CACHE/go/mod"
export GOCACHE="$PASTURE_CACHE/go/build"
export GOFLAGS="-modcacherw"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export UV_CACHE_DIR="$PASTURE_CACHE/uv"

KUBE_BIN="$PASTURE_CACHE/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
OLLAMA_BIN="$PASTURE_CACHE/bin/ollama-$OLLAMA_VERSION"
LWS_BIN="$PASTURE_CACHE/bin/lws-$LWS_VERSION"
UV_BIN="$PASTURE_CACHE/tools/uv-$UV_VERSION/bin/uv"
OLLAMA_JS_DIR="$PASTURE_CACHE/node/ollama-js-$OLLAMA_JS_VERSION"
OPEN_WEBUI_DIR="$PASTURE_CACHE/open-webui-$OPEN_WEBUI_VERSION-playwright-$PLAYWRIGHT_CORE_VERSION"

log() { printf '\033[1m[pasture]\033[0m %s\n' "$*" >&2; }
