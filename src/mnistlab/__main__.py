"""``python -m mnistlab``: the same as the ``mnistlab`` command."""

from mnistlab.cli.main import main

raise SystemExit(main())
