"""The network directory of the European working group: a service of its own, beside the nodes.

It lists national nodes that applied and were approved (their key pinned by fingerprint),
polls each one's signed ``directory_summary`` and ``directory_initiatives`` on a schedule,
keeps the history, and shows the network: node health, totals, the reviewer pool, flows
between countries, positions and their agreement, clearing rounds, and a quick scan of
initiatives that might join forces. Its own database and key live in its own data folder.

Running one (every command takes ``--data-dir``, default ``$SIFNET_DIRECTORY_DATA_DIR`` or
``./directory-data``; settings live in ``<data-dir>/settings.toml`` and ``SIFNET_DIRECTORY_<NAME>``):

    sifnet directory init --directory-id eu-dir --port 5100 --poll-seconds 60
    sifnet directory run                              # pages, API, and the poller thread
    # a node's coordinator: set directory_id = "eu-dir" in the node's settings, then
    sifnet node directory-apply http://127.0.0.1:5100 # prints the node's fingerprint
    # the working group, after reading the fingerprint back with that coordinator:
    sifnet directory approve be-vl --fingerprint XXXX-...
    sifnet directory list-node URL | delist ID | nodes | poll

Run one ``sifnet directory run`` per directory: the poller lives in that process.
"""
