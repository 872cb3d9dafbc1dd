"""``python -m fakesite``: serve the fake Qutoutiao on loopback (see fakesite.launcher)."""

import sys

from fakesite.launcher import main

sys.exit(main())
