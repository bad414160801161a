"""`python -m course_utils` is the same as the `crlft` console script."""

from course_utils.cli import main

raise SystemExit(main())
