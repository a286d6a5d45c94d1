"""A module that ends the process importing it (a script's ``sys.exit`` at import): a
name of ``Retry(on=...)`` in it must not end a worker (tests)."""

import sys

sys.exit("retry_on_exits: a module is not to be imported")
