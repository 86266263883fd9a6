#!/bin/sh
# modelctl entrypoint hook: make the model stack present, point ComfyUI at it, then run the command.
#
#   ENTRYPOINT ["/usr/local/bin/modelctl-entrypoint"]
#   CMD ["python", "main.py", "--listen", "0.0.0.0"]
#
# Configured by environment only; never prompts:
#   MODELCTL_ENSURE        SPECs to ensure, separated by spaces (empty: skip the ensure step)
#                          e.g. "z-image-turbo:quant=Q5_K_M qwen-image-edit-2509-nunchaku"
#   MODELCTL_MODELS_DIR    the shared models volume (default ./shared/models)
#   MODELCTL_COMFYUI_PATHS where to write ComfyUI's extra_model_paths.yaml, e.g.
#                          /opt/ComfyUI/extra_model_paths.yaml (empty or unset: not written)
#   MODELCTL_TIMEOUT       seconds the ensure may take in all (exit 5; partials resume next start)
#   MODELCTL_OFFLINE=1     never touch the network; a missing file stops the container (exit 1)
#   HF_TOKEN, HF_ENDPOINT  read by modelctl (the token is never printed)
#   MODELCTL_BIN           how to run modelctl (default "modelctl"; split on spaces, so
#                          "python -m modelctl" works)
#
# Every failure stops the container with modelctl's exit code (1 check, 2 bad input, 3 source,
# 4 disk full, 5 timeout) and the command is not started.

set -u

log() {
    printf '%s modelctl-hook: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*" >&2
}

MODELCTL_BIN=${MODELCTL_BIN:-modelctl}

if [ -n "${MODELCTL_ENSURE:-}" ]; then
    log "ensure: ${MODELCTL_ENSURE} (models dir ${MODELCTL_MODELS_DIR:-./shared/models})"
    # shellcheck disable=SC2086 # MODELCTL_BIN is a command line on purpose
    $MODELCTL_BIN ensure
    status=$?
    if [ "$status" -ne 0 ]; then
        log "ensure failed with exit code $status; not starting the command"
        exit "$status"
    fi
else
    log "MODELCTL_ENSURE is empty; skipping ensure"
fi

if [ -n "${MODELCTL_COMFYUI_PATHS:-}" ]; then
    # shellcheck disable=SC2086
    $MODELCTL_BIN comfyui-paths --write "$MODELCTL_COMFYUI_PATHS"
    status=$?
    if [ "$status" -ne 0 ]; then
        log "could not write $MODELCTL_COMFYUI_PATHS (exit code $status); not starting the command"
        exit "$status"
    fi
else
    log "MODELCTL_COMFYUI_PATHS is empty; not writing extra_model_paths.yaml"
fi

if [ "$#" -eq 0 ]; then
    log "no command to run; done"
    exit 0
fi
log "starting: $*"
exec "$@"
