"""`station-app …` subcommands: thin over the same services as the UI."""
