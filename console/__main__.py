"""`python -m console` = `usher`."""

from console.cli import main

raise SystemExit(main())
