"""The command-line layer: one module per ``speechrnn <command>``, each with
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code); ``prepare`` has one module per
corpus with ``add_prepare_arguments(parser)`` and ``run_prepare(args)``. The library below never
imports these modules, and never parses arguments.
"""
