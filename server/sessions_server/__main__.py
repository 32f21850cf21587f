"""`python -m sessions_server` = `sessions-server`."""

from sessions_server.cli import main

main()
