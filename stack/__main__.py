import sys

# Before any import that needs 3.11, so an old system python3 gets this line and not a traceback.
if sys.version_info < (3, 11):  # noqa: UP036
    raise SystemExit(f"costwarden needs Python 3.11 or newer; this is {sys.version.split()[0]} ({sys.executable})")

from stack.run import main

raise SystemExit(main())
