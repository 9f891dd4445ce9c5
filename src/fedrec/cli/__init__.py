"""The ``fedrec`` command line (typer): run, recommend, server, client, cluster, data, audit, components."""
