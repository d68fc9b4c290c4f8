"""The daemon: ``trustmesh node run``, its settings and logs."""
