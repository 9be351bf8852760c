from kaplit.cli import cli

cli()
