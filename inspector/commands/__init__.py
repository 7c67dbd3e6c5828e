"""One module per `cryptoscope` subcommand (see :mod:`inspector.cli`)."""
