"""Running ``gdlab`` in the test's own process, for the command-line tests."""

from __future__ import annotations

from collections.abc import Sequence

from gdlab import cli

#: A quick race: two optimizers, three steps, no figures, nothing printed but the ranking.
BOWL = ["race", "bowl", "--steps", "3", "--no-figures", "--quiet", "--optimizers", "sgd,adam"]


def gdlab(argv: Sequence[str], capsys) -> tuple[int, str, str]:
    """``gdlab ARGV`` in this process: ``(exit code, stdout, stderr)``."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
