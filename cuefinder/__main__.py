import sys

from cuefinder.cli import main

sys.exit(main())
