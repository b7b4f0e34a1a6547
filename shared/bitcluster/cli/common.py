"""What every command shares: how an error ends a command, the methods' one-line help."""

from __future__ import annotations

import typer


def fail(message: str) -> None:
    """Print ``error: message`` in red on stderr and exit with status 2 (a usage error, not a crash)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def method_help() -> str:
    from bitcluster.training.methods import METHODS

    return "; ".join(f"{name}: {m.help}" for name, m in METHODS.items())
