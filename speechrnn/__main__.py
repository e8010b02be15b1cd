import sys

from speechrnn.cli import main

sys.exit(main())
