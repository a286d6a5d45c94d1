"""``python -m conveyor``: the CLI, for when the ``conveyor`` script is not on PATH."""

from conveyor.cli import main

if __name__ == "__main__":
    main()
