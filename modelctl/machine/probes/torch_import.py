"""Import torch and report its build as JSON: run by `modelctl doctor` in its own process.

A broken torch or CUDA install can segfault or hang on import; in a child process that costs
doctor one `fail` line instead of the whole report. The JSON is the last stdout line, after a
marker, because torch and its plugins may print to stdout while importing.
"""

import json
import sys

MARKER = "MODELCTL-TORCH-PROBE:"


def main() -> None:
    import torch  # the target Python's, not ours

    report = {"version": str(torch.__version__), "cuda": getattr(torch.version, "cuda", None)}
    try:
        report["cuda_available"] = bool(torch.cuda.is_available())
        if report["cuda_available"]:  # asking each device surfaces a broken CUDA setup
            report["devices"] = [
                {
                    "name": torch.cuda.get_device_name(i),
                    "capability": list(torch.cuda.get_device_capability(i)),
                }
                for i in range(torch.cuda.device_count())
            ]
    except Exception as exc:  # a CUDA init failure is a finding, not a crash
        report["cuda_error"] = f"{type(exc).__name__}: {exc}"
    sys.stdout.write("\n" + MARKER + json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
