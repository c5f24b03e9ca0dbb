"""``python -m forethought``: the command line."""

from forethought.cli import main

if __name__ == "__main__":
    main()
