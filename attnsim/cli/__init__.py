"""The ``attnsim`` command line (see :mod:`attnsim.cli.main`)."""
