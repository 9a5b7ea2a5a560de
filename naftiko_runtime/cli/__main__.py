"""``python -m naftiko_runtime.cli``: the ``naftiko`` command with this interpreter."""

from naftiko_runtime.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
