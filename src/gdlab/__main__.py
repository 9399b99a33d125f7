"""``python -m gdlab``: the ``gdlab`` command."""

from gdlab.cli import console

if __name__ == "__main__":
    console()
