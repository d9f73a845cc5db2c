import sys

from radstream.cli import main

sys.exit(main())
