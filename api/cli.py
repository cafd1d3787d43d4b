"""Operator commands: `flask --app wsgi init|create-user|seed-demo|rebuild-adherence`."""

import sys
import time

import click
from marshmallow import ValidationError

from api import demo
from api.errors import ApiError
from api.schemas.accounts import CliUserSchema
from api.services.identity import accounts


@click.command("create-user")
@click.option("--role", required=True, type=click.Choice(["admin", "provider", "patient"]))
@click.option("--email", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when left out (so it stays out of the shell history and `ps`).",
)
@click.option("--name", required=True)
@click.option("--specialty", default=None, help="Required for providers, e.g. 'primary care'.")
def create_user_command(role, email, password, name, specialty):
    """Create an account and print its id: the first admin comes from here
    (`flask --app wsgi create-user --role admin --email ... --name ...`, password prompted)."""
    data = {"role": role, "email": email, "password": password, "name": name}
    if specialty is not None:
        data["specialty"] = specialty
    try:
        loaded = CliUserSchema().load(data)
        user = accounts.create_user(**loaded)
    except ValidationError as error:
        for field, messages in error.messages.items():
            click.echo(f"error: {field}: {' '.join(map(str, messages))}", err=True)
        sys.exit(2)
    except ApiError as error:
        click.echo(f"error: {error.detail}", err=True)
        sys.exit(1)
    click.echo(str(user.pk))


@click.command("seed-demo")
@click.option(
    "--patients",
    default=demo.FULL_PATIENTS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Adult patients: the eight whose stories the demo tells come first, then others.",
)
def seed_demo_command(patients):
    """Seed the demo clinic once (again changes nothing); print the logins."""
    started = time.perf_counter()
    lines = demo.seed(patients=patients)
    for line in lines:
        click.echo(line)
    click.echo(f"demo data ready in {time.perf_counter() - started:.1f} s")


@click.command("rebuild-adherence")
def rebuild_adherence_command():
    """Rebuild every adherence rollup and summary from the log entries."""
    from api.clock import utcnow
    from api.services.flows import days

    patients, entries = days.rebuild_all(now=utcnow())
    click.echo(f"rebuilt adherence of {patients} patients from {entries} entries")


@click.command("init")
def init_command():
    """Create every index, load the built-in data, apply pending data migrations (idempotent)."""
    from api import migrations
    from api.clock import utcnow

    for line in migrations.init(now=utcnow()):
        click.echo(line)


COMMANDS = [create_user_command, seed_demo_command, rebuild_adherence_command, init_command]
