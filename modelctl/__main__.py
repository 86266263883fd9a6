"""`python -m modelctl` is the same program as the `modelctl` console script."""

from modelctl.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
