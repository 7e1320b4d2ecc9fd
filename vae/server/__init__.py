"""What a server shared by strangers admits and keeps: each visitor's limits and the bound on heavy work
(``limits``), and the process-wide registry of visitors' trainings and sweeps (``registry``).

Only the app imports this package; the CLI trains what its user asks. Imports ``vae.training`` and below.
"""
