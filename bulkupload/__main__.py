"""`python -m bulkupload` runs the command line."""

from .cli import main

main()
