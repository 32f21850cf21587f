"""The service put through faults, as real processes on a PostgreSQL of its own.

`python -m faults` (`make faults`) runs six cases, each under load and each
checked by SQL afterwards: a database crash and restart, backends terminated, a
replica SIGKILLed mid-Send, SIGTERM on a frozen database, stalled writes and
commits, cancel races. `python -m faults.soak` (`make soak`) runs two replicas
under a steady mixed load for `SOAK_SECONDS` (default 600) while PostgreSQL
restarts twice, a replica is killed and the model endpoint misbehaves, and
watches their memory, file descriptors and database connections.

Both start everything they touch themselves (a throwaway cluster from the
`pgserver` package's binaries, the fake model endpoint, `sessions-server serve`
processes) and stop it all at the end; never the machine's PostgreSQL.
"""

import warnings

# pgserver asks platformdirs for a runtime folder on import; unset on CI and harmless.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", module="platformdirs")
