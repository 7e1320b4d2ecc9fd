"""Training and its engines: a loop that yields events (``loop``), what a training records (``record``), a named
run trained end to end and saved after every epoch (``runs``), foreign weights made into a run (``importers``),
and where trainings run: the orders and messages that cross to a worker (``pipe``), what a worker does
(``worker``), the engines (``engine``; ``local_engine``: a process of this machine; ``ray_engine`` over
``ray_cluster``), the dashboard's background jobs (``jobs``) and sweeps (``sweep``).

Imports everything below it (``vae.analysis``, ``vae.runfile``, ``vae.model``, ``vae.data``); never the server
or the CLI.
"""
