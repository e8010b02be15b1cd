import sys

from speechrnn.runtime.cli import main

sys.exit(main())
