"""``python -m kmeans_xp``: the same as the ``kmeans-xp`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
