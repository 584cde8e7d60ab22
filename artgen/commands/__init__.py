"""One module per sub-command group: ``add_parser(subparsers)`` builds its flags, ``run(args)`` calls the library."""
