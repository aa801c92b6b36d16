"""The ``taskbeacon`` operator CLI: SigV4-signed calls to the query API, rendered for people or scripts."""
