"""`python -m rsbench` is the same as the `rsbench` console script."""

from rsbench.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
