"""The Typer application: every command registered once, in the order ``--help`` lists them."""

from __future__ import annotations

import typer

from bitcluster.bulk.command import bulk_command
from bitcluster.cli import refit_commands, service_commands, training_commands, watch_commands
from bitcluster.cli.cache_commands import cache_app
from bitcluster.cli.search_commands import search_app

app = typer.Typer(help="Clustering in the compressed domain: train, export, serve.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

for command in (training_commands.train, training_commands.evaluate, training_commands.export,
                training_commands.sweep, training_commands.report, training_commands.teacher,
                service_commands.serve, service_commands.cluster):
    app.command()(command)
app.command(name="bulk")(bulk_command)  # defined beside the bulk engines, which it imports only when it runs
app.command()(service_commands.demo)
app.command()(watch_commands.watch)
app.command()(refit_commands.refit)
app.add_typer(search_app, name="search")
app.add_typer(cache_app, name="cache")
data_app.command("fetch")(training_commands.data_fetch)

if __name__ == "__main__":
    app()
