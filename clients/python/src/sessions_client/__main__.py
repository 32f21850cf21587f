"""`python -m sessions_client` = `sessions`."""

from sessions_client._cli import main

main()
