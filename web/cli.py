"""Command-line entry points: ``flask --app web <command>``."""

from __future__ import annotations

import click
from flask import Flask

from web.extensions import db
from web.services.demo import DEMO_PASSWORD, database_is_empty, seed_demo_data


@click.command("seed-demo")
@click.option("--force", is_flag=True, help="Seed even when the database already has data.")
def seed_demo(force: bool) -> None:
    """Create the demo organizations, users and deals when the database is empty."""
    if not force and not database_is_empty(db.session):
        click.echo("Database already has data; demo data not added (use --force to add it anyway).")
        return
    counts = seed_demo_data(db.session)
    click.echo(
        "Demo data created: "
        + ", ".join(f"{count} {name}" for name, count in counts.items())
        + f". Every demo password is {DEMO_PASSWORD!r}."
    )


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed_demo)
