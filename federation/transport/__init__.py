"""Transport between nodes: identity and keys, signed requests, the inbox, channels, delivery, peers."""
