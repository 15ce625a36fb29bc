"""``python -m hf_xmc`` runs the ``hf-xmc`` command line."""

import sys

from hf_xmc.cli.main import main

sys.exit(main())
