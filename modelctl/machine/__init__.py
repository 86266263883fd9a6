"""The machine a stack will run on: probes of the GPU (NVML or a recorded answer), the models dir's
filesystem, the target Python's packages, a ComfyUI install, and which GPU (compute capability) a
command is about.

Probes only: they report facts and judge nothing (`doctor` turns them into verdicts, `compat`
rules read `facts.machine_env`). This package sits below `manifest`, so it imports nothing from
manifest, plan, store, sources or transfer; the GPU rules it consults are `compat.gpu_rules`.
"""
