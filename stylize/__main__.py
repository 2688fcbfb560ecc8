import sys

from stylize.cli import main

sys.exit(main())
