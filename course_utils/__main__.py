"""`python -m course_utils` is the same as the `crlft` console script."""

from course_utils.course.cli import main

raise SystemExit(main())
