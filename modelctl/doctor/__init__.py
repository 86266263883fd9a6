"""`modelctl doctor`, the use case: probe the machine, judge it for the selected stacks.

- `run(DoctorOptions) -> DoctorResult` (`run.py`): every probe, then every check, plus the facts
  for `--json`.
- The checks, pure functions of probe data, one module per section of the report: `python`
  (interpreter, torch), `gpu` (driver, GPUs, SVDQuant precision, Blackwell builds), `nunchaku`
  (the installed engine), `comfyui` (a ComfyUI install and its plugin), `models_dir`, `hub` (the
  Hub probe and its checks), `requires` (a manifest's `requires:`); their row type is
  `model.Check`.

GPU facts in hints (sm numbers, cards, thresholds) come from `compat/data/gpu_rules.yaml`.
"""
