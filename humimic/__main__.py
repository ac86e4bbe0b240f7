import sys

from humimic.cli import main

sys.exit(main())
