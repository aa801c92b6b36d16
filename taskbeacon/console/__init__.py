"""The web console: a loopback-only server signing the API's read routes with the operator's credentials."""
