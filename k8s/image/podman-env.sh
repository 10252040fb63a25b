# shellcheck shell=bash
# Sourced, not run: podman set up for this kind of machine (Debian bookworm,
# cgroups in hybrid mode, no image registry). Debian's default runtime (crun)
# refuses hybrid cgroups and its default rlimits, so podman runs with runc, the
# cgroupfs manager and no default ulimits/pids limit.
#
#   source k8s/image/podman-env.sh
#   podman_cmd images                  # or: "${PODMAN[@]}" images
#
# Writes build/image/containers.conf (WIREHUB_IMAGE_WORK_DIR overrides the
# directory) and exports CONTAINERS_CONF pointing at it. Set
# WIREHUB_PODMAN_RUNTIME to use another OCI runtime, or to "" for podman's own
# default (a machine where crun works).

_wirehub_podman_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WIREHUB_IMAGE_WORK_DIR="${WIREHUB_IMAGE_WORK_DIR:-${_wirehub_podman_env_root}/build/image}"
mkdir -p "${WIREHUB_IMAGE_WORK_DIR}"

_wirehub_containers_conf="$(printf '%s\n' \
  '[containers]' \
  'default_ulimits = []' \
  'pids_limit = 0' \
  '[engine]' \
  'cgroup_manager = "cgroupfs"')"
if [[ ! -f "${WIREHUB_IMAGE_WORK_DIR}/containers.conf" ]] ||
   [[ "$(cat "${WIREHUB_IMAGE_WORK_DIR}/containers.conf")" != "${_wirehub_containers_conf}" ]]; then
  printf '%s\n' "${_wirehub_containers_conf}" >"${WIREHUB_IMAGE_WORK_DIR}/containers.conf"
fi
export CONTAINERS_CONF="${WIREHUB_IMAGE_WORK_DIR}/containers.conf"

if [[ -z "${WIREHUB_PODMAN_RUNTIME+set}" ]]; then
  if [[ -x /usr/sbin/runc ]]; then
    WIREHUB_PODMAN_RUNTIME=/usr/sbin/runc
  else
    WIREHUB_PODMAN_RUNTIME=""
  fi
fi

# --runtime is a global podman option: it applies to run, kube play, build.
PODMAN=(podman)
if [[ -n "${WIREHUB_PODMAN_RUNTIME}" ]]; then
  PODMAN+=(--runtime "${WIREHUB_PODMAN_RUNTIME}")
fi

podman_cmd() {
  "${PODMAN[@]}" "$@"
}

unset _wirehub_podman_env_root _wirehub_containers_conf
