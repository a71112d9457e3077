"""``python -m attnsim`` runs the command line."""

import sys

from attnsim.cli.main import main

sys.exit(main())
