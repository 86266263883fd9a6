"""The `check` use case: read a stack's headers (locally or remotely) and run the compat rules.

- `stack.check_selection(selection, layout, gpu_sm=None)`: a manifest selection (installed files
  read locally, the others by header over HTTP Range requests: never a download).
- `stack.check_files(targets, gpu_sm=None)`: loose files / hf:// / https:// as one stack.
- `targets.identify_target(target)`: what one path or URL is (`modelctl inspect`).
- `hooks.preflight` / `hooks.post_verify`: what `pull` calls before downloading and before placing.
"""
