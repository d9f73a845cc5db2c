import sys

from radstream.emulator.server import main

sys.exit(main())
