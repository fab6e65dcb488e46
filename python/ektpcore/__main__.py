"""``python -m ektpcore``: the same command line as the ``ektpcore`` script."""

from .cli import main

main()
