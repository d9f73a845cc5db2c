import sys

from radstream.tooling.cli import main

sys.exit(main())
