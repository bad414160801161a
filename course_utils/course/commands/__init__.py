"""The ``crlft`` sub-commands, one thin module each: ``add_parser(subparsers)`` registers the command and sets
``func`` (``run(args) -> exit status``); the logic they call lives in the library modules."""
